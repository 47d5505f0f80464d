/** Memory headroom, read through the state once per scrape: each busy cgroup's usage, limit, limit events and pressure; the host's PSI. */
import type { CgroupMemoryRow, Psi } from '../../readers/memory-headroom.js';
import type { Family, Sample } from '../../metrics/family.js';
import { familyList } from '../../metrics/family.js';

/** What the headroom families read of the state: the files, read once per refresh. */
export interface HeadroomView {
  cgroupMemory(): readonly CgroupMemoryRow[];
  hostPressure(): Psi | null;
}

export function headroomFamilies(state: HeadroomView): Family[] {
  const { families, counter, gauge } = familyList();
  const cgroups = () => state.cgroupMemory();
  const hostPressure = () => state.hostPressure();
  const psiSamples = function* (psi: Psi | null, labels: Record<string, string>): Generator<Sample> {
    if (!psi) return;
    for (const [kind, line] of [['some', psi.some], ['full', psi.full]] as const) {
      if (!line) continue;
      yield [{ ...labels, kind, window: '10s' }, line.avg10];
      yield [{ ...labels, kind, window: '60s' }, line.avg60];
      yield [{ ...labels, kind, window: '300s' }, line.avg300];
    }
  };

  gauge('faultline_cgroup_memory_usage_bytes', ['faultline.cgroup.memory.usage', 'By'], 'Memory charged to each cgroup with live processes (v2 memory.current, v1 memory.usage_in_bytes).', ['cgroup'], function* () {
    for (const { cgroup, memory } of cgroups()) yield [{ cgroup }, memory.usageBytes];
  });
  gauge('faultline_cgroup_memory_limit_bytes', ['faultline.cgroup.memory.limit', 'By'], 'Memory limit of each cgroup with live processes (v2 memory.max, v1 memory.limit_in_bytes); absent when unlimited.', ['cgroup'], function* () {
    for (const { cgroup, memory } of cgroups()) if (memory.limitBytes !== null) yield [{ cgroup }, memory.limitBytes];
  });
  counter(
    'faultline_cgroup_memory_events_total',
    ['faultline.cgroup.memory.events', '{event}'],
    'Memory limit events of each cgroup with live processes: v2 memory.events (low, high, max, oom, oom_kill, …); v1 max (memory.failcnt: charges that hit the limit) and oom_kill (memory.oom_control).',
    ['cgroup', 'event'],
    function* () {
      for (const { cgroup, memory } of cgroups()) for (const [event, n] of memory.events) yield [{ cgroup, event }, n];
    },
  );
  gauge(
    'faultline_cgroup_memory_pressure_ratio',
    ['faultline.cgroup.memory.pressure', '1'],
    'Share of time tasks of the cgroup stalled on memory (PSI memory.pressure, v2 only), by kind (some, full) and averaging window.',
    ['cgroup', 'kind', 'window'],
    function* () {
      for (const { cgroup, memory } of cgroups()) yield* psiSamples(memory.pressure, { cgroup });
    },
  );
  gauge(
    'faultline_memory_pressure_ratio',
    ['faultline.memory.pressure', '1'],
    'Share of time tasks on this host stalled on memory (/proc/pressure/memory), by kind (some, full) and averaging window.',
    ['kind', 'window'],
    () => psiSamples(hostPressure(), {}),
  );
  counter('faultline_memory_pressure_seconds_total', ['faultline.memory.pressure.time', 's'], 'Time tasks on this host stalled on memory (/proc/pressure/memory total), by kind.', ['kind'], function* () {
    const psi = hostPressure();
    if (!psi) return;
    yield [{ kind: 'some' }, psi.some.totalSeconds];
    if (psi.full) yield [{ kind: 'full' }, psi.full.totalSeconds];
  });
  return families;
}
