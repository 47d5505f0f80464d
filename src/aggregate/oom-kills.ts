/** OOM kills: a count per victim comm, and the details of the latest victims. */
import type { OomKillEvent } from '../bpf/contract.js';

export interface OomKillsOptions {
  /** How many recent victims to keep with their details. Default 10. */
  recentVictims?: number;
  /** At most this many distinct label sets; the rest count under comm "[other]". Default 1000. */
  maxComms?: number;
}

export const OTHER = '[other]';

/** The labels an OOM kill is counted under. */
export interface OomKillLabels {
  readonly comm: string;
  readonly cgroup: string;
  readonly container_id: string;
  readonly pod_uid: string;
}

export class OomKills {
  private readonly byLabels = new Map<string, { labels: OomKillLabels; count: number }>();
  private readonly latest: OomKillEvent[] = [];
  private readonly recentVictims: number;
  private readonly maxComms: number;
  total = 0;

  constructor(options: OomKillsOptions = {}) {
    this.recentVictims = options.recentVictims ?? 10;
    this.maxComms = options.maxComms ?? 1000;
  }

  /** Counts a kill under labels resolved now, while its cgroup still exists. */
  record(kill: OomKillEvent, labels: OomKillLabels = { comm: kill.comm, cgroup: '', container_id: '', pod_uid: '' }): void {
    this.total++;
    let key = JSON.stringify(labels);
    if (!this.byLabels.has(key) && this.byLabels.size >= this.maxComms) {
      labels = { comm: OTHER, cgroup: OTHER, container_id: '', pod_uid: '' };
      key = JSON.stringify(labels);
    }
    const entry = this.byLabels.get(key) ?? { labels, count: 0 };
    entry.count++;
    this.byLabels.set(key, entry);
    this.latest.push(kill);
    if (this.latest.length > this.recentVictims) this.latest.shift();
  }

  counts(): Iterable<{ labels: OomKillLabels; count: number }> {
    return this.byLabels.values();
  }

  /** The latest victims, oldest first. */
  recent(): readonly OomKillEvent[] {
    return this.latest;
  }
}
