/**
 * Page faults: every fault counted by process, region and type (bpf/counts.bpf.c,
 * bpf/regions.bpf.c, bpf/faults.bpf.c), read from the counting maps and the
 * task iterator (reader.ts), kept per process (process-table.ts).
 */
import type { Feature } from '../../core/feature.js';
import { describeThp, readThpMode } from '../../readers/thp.js';
import { faultFamilies, type FaultsView } from './families.js';

export const faults: Feature<FaultsView> = {
  name: 'faults',
  collector: null,
  families: faultFamilies,
  checks: [
    {
      label: 'perf events',
      required: true,
      run: (ctx) => ctx.attached().filter((p) => p.startsWith('perf_event')).join(', '),
    },
    {
      // Not a fault of faultline's: a fact about the counts a user will see (warn where they are not 4 KiB faults).
      label: 'huge pages',
      required: false,
      run: () => {
        const thp = readThpMode();
        if (thp === 'always') throw new Error(describeThp(thp));
        return describeThp(thp);
      },
    },
  ],
};
