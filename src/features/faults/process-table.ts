/**
 * Per-process fault counts over time: which processes to export (the busiest
 * by decayed recent rate), when an exited process's final count has been
 * shown long enough to fold it away, and host totals that never go down.
 * Pure: the caller supplies kernel snapshots and the clock.
 */
import { emptyCounts, type RegionTypeCounts } from '../../bpf/contract.js';
import { type ProcessFaultsRecord } from './decode.js';
import { addCounts, sumCounts } from '../../aggregate/counts.js';
import { FoldedTotals } from '../../aggregate/folded-totals.js';


export interface ProcessTableOptions {
  /** Export at most this many processes. Default 100. */
  maxProcesses?: number;
  /** Keep an exited process this long (ns) so its final count gets scraped. Default 60 s. */
  exitGraceNs?: bigint;
  /** Time constant (ns) of the decayed fault rate that ranks processes. Default 120 s. */
  rateWindowNs?: bigint;
  /** Keep folded counts for at most this many comms and cgroups each; the rest count as "other". Default 1000. */
  maxGroups?: number;
  /** The cgroup key of a record (see CgroupNames.idOf). Default: its memory cgroup id. */
  cgroupKey?: (record: ProcessFaultsRecord) => bigint;
}

/** Fault counts by a group key: exited processes' (bounded) plus live ones'. */
export interface GroupTotals<K> {
  readonly byKey: Map<K, RegionTypeCounts>;
  /** Exited processes whose group was pushed out by the bound. */
  readonly other: RegionTypeCounts;
}

export interface ProcessView {
  readonly pid: number;
  readonly comm: string;
  readonly faults: RegionTypeCounts;
  readonly exited: boolean;
}

interface Tracked {
  record: ProcessFaultsRecord;
  total: bigint;
  score: number;
  lastChangeNs: bigint;
  seenExitNs: bigint;
}

export class ProcessTable {
  readonly maxProcesses: number;
  readonly exitGraceNs: bigint;
  readonly rateWindowNs: bigint;
  private readonly tracked = new Map<number, Tracked>();
  /** Final counts of processes no longer in the kernel map. */
  private readonly folded = emptyCounts();
  private lastUpdateNs: bigint | null = null;
  foldedProcesses = 0;
  readonly foldedByComm: FoldedTotals<string>;
  readonly foldedByCgroup: FoldedTotals<bigint>;
  readonly cgroupKey: (record: ProcessFaultsRecord) => bigint;

  constructor(options: ProcessTableOptions = {}) {
    this.maxProcesses = options.maxProcesses ?? 100;
    this.exitGraceNs = options.exitGraceNs ?? 60_000_000_000n;
    this.rateWindowNs = options.rateWindowNs ?? 120_000_000_000n;
    this.foldedByComm = new FoldedTotals(options.maxGroups ?? 1000);
    this.foldedByCgroup = new FoldedTotals(options.maxGroups ?? 1000);
    this.cgroupKey = options.cgroupKey ?? ((r) => r.memcgId);
    if (!Number.isInteger(this.maxProcesses) || this.maxProcesses < 0) {
      throw new RangeError(`maxProcesses must be a whole number >= 0, got ${options.maxProcesses}`);
    }
  }

  /**
   * Takes a full snapshot of the kernel map at nowNs. Returns the pids whose
   * final counts are now folded into the totals: delete them from the map.
   * `isAlive` tells whether a pid with no exit mark still exists.
   */
  update(snapshot: readonly ProcessFaultsRecord[], nowNs: bigint, isAlive: (pid: number) => boolean): number[] {
    const dt = this.lastUpdateNs === null ? 0 : Number(nowNs - this.lastUpdateNs);
    const decay = Math.exp(-dt / Number(this.rateWindowNs));
    this.lastUpdateNs = nowNs;
    const present = new Set<number>();
    for (const record of snapshot) {
      present.add(record.pid);
      const total = sumCounts(record.faults);
      const prev = this.tracked.get(record.pid);
      if (!prev) {
        this.tracked.set(record.pid, { record, total, score: Number(total), lastChangeNs: nowNs, seenExitNs: 0n });
        continue;
      }
      const delta = total >= prev.total ? total - prev.total : total;
      prev.score = prev.score * decay + Number(delta);
      if (delta > 0n) prev.lastChangeNs = nowNs;
      prev.record = record;
      prev.total = total;
    }
    const forget: number[] = [];
    for (const [pid, t] of this.tracked) {
      if (!present.has(pid)) {
        // Deleted behind our back (another reader): its last count is final.
        this.fold(pid, t);
        continue;
      }
      if (t.record.exitNs === 0n && t.seenExitNs === 0n && nowNs - t.lastChangeNs >= this.exitGraceNs && !isAlive(pid)) {
        t.seenExitNs = nowNs; // gone without an exit mark, e.g. faulted again after its exit was seen
      }
      const exitedAt = t.record.exitNs > 0n ? t.record.exitNs : t.seenExitNs;
      if (exitedAt > 0n && nowNs - exitedAt >= this.exitGraceNs) {
        this.fold(pid, t);
        forget.push(pid);
      }
    }
    return forget;
  }

