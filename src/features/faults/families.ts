/** Page faults: host totals, busiest processes, access types, comms and cgroups. */
import { workloadOf } from '../../aggregate/container-of.js';
import { OTHER } from '../../aggregate/folded-totals.js';
import type { GroupTotals, ProcessTable } from './process-table.js';
import type { AccessCount } from './decode.js';
import type { PodNames } from '../../readers/kube-pods.js';
import { FAULT_TYPES, REGIONS, type RegionTypeCounts } from '../../bpf/contract.js';
import type { Family, Sample } from '../../metrics/family.js';
import { familyList, perRefresh } from '../../metrics/family.js';

/** What the fault families read of the state. */
export interface FaultsView {
  readonly refreshes: number;
  readonly processes: ProcessTable;
  /** Every fault seen, by region and type. */
  faultTotals(): RegionTypeCounts;
  accessCounts(): AccessCount[];
  cgroupLabel(id: bigint): string;
  podNames(podUid: string, containerId: string): PodNames;
}

export function faultFamilies(state: FaultsView): Family[] {
  const { families, counter, gauge } = familyList();
  // The cgroup family and faultline_cgroup_info read the same grouping.
  const byCgroup = perRefresh(state, () => state.processes.byCgroup());
  counter(
    'faultline_page_faults_total',
    ['faultline.page_faults', '{fault}'],
    'Page faults the kernel accounted on this host since faultline started, by type (minor or major) and memory region; the sum over all labels is every fault. ' +
      'Regions are partial while faultline_fault_detail_state{state="on"} is 0: faults then count in region "other".',
    ['type', 'region'],
    function* () {
      const totals = state.faultTotals();
      for (let r = 0; r < REGIONS.length; r++) {
        for (let t = 0; t < FAULT_TYPES.length; t++) {
          yield [{ type: FAULT_TYPES[t]!, region: REGIONS[r]! }, Number(totals[r]![t]!)];
        }
      }
    },
  );

  counter(
    'faultline_process_page_faults_total',
    ['faultline.process.page_faults', '{fault}'],
    'Page faults of the busiest processes (at most --processes.max, ranked by recent fault rate), by type and region; exited processes stay for --processes.exit-grace.',
    ['pid', 'comm', 'type', 'region'],
    function* () {
      for (const p of state.processes.busiest()) {
        const pidText = String(p.pid);
        for (let r = 0; r < REGIONS.length; r++) {
          for (let t = 0; t < FAULT_TYPES.length; t++) {
            const n = p.faults[r]![t]!;
            // pid as text: the OTLP attribute stays a string, as it was when attributes were parsed from label text.
            if (n > 0n) yield [[pidText, p.comm, FAULT_TYPES[t]!, REGIONS[r]!], Number(n)];
          }
        }
      }
    },
  );

  counter(
    'faultline_page_fault_access_total',
    ['faultline.page_fault.accesses', '{fault}'],
    'Page faults taken in user mode (exceptions/page_fault_user), by access (read, write, exec) and whether the page was present (a protection fault such as copy-on-write); ' +
      'not counted while faultline_fault_detail_state{state="on"} is 0.',
    ['access', 'present'],
    function* () {
      const merged = new Map<string, Sample>();
      for (const a of state.accessCounts()) {
        const key = `${a.access}/${a.present}`;
        const prev = merged.get(key)?.[1] ?? 0;
        merged.set(key, [{ access: a.access, present: String(a.present) }, prev + Number(a.count)]);
      }
      yield* merged.values();
    },
  );

  const groupSamples = function* <K>(groups: GroupTotals<K>, label: (key: K | null) => string): Generator<Sample> {
    const cells = function* (group: string, counts: RegionTypeCounts): Generator<Sample> {
      for (let r = 0; r < REGIONS.length; r++) {
        for (let t = 0; t < FAULT_TYPES.length; t++) {
          const n = counts[r]![t]!;
          if (n > 0n) yield [[group, FAULT_TYPES[t]!, REGIONS[r]!], Number(n)];
        }
      }
    };
    for (const [key, counts] of groups.byKey) yield* cells(label(key), counts);
    yield* cells(label(null), groups.other);
  };
  counter(
    'faultline_comm_page_faults_total',
    ['faultline.comm.page_faults', '{fault}'],
    'Page faults by process comm, of every process seen (live, and exited ones folded); comm "[other]" holds exited processes of comms pushed out by --groups.max. Sums to faultline_page_faults_total less unattributed faults.',
    ['comm', 'type', 'region'],
    () => groupSamples(state.processes.byComm(), (comm) => comm ?? OTHER),
  );
  counter(
    'faultline_cgroup_page_faults_total',
    ['faultline.cgroup.page_faults', '{fault}'],
    'Page faults by memory cgroup (the v1 memory hierarchy where memory is on v1, else the unified hierarchy), of every process seen; cgroup "[other]" holds exited processes of cgroups pushed out by --groups.max.',
    ['cgroup', 'type', 'region'],
    () => groupSamples(byCgroup(), (id) => (id === null ? OTHER : state.cgroupLabel(id))),
  );
  gauge(
    'faultline_cgroup_info',
    ['faultline.cgroup.info', '1'],
    'What each cgroup in faultline_cgroup_page_faults_total runs, parsed from its path (container runtime and id, pod UID and QoS class, systemd unit) and, with --kubernetes.enabled, named by the API (pod, namespace, container). The value is 1.',
    ['cgroup', 'runtime', 'container_id', 'pod_uid', 'qos', 'unit', 'pod', 'namespace', 'container'],
    function* () {
      for (const id of byCgroup().byKey.keys()) {
        const cgroup = state.cgroupLabel(id);
        const w = workloadOf(cgroup);
        if (!w.runtime && !w.containerId && !w.podUid && !w.unit) continue;
        const names = state.podNames(w.podUid, w.containerId);
        yield [{ cgroup, runtime: w.runtime, container_id: w.containerId, pod_uid: w.podUid, qos: w.qos, unit: w.unit, ...names }, 1];
      }
    },
  );

  return families;
}
