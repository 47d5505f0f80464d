/** Time to OOM: each limited busy cgroup's estimate, the memory it is based on, and that memory's growth. */
import { familyList, perRefresh, type Family } from '../../metrics/family.js';
import type { OomEtaTable } from './estimator.js';

/** What the time-to-OOM families read of the state. */
export interface OomEtaView {
  readonly refreshes: number;
  readonly oomEta: OomEtaTable;
}

export function oomEtaFamilies(state: OomEtaView): Family[] {
  const { families, gauge } = familyList();
  // The four families read the same estimates: computed once a scrape (each scrape refreshes the state first).
  const estimates = perRefresh(state, () => [...state.oomEta.estimates()]);
  gauge(
    'faultline_cgroup_oom_eta_seconds',
    ['faultline.cgroup.oom_eta', 's'],
    'Estimated seconds until the memory a cgroup cannot reclaim (usage less its file pages) reaches its limit, at that memory\'s growth over the last 2 s, read 4 times a second; ' +
      '+Inf when it is not growing (under 64 KiB/s), 0 at the limit. Each cgroup with a memory limit and live processes.',
    ['cgroup'],
    function* () {
      for (const [cgroup, eta] of estimates()) yield [[cgroup], eta.seconds];
    },
  );
  gauge(
    'faultline_cgroup_unreclaimable_memory_bytes',
    ['faultline.cgroup.memory.unreclaimable', 'By'],
    'Memory charged to the cgroup that reclaim cannot free: usage less the active and inactive file pages (v2 memory.stat; v1 total_active_file and total_inactive_file), as of the last reading.',
    ['cgroup'],
    function* () {
      for (const [cgroup, eta] of estimates()) yield [[cgroup], eta.unreclaimableBytes];
    },
  );
  gauge(
    'faultline_cgroup_memory_working_set_bytes',
    ['faultline.cgroup.memory.working_set', 'By'],
    'Usage less inactive file pages (the kubelet\'s working set, its eviction signal) of each cgroup with a memory limit and live processes, as of the last reading (4 a second).',
    ['cgroup'],
    function* () {
      for (const [cgroup, eta] of estimates()) if (eta.workingSetBytes !== null) yield [[cgroup], eta.workingSetBytes];
    },
  );
  gauge(
    'faultline_cgroup_unreclaimable_memory_growth_bytes_per_second',
    ['faultline.cgroup.memory.unreclaimable.growth', 'By/s'],
    'Growth of faultline_cgroup_unreclaimable_memory_bytes over the last 2 s (least-squares slope of its readings), the rate faultline_cgroup_oom_eta_seconds extrapolates; negative when it shrinks.',
    ['cgroup'],
    function* () {
      for (const [cgroup, eta] of estimates()) yield [[cgroup], eta.growthBytesPerSecond];
    },
  );
  return families;
}
