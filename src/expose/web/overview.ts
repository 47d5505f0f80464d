/**
 * The overview page's data, read from the same families /metrics renders, so
 * that every figure on the page is a number /metrics shows (rates: the change
 * of those counters between two readings, over the time between them). Pure:
 * families and the previous reading in, a JSON-ready object out.
 */
import { labelObject, type Family, type HistogramPoint, type LabelValue } from '../../metrics/family.js';

type LabelMap = Record<string, LabelValue>;

export interface SeriesValue {
  readonly labels: LabelMap;
  readonly value: number;
}

/** A scalar family's samples, labels as objects; [] when the family is off or absent. */
export function samplesOf(families: readonly Family[], name: string): SeriesValue[] {
  const f = families.find((x) => x.name === name);
  if (!f || f.type === 'histogram') return [];
  const out: SeriesValue[] = [];
  for (const [labels, value] of f.samples()) out.push({ labels: labelObject(f.labelNames, labels), value });
  return out;
}

function pointsOf(families: readonly Family[], name: string): { labels: LabelMap; point: HistogramPoint }[] {
  const f = families.find((x) => x.name === name);
  if (!f || f.type !== 'histogram') return [];
  return [...f.points()].map((point) => ({ labels: labelObject(f.labelNames, point.labels), point }));
}

/** The q quantile of a cumulative histogram, interpolated in its bucket as Prometheus's histogram_quantile does; null when empty. */
export function quantile(q: number, point: Pick<HistogramPoint, 'bounds' | 'cumulative' | 'count'>): number | null {
  if (point.count <= 0) return null;
  const rank = q * point.count;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < point.bounds.length; i++) {
    const upper = point.bounds[i]!;
    const at = point.cumulative[i]!;
    if (at >= rank) return at === below ? upper : lower + ((upper - lower) * (rank - below)) / (at - below);
    lower = upper;
    below = at;
  }
  return point.bounds.at(-1) ?? null; // in the +Inf bucket: the highest finite bound, as histogram_quantile says
}

const s = (v: LabelValue | undefined): string => (v === undefined ? '' : String(v));

/** Counters by a key, for rates between two readings. */
export interface Reading {
  readonly seconds: number;
  readonly counters: ReadonlyMap<string, number>;
}

export interface Overview {
  readonly time: number;
  /** Seconds between this reading and the one the rates are from; 0 on the first. */
  readonly interval: number;
  /** Host page faults by type and region: the total (faultline_page_faults_total) and the rate. */
  readonly host: { type: string; region: string; total: number; perSecond: number }[];
  readonly processes: { pid: number; comm: string; cgroup: string; pod: string; namespace: string; total: number; perSecond: number }[];
  readonly cgroups: { cgroup: string; pod: string; namespace: string; container: string; total: number; perSecond: number }[];
  readonly oomKills: {
    time: number;
    pid: number;
    comm: string;
    uid: string;
    oomScoreAdj: number;
    triggerPid: number;
    triggerComm: string;
    constraint: string;
    cgroup: string;
    pod: string;
    namespace: string;
    container: string;
    memoryBytes: Record<string, number>;
  }[];
  readonly headroom: { cgroup: string; pod: string; usageBytes: number; limitBytes: number; reclaimP99Seconds: number | null; oomEtaSeconds: number | null }[];
  readonly health: {
    version: string;
    programsAttached: number;
    lostRecords: Record<string, number>;
    bpfCpu: number | null;
    bpfCpuBudget: number | null;
    processesTracked: number;
    lastScrapeSeconds: number | null;
  };
}

/** Rows of the busiest cgroups (the processes are every one /metrics exports, --processes.max; the page shows 15, or a cgroup's). */
export const TOP = 15;

/**
 * The overview now, and the reading the next one takes its rates from. `cgroupOf` names a process's cgroup (the
 * per-process series carry none); `nowSeconds` is a monotonic clock, `unixSeconds` the wall clock.
 */