  private fold(pid: number, t: Tracked): void {
    addCounts(this.folded, t.record.faults);
    this.foldedByComm.add(t.record.comm, t.record.faults);
    this.foldedByCgroup.add(this.cgroupKey(t.record), t.record.faults);
    this.tracked.delete(pid);
    this.foldedProcesses++;
  }

  /** Every fault counted so far: folded processes plus those still in the map. */
  totals(): RegionTypeCounts {
    const totals = emptyCounts();
    addCounts(totals, this.folded);
    for (const t of this.tracked.values()) addCounts(totals, t.record.faults);
    return totals;
  }

  private groupTotals<K>(folded: FoldedTotals<K>, keyOf: (r: ProcessFaultsRecord) => K): GroupTotals<K> {
    const byKey = new Map<K, RegionTypeCounts>();
    for (const [key, counts] of folded.entries()) byKey.set(key, counts.map((row) => [...row]));
    for (const t of this.tracked.values()) {
      const key = keyOf(t.record);
      let counts = byKey.get(key);
      if (!counts) byKey.set(key, (counts = emptyCounts()));
      addCounts(counts, t.record.faults);
    }
    return { byKey, other: folded.other };
  }

  /** Every fault by comm; with `other`, the same sum as totals(). */
  byComm(): GroupTotals<string> {
    return this.groupTotals(this.foldedByComm, (r) => r.comm);
  }

  /** Every fault by cgroup key; with `other`, the same sum as totals(). */
  byCgroup(): GroupTotals<bigint> {
    return this.groupTotals(this.foldedByCgroup, this.cgroupKey);
  }

  /** The cgroup keys of processes alive now (bounded by the kernel maps). */
  liveCgroupKeys(): Set<bigint> {
    const keys = new Set<bigint>();
    for (const t of this.tracked.values()) {
      if (t.record.exitNs === 0n && t.seenExitNs === 0n) keys.add(this.cgroupKey(t.record));
    }
    return keys;
  }

  /** One tracked process, busiest or not (the web page's process view), or null. */
  view(pid: number): ProcessView | null {
    const t = this.tracked.get(pid);
    return t ? { pid, comm: t.record.comm, faults: t.record.faults, exited: t.record.exitNs > 0n || t.seenExitNs > 0n } : null;
  }

  /** The cgroup key of a tracked process (cgroupKey of its kernel record), or null. */
  cgroupKeyOf(pid: number): bigint | null {
    const t = this.tracked.get(pid);
    return t ? this.cgroupKey(t.record) : null;
  }

  /** The cgroup ids of a tracked process (from its kernel record), or null. */
  cgroupIdsOf(pid: number): { cgroupId: bigint; memcgId: bigint } | null {
    return this.tracked.get(pid)?.record ?? null;
  }

  get size(): number {
    return this.tracked.size;
  }

  /** The busiest maxProcesses processes, by decayed recent fault rate, then total. */
  busiest(): ProcessView[] {
    const all = [...this.tracked.values()];
    all.sort((a, b) => b.score - a.score || (b.total > a.total ? 1 : b.total < a.total ? -1 : 0) || a.record.pid - b.record.pid);
    return all.slice(0, this.maxProcesses).map((t) => ({
      pid: t.record.pid,
      comm: t.record.comm,
      faults: t.record.faults,
      exited: t.record.exitNs > 0n || t.seenExitNs > 0n,
    }));
  }
}
