/** OOM kills: a count per victim comm, and the details of the latest victims. */
import { OTHER } from '../../aggregate/folded-totals.js';
import type { OomKillEvent } from './decode.js';

export interface OomKillsOptions {
  /** How many recent victims to keep with their details. Default 10. */
  recentVictims?: number;
  /** At most this many distinct label sets; the rest count under comm "[other]". Default 1000. */
  maxComms?: number;
}

/** The labels an OOM kill is counted under. */
export interface OomKillLabels {
  readonly comm: string;
  readonly cgroup: string;
  readonly container_id: string;
  readonly pod_uid: string;
  /** memcg, global, cpuset, memory_policy, or unknown (no kernel log to read). */
  readonly constraint: string;
}

/** Upper bounds of faultline_oom_victim_rss_bytes: 1 MiB to 64 GiB by 4x. */
export const RSS_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536].map((mib) => mib * 2 ** 20);

export interface RecentKill {
  readonly kill: OomKillEvent;
  readonly labels: OomKillLabels;
  /** Pod, namespace and container names from the Kubernetes API, when enabled and known. */
  readonly names: { pod: string; namespace: string; container: string };
}

const NO_NAMES = { pod: '', namespace: '', container: '' };

export class OomKills {
  private readonly byLabels = new Map<string, { labels: OomKillLabels; count: number }>();
  private readonly latest: RecentKill[] = [];
  /** Victim RSS (anon + file + shmem) histogram: cumulative counts per RSS_BUCKETS bound, then +Inf. */
  readonly rssBuckets: number[] = new Array<number>(RSS_BUCKETS.length + 1).fill(0);
  rssSum = 0;
  private readonly recentVictims: number;
  private readonly maxComms: number;
  total = 0;

  constructor(options: OomKillsOptions = {}) {
    this.recentVictims = options.recentVictims ?? 10;
    this.maxComms = options.maxComms ?? 1000;
  }

  /** Counts a kill under labels resolved now, while its cgroup still exists; returns it as recent() lists it. */
  record(
    kill: OomKillEvent,
    labels: OomKillLabels = { comm: kill.comm, cgroup: '', container_id: '', pod_uid: '', constraint: 'unknown' },
    names: RecentKill['names'] = NO_NAMES,
  ): RecentKill {
    this.total++;
    const rss = Number(kill.anonRssBytes + kill.fileRssBytes + kill.shmemRssBytes);
    this.rssSum += rss;
    for (let i = 0; i <= RSS_BUCKETS.length; i++) if (i === RSS_BUCKETS.length || rss <= RSS_BUCKETS[i]!) this.rssBuckets[i]!++;
    const recorded: RecentKill = { kill, labels, names };
    this.latest.push(recorded);
    if (this.latest.length > this.recentVictims) this.latest.shift();
    let key = JSON.stringify(labels);
    if (!this.byLabels.has(key) && this.byLabels.size >= this.maxComms) {
      labels = { comm: OTHER, cgroup: OTHER, container_id: '', pod_uid: '', constraint: labels.constraint };
      key = JSON.stringify(labels);
    }
    const entry = this.byLabels.get(key) ?? { labels, count: 0 };
    entry.count++;
    this.byLabels.set(key, entry);
    return recorded;
  }

  counts(): Iterable<{ labels: OomKillLabels; count: number }> {
    return this.byLabels.values();
  }

  /** The latest victims with the labels they were counted under, oldest first. */
  recent(): readonly RecentKill[] {
    return this.latest;
  }
}