export function buildOverview(
  families: readonly Family[],
  previous: Reading | null,
  nowSeconds: number,
  unixSeconds: number,
  cgroupOf: (pid: number) => string,
): { overview: Overview; reading: Reading } {
  const counters = new Map<string, number>();
  const interval = previous ? nowSeconds - previous.seconds : 0;
  const rate = (key: string, total: number): number => {
    counters.set(key, total);
    const before = previous?.counters.get(key);
    return interval > 0 && before !== undefined ? Math.max(0, total - before) / interval : 0;
  };

  const host = samplesOf(families, 'faultline_page_faults_total').map(({ labels, value }) => ({
    type: s(labels.type),
    region: s(labels.region),
    total: value,
    perSecond: rate(`host/${s(labels.type)}/${s(labels.region)}`, value),
  }));

  const info = new Map<string, LabelMap>();
  for (const { labels } of samplesOf(families, 'faultline_cgroup_info')) info.set(s(labels.cgroup), labels);

  const byPid = new Map<number, { comm: string; total: number }>();
  for (const { labels, value } of samplesOf(families, 'faultline_process_page_faults_total')) {
    const pid = Number(labels.pid);
    const p = byPid.get(pid) ?? { comm: s(labels.comm), total: 0 };
    p.total += value;
    byPid.set(pid, p);
  }
  const processes = [...byPid].map(([pid, p]) => {
    const cgroup = cgroupOf(pid);
    const names = info.get(cgroup);
    return { pid, comm: p.comm, cgroup, pod: s(names?.pod), namespace: s(names?.namespace), total: p.total, perSecond: rate(`pid/${pid}/${p.comm}`, p.total) };
  });

  const byCgroup = new Map<string, number>();
  for (const { labels, value } of samplesOf(families, 'faultline_cgroup_page_faults_total')) byCgroup.set(s(labels.cgroup), (byCgroup.get(s(labels.cgroup)) ?? 0) + value);
  const cgroups = [...byCgroup].map(([cgroup, total]) => {
    const names = info.get(cgroup);
    return { cgroup, pod: s(names?.pod), namespace: s(names?.namespace), container: s(names?.container), total, perSecond: rate(`cgroup/${cgroup}`, total) };
  });

  const victimMemory = new Map<string, Record<string, number>>();
  for (const { labels, value } of samplesOf(families, 'faultline_oom_victim_memory_bytes')) {
    const key = s(labels.pid);
    victimMemory.set(key, { ...victimMemory.get(key), [s(labels.memory)]: value });
  }
  const oomKills = samplesOf(families, 'faultline_oom_victim_info')
    .map(({ labels, value }) => ({
      time: value,
      pid: Number(labels.pid),
      comm: s(labels.comm),
      uid: s(labels.uid),
      oomScoreAdj: Number(labels.oom_score_adj),
      triggerPid: Number(labels.trigger_pid),
      triggerComm: s(labels.trigger_comm),
      constraint: s(labels.constraint),
      cgroup: s(labels.cgroup),
      pod: s(labels.pod),
      namespace: s(labels.namespace),
      container: s(labels.container),
      memoryBytes: victimMemory.get(s(labels.pid)) ?? {},
    }))
    .sort((a, b) => b.time - a.time);

  const byCgroupValue = (name: string): Map<string, number> => new Map(samplesOf(families, name).map(({ labels, value }) => [s(labels.cgroup), value]));
  const usage = byCgroupValue('faultline_cgroup_memory_usage_bytes');
  const eta = byCgroupValue('faultline_cgroup_oom_eta_seconds');
  const reclaim = new Map(pointsOf(families, 'faultline_memcg_reclaim_duration_seconds').map(({ labels, point }) => [s(labels.cgroup), quantile(0.99, point)]));
  const headroom = samplesOf(families, 'faultline_cgroup_memory_limit_bytes')
    .map(({ labels, value }) => {
      const cgroup = s(labels.cgroup);
      return { cgroup, pod: s(info.get(cgroup)?.pod), usageBytes: usage.get(cgroup) ?? 0, limitBytes: value, reclaimP99Seconds: reclaim.get(cgroup) ?? null, oomEtaSeconds: eta.get(cgroup) ?? null };
    })
    .sort((a, b) => b.usageBytes / b.limitBytes - a.usageBytes / a.limitBytes);

  const lostRecords: Record<string, number> = {};
  for (const { labels, value } of samplesOf(families, 'faultline_ringbuf_lost_records_total')) lostRecords[s(labels.ringbuf)] = value;
  const one = (name: string): number | null => samplesOf(families, name)[0]?.value ?? null;
  const health = {
    version: s(samplesOf(families, 'faultline_build_info')[0]?.labels.version),
    programsAttached: samplesOf(families, 'faultline_bpf_programs_attached').length,
    lostRecords,
    bpfCpu: one('faultline_bpf_cpu_usage'),
    bpfCpuBudget: one('faultline_bpf_cpu_budget'),
    processesTracked: one('faultline_processes_tracked') ?? 0,
    lastScrapeSeconds: one('faultline_scrape_duration_seconds'),
  };

  const busiest = <T extends { perSecond: number; total: number }>(rows: T[], n: number): T[] => rows.sort((a, b) => b.perSecond - a.perSecond || b.total - a.total).slice(0, n);
  return {
    overview: { time: unixSeconds, interval, host, processes: busiest(processes, processes.length), cgroups: busiest(cgroups, TOP), oomKills, headroom, health },
    reading: { seconds: nowSeconds, counters },
  };
}
