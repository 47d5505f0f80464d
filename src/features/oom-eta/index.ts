/**
 * Time to OOM: each busy cgroup with a memory limit read 4 times a second
 * (sampler.ts, src/readers/memory-headroom.ts), its unreclaimable memory's
 * growth extrapolated to the limit (estimator.ts). No kernel program.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Feature } from '../../core/feature.js';
import { CgroupNames } from '../../readers/cgroups.js';
import { oomEtaFamilies, type OomEtaView } from './families.js';

export const oomEta: Feature<OomEtaView> = {
  name: 'oom-eta',
  collector: 'oom-eta',
  families: oomEtaFamilies,
  checks: [
    {
      label: 'oom eta',
      required: false,
      run: () => {
        const names = new CgroupNames();
        const root = names.root;
        if (!root) throw new Error('no cgroup v1 memory or v2 hierarchy mounted: no time to OOM');
        const v2Memory = names.memoryOnV1 || readFileSync(join(root, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory');
        if (!v2Memory) throw new Error(`the memory controller is not enabled at ${root} (cgroup.controllers): no time to OOM`);
        return `memory files under ${root}: time to OOM for each busy cgroup with a limit, read 4 times a second`;
      },
    },
  ],
};
