/**
 * Memory stalls: direct reclaim, memcg reclaim and compaction latency by
 * cgroup (bpf/stalls.bpf.c), read from the stalls map (reader.ts), kept per
 * cgroup (stall-table.ts).
 */
import type { Feature } from '../../core/feature.js';
import { STALL_TRACEPOINTS } from '../../bpf/probe.js';
import { stallFamilies, type StallsView } from './families.js';

export const stalls: Feature<StallsView> = {
  name: 'stalls',
  collector: 'stalls',
  families: stallFamilies,
  checks: [
    {
      label: 'stalls',
      required: false,
      run: (ctx) => {
        const attached = ctx.attached();
        const missing = Object.values(STALL_TRACEPOINTS)
          .map(([category, event]) => [`${category}:${event}`, event] as const)
          .filter(([, event]) => !attached.includes(`tp_btf/${event}`))
          .map(([name]) => name);
        if (missing.length > 0) {
          throw new Error(
            `${missing.join(', ')} not attached (the tracepoint is missing on this kernel: compaction needs CONFIG_COMPACTION): those stall histograms stay empty`,
          );
        }
        return 'direct reclaim, memcg reclaim and compaction stalls by cgroup (vmscan and compaction tracepoints)';
      },
    },
  ],
};
