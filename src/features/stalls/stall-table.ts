/**
 * Memory stalls (reclaim, compaction) by cgroup and kind, from the kernel's
 * log2 histograms. A removed cgroup's final histograms are folded (kept by
 * cgroup, bounded by maxGroups, the rest in `other`) and its kernel entries
 * deleted, so the kernel map only holds cgroups that exist. Pure: the caller
 * supplies snapshots, the clock and what is gone.
 */
import { STALL_KINDS, STALL_SLOTS, type StallKind } from '../../bpf/contract.js';
import { type StallRecord } from './decode.js';
import type { CgroupIds } from '../../readers/cgroups.js';
import { FoldedTotals, type Summable } from '../../aggregate/folded-totals.js';

export interface StallHistogram {
  /** STALL_SLOTS log2 buckets of nanoseconds. */
  readonly slots: bigint[];
  count: bigint;
  sumNs: bigint;
  reclaimedPages: bigint;
}

/** One histogram per kind, indexed as STALL_KINDS. */
export type StallHistograms = StallHistogram[];

export function emptyHistogram(): StallHistogram {
  return { slots: new Array<bigint>(STALL_SLOTS).fill(0n), count: 0n, sumNs: 0n, reclaimedPages: 0n };
}

export function addHistogram(
  into: StallHistogram,
  from: { readonly slots: readonly bigint[]; readonly count: bigint; readonly sumNs: bigint; readonly reclaimedPages: bigint },
): void {
  for (let i = 0; i < STALL_SLOTS; i++) into.slots[i]! += from.slots[i] ?? 0n;
  into.count += from.count;
  into.sumNs += from.sumNs;
  into.reclaimedPages += from.reclaimedPages;
}

const HISTOGRAMS_BY_KIND: Summable<StallHistograms> = {
  empty: () => STALL_KINDS.map(emptyHistogram),
  add: (into, from) => into.forEach((h, k) => addHistogram(h, from[k]!)),
};

/**
 * Cumulative counts at `le` = 2^bits ns: every stall in slots below `bits`
 * (slot i holds [2^i, 2^(i+1)) ns, so all of them are under 2^bits ns).
 */
export function cumulativeBelow(slots: readonly bigint[], bitsList: readonly number[]): bigint[] {
  const out: bigint[] = [];
  let running = 0n;
  let slot = 0;
  for (const bits of bitsList) {
    for (; slot < bits && slot < slots.length; slot++) running += slots[slot]!;
    out.push(running);
  }
  return out;
}

/** The all-zero key: stalls of cgroups beyond the kernel map's bound. */
const isOverflow = (r: StallRecord): boolean => r.cgroupId === 0n && r.memcgId === 0n;

export interface StallTableOptions {
  /** Keep the folded histograms of at most this many removed cgroups; the rest count as "other". Default 1000. */
  maxGroups?: number;
  /** The cgroup key of a record (see CgroupNames.idOf). Default: its memory cgroup id. */
  cgroupKey?: (ids: CgroupIds) => bigint;
  /** Look for removed cgroups at most this often (ns; each look stats every cgroup). Default 10 s. */
  goneCheckNs?: bigint;
}

export class StallTable {
  readonly folded: FoldedTotals<bigint, StallHistograms>;
  private readonly cgroupKey: (ids: CgroupIds) => bigint;
  private readonly goneCheckNs: bigint;
  private lastGoneCheck: bigint | null = null;
  private live: StallRecord[] = [];

  constructor(options: StallTableOptions = {}) {
    this.folded = new FoldedTotals(options.maxGroups ?? 1000, HISTOGRAMS_BY_KIND);
    this.cgroupKey = options.cgroupKey ?? ((ids) => ids.memcgId);
    this.goneCheckNs = options.goneCheckNs ?? 10_000_000_000n;
  }

  /**
   * Takes a full snapshot of the kernel map at nowNs. Returns the records of
   * removed cgroups, now folded: delete them from the map. The all-zero key
   * (cgroups beyond the map) is never removed.
   */
  update(snapshot: readonly StallRecord[], nowNs: bigint, isGone: (ids: CgroupIds) => boolean): StallRecord[] {
    const check = this.lastGoneCheck === null || nowNs - this.lastGoneCheck >= this.goneCheckNs;
    if (check) this.lastGoneCheck = nowNs;
    const forget: StallRecord[] = [];
    this.live = [];
    for (const record of snapshot) {
      if (check && !isOverflow(record) && isGone(record)) {
        const value = HISTOGRAMS_BY_KIND.empty();
        addHistogram(value[STALL_KINDS.indexOf(record.kind)]!, record);
        this.folded.add(this.cgroupKey(record), value);
        forget.push(record);
      } else {
        this.live.push(record);
      }
    }
    return forget;
  }

  /**
   * Every stall of one kind by cgroup key (live and folded); key null holds
   * cgroups beyond the kernel map or pushed out of the folded bound.
   */
  byCgroup(kind: StallKind): Map<bigint | null, StallHistogram> {
    const k = STALL_KINDS.indexOf(kind);
    const out = new Map<bigint | null, StallHistogram>();
    const into = (key: bigint | null): StallHistogram => {
      let h = out.get(key);
      if (!h) out.set(key, (h = emptyHistogram()));
      return h;
    };
    for (const [key, histograms] of this.folded.entries()) addHistogram(into(key), histograms[k]!);
    for (const r of this.live) {
      if (r.kind !== kind) continue;
      addHistogram(into(isOverflow(r) ? null : this.cgroupKey(r)), r);
    }
    if (this.folded.evicted > 0) addHistogram(into(null), this.folded.other[k]!);
    return out;
  }
}

/** Time in direct and memcg reclaim by cgroup (as `name` labels it), seconds, from the stalls map's records; the catch-all entry and unnamed cgroups are left out. */
export function reclaimStallSeconds(records: Iterable<StallRecord>, name: (ids: CgroupIds) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records) {
    if (r.kind === 'compaction' || (r.cgroupId === 0n && r.memcgId === 0n)) continue;
    const cgroup = name(r);
    if (cgroup) out.set(cgroup, (out.get(cgroup) ?? 0) + Number(r.sumNs) / 1e9);
  }
  return out;
}
