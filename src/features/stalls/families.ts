/** Memory stalls: reclaim and compaction latency histograms by cgroup, and the pages reclaim freed. */
import { OTHER } from '../../aggregate/folded-totals.js';
import type { CgroupMemoryRow } from '../../readers/memory-headroom.js';
import { cumulativeBelow, emptyHistogram, type StallHistogram, type StallTable } from './stall-table.js';
import { STALL_KINDS, type StallKind } from '../../bpf/contract.js';
import type { Family, HistogramPoint } from '../../metrics/family.js';
import { familyList, perRefresh, type Otel } from '../../metrics/family.js';

/**
 * Exported bucket bounds, 2^bits ns: every other kernel log2 bucket, 1.024 µs
 * to 17.2 s. Powers of two, so each count is exact, not interpolated.
 */
export const STALL_BUCKET_BITS = Array.from({ length: 13 }, (_, i) => 10 + 2 * i);
const BOUNDS_SECONDS = STALL_BUCKET_BITS.map((bits) => 2 ** bits / 1e9);

const HISTOGRAMS: readonly [StallKind, string, Otel, string][] = [
  [
    'direct_reclaim',
    'faultline_direct_reclaim_duration_seconds',
    ['faultline.direct_reclaim.duration', 's'],
    'Time tasks spent in direct reclaim (vmscan:mm_vmscan_direct_reclaim_begin to _end): an allocation finding the host short of free memory, by the stalled task\'s memory cgroup.',
  ],
  [
    'memcg_reclaim',
    'faultline_memcg_reclaim_duration_seconds',
    ['faultline.memcg_reclaim.duration', 's'],
    'Time tasks spent reclaiming for a cgroup limit (vmscan:mm_vmscan_memcg_reclaim_begin to _end): a charge over memory.max/memory.high or the v1 limit, by the stalled task\'s memory cgroup; every live cgroup with a limit is shown, at zero until it reclaims.',
  ],
  [
    'compaction',
    'faultline_compaction_stall_duration_seconds',
    ['faultline.compaction_stall.duration', 's'],
    'Time tasks (not kcompactd) spent compacting memory, one compact_zone() run per observation (compaction:mm_compaction_begin to _end), by the stalled task\'s memory cgroup.',
  ],
];

/** What the stall families read of the state. */
export interface StallsView {
  readonly refreshes: number;
  readonly stalls: StallTable;
  cgroupLabel(id: bigint): string;
  /** The memory files of busy cgroups: each one with a limit shows its memcg reclaim histogram, at zero until it reclaims. */
  cgroupMemory(): readonly CgroupMemoryRow[];
}

export function stallFamilies(state: StallsView): Family[] {
  const { families, counter, histogram } = familyList();
  /**
   * The histograms to show, by kind and cgroup label: every cgroup that
   * stalled and, for memcg reclaim, every live cgroup with a limit at zero,
   * so that its first reclaims (often seconds before an OOM kill) are an
   * increase Prometheus's rate() sees, not the first sample of a new series.
   * Once per scrape: the histogram families and the reclaimed pages read it.
   */
  const shownByKind = perRefresh(state, () => {
    const byKind = new Map<StallKind, Map<string, StallHistogram>>();
    for (const kind of STALL_KINDS) {
      const out = new Map<string, StallHistogram>();
      for (const [key, h] of state.stalls.byCgroup(kind)) {
        if (h.count > 0n) out.set(key === null ? OTHER : state.cgroupLabel(key), h);
      }
      if (kind === 'memcg_reclaim') {
        for (const { cgroup, memory } of state.cgroupMemory()) {
          if (memory.limitBytes !== null && !out.has(cgroup)) out.set(cgroup, emptyHistogram());
        }
      }
      byKind.set(kind, out);
    }
    return byKind;
  });
  const shown = (kind: StallKind): Map<string, StallHistogram> => shownByKind().get(kind)!;

  for (const [kind, name, otel, help] of HISTOGRAMS) {
    histogram(name, otel, `${help} Cgroup "${OTHER}" holds cgroups beyond faultline's bounds.`, ['cgroup'], function* (): Generator<HistogramPoint> {
      for (const [cgroup, h] of shown(kind)) {
        const cumulative = cumulativeBelow(h.slots, STALL_BUCKET_BITS).map(Number);
        yield { labels: [cgroup], bounds: BOUNDS_SECONDS, cumulative, count: Number(h.count), sum: Number(h.sumNs) / 1e9 };
      }
    });
  }

  counter(
    'faultline_reclaimed_pages_total',
    ['faultline.reclaimed_pages', '{page}'],
    'Pages freed by direct and memcg reclaim (nr_reclaimed of the _end tracepoints), by the memory cgroup of the task that reclaimed and the kind of reclaim (direct, memcg).',
    ['cgroup', 'reclaim'],
    function* () {
      for (const [kind, reclaim] of [['direct_reclaim', 'direct'], ['memcg_reclaim', 'memcg']] as const) {
        for (const [cgroup, h] of shown(kind)) yield [[cgroup, reclaim], Number(h.reclaimedPages)];
      }
    },
  );
  return families;
}
