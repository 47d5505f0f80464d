/**
 * Memory headroom: each busy cgroup's usage, limit, limit events and
 * pressure, and the host's pressure, read from cgroupfs and /proc once per
 * scrape (src/readers/memory-headroom.ts). No kernel program.
 */
import type { Feature } from '../../core/feature.js';
import { readHostPressure } from '../../readers/memory-headroom.js';
import { headroomFamilies, type HeadroomView } from './families.js';

export const headroom: Feature<HeadroomView> = {
  name: 'headroom',
  collector: 'headroom',
  families: headroomFamilies,
  checks: [
    {
      label: 'headroom',
      required: false,
      run: () => {
        if (!readHostPressure()) {
          throw new Error(
            '/proc/pressure/memory is not readable (a kernel without CONFIG_PSI, or with PSI off: add psi=1 to the kernel command line): ' +
              'faultline_memory_pressure_* and faultline_cgroup_memory_pressure_ratio are absent; usage, limits and events are read still',
          );
        }
        return 'memory pressure from /proc/pressure/memory; cgroup usage, limits and events from the memory controller files';
      },
    },
  ],
};
