/*
 * The metric families as they render from a state of known records: a fake
 * kernel source (no root, no BPF) and a directory tree standing in for the
 * cgroup mount. Each number below follows from the records by hand.
 */
import t from 'tap';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/temp.js';
import { CgroupNames } from '../src/readers/cgroups.js';
import { FaultlineState, type KernelSource } from '../src/core/state.js';
import { STALL_SLOTS, emptyCounts, type RegionTypeCounts } from '../src/bpf/contract.js';
import { type OomKillEvent } from '../src/features/oom/decode.js';
import { type ProcessFaultsRecord } from '../src/features/faults/decode.js';
import { type StallRecord } from '../src/features/stalls/decode.js';
import { labelObject } from '../src/metrics/family.js';
import { renderFamilies } from '../src/expose/exposition.js';
import { faultFamilies } from '../src/features/faults/families.js';
import { headroomFamilies } from '../src/features/headroom/families.js';
import { readCgroupMemoryRows, readHostPressure } from '../src/readers/memory-headroom.js';
import { stallFamilies } from '../src/features/stalls/families.js';
import { oomFamilies } from '../src/features/oom/families.js';
import { selfFamilies } from '../src/expose/self-families.js';
import { packageVersion } from '../src/version.js';
import { exporterSelf, fakeKernelSource } from './helpers/fakes.js';

const POD = '0f2c7e3a-1b2c-4d5e-8f90-123456789abc';
const CONTAINER = 'a'.repeat(64);

function cgroupTree(teardown: (fn: () => void) => void): { root: string; names: CgroupNames; ino: (path: string) => bigint } {
  const root = tempDir({ teardown }, 'faultline-cgroupfs-');
  mkdirSync(join(root, `kubepods.slice/kubepods-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${CONTAINER}.scope`), { recursive: true });
  mkdirSync(join(root, 'system.slice/demo.service'), { recursive: true });
  return { root, names: new CgroupNames({ unified: root, memoryV1: null }), ino: (path) => statSync(join(root, path), { bigint: true }).ino };
}

/** [region][type] counts from { 'anon/minor': n, … }. */
function counts(cells: Record<string, number>): RegionTypeCounts {
  const c = emptyCounts();
  const regions = ['heap', 'stack', 'anon', 'file', 'other'];
  for (const [cell, n] of Object.entries(cells)) {
    const [region, type] = cell.split('/');
    c[regions.indexOf(region!)]![type === 'major' ? 1 : 0] = BigInt(n);
  }
  return c;
}

function fakeSource(records: ProcessFaultsRecord[], unattributed: RegionTypeCounts, access: bigint[] = [], stalls: StallRecord[] = []): KernelSource {
  return fakeKernelSource({ accessTypes: access.length > 0, readProcesses: () => records, readUnattributed: () => unattributed, readAccess: () => access, readStalls: () => stalls });
}

/** The sample lines of one family, in order. */
function lines(text: string, family: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${family}{`) || l.startsWith(`${family} `));
}

t.test('page faults: host totals, per process, per comm, per cgroup, what each cgroup runs, access types', async (t) => {
  const { names, ino } = cgroupTree((fn) => t.teardown(fn));
  const ctr = ino(`kubepods.slice/kubepods-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${CONTAINER}.scope`);
  const svc = ino('system.slice/demo.service');
  const records: ProcessFaultsRecord[] = [
    { pid: 100, comm: 'postgres', exitNs: 0n, faults: counts({ 'heap/minor': 10, 'file/major': 2 }), cgroupId: ctr, memcgId: 0n },
    { pid: 101, comm: 'postgres', exitNs: 0n, faults: counts({ 'anon/minor': 5 }), cgroupId: ctr, memcgId: 0n },
    { pid: 200, comm: 'demo', exitNs: 0n, faults: counts({ 'stack/minor': 3 }), cgroupId: svc, memcgId: 0n },
  ];
  // Access slot = present | write << 1 | exec << 2: 7 reads of missing pages, 4 writes to present ones
  // (copy-on-write), and in slots 6 and 7 exec faults that also say write.
  const access = [7n, 0n, 0n, 4n, 0n, 0n, 2n, 1n];
  const state = new FaultlineState(fakeSource(records, counts({ 'other/minor': 1 }), access), {}, () => 1n, () => true, names);
  state.refresh();
  t.equal(state.overflowFaults(), 1n, 'the fault that found the maps full');
  t.equal(state.cgroupLabel(svc), '/system.slice/demo.service');
  t.equal(state.cgroupLabel(svc + 1_000_000n), `id:${svc + 1_000_000n}`, 'an id no directory has: named by its number');
  t.equal(state.cgroupLabel(0n), '');
  const text = renderFamilies(faultFamilies(state), false);

  // Every cell of the host family, the overflow's one fault in "other" included.
  t.strictSame(lines(text, 'faultline_page_faults_total'), [
    'faultline_page_faults_total{type="minor",region="heap"} 10',
    'faultline_page_faults_total{type="major",region="heap"} 0',
    'faultline_page_faults_total{type="minor",region="stack"} 3',
    'faultline_page_faults_total{type="major",region="stack"} 0',
    'faultline_page_faults_total{type="minor",region="anon"} 5',
    'faultline_page_faults_total{type="major",region="anon"} 0',
    'faultline_page_faults_total{type="minor",region="file"} 0',
    'faultline_page_faults_total{type="major",region="file"} 2',
    'faultline_page_faults_total{type="minor",region="other"} 1',
    'faultline_page_faults_total{type="major",region="other"} 0',
  ]);
  t.strictSame(lines(text, 'faultline_process_page_faults_total').sort(), [
    'faultline_process_page_faults_total{pid="100",comm="postgres",type="major",region="file"} 2',
    'faultline_process_page_faults_total{pid="100",comm="postgres",type="minor",region="heap"} 10',
    'faultline_process_page_faults_total{pid="101",comm="postgres",type="minor",region="anon"} 5',
    'faultline_process_page_faults_total{pid="200",comm="demo",type="minor",region="stack"} 3',
  ]);
  const perProcess = faultFamilies(state).find((f) => f.name === 'faultline_process_page_faults_total');
  const first = perProcess?.type === 'counter' ? [...perProcess.samples()][0] : undefined;
  t.strictSame(first && labelObject(perProcess?.labelNames ?? [], first[0]), { pid: '100', comm: 'postgres', type: 'minor', region: 'heap' }, 'OTLP attributes: pid is a string');
  t.strictSame(lines(text, 'faultline_comm_page_faults_total').sort(), [
    'faultline_comm_page_faults_total{comm="demo",type="minor",region="stack"} 3',
    'faultline_comm_page_faults_total{comm="postgres",type="major",region="file"} 2',
    'faultline_comm_page_faults_total{comm="postgres",type="minor",region="anon"} 5',
    'faultline_comm_page_faults_total{comm="postgres",type="minor",region="heap"} 10',
  ]);
  const ctrPath = `/kubepods.slice/kubepods-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${CONTAINER}.scope`;
  t.strictSame(lines(text, 'faultline_cgroup_page_faults_total').sort(), [
    `faultline_cgroup_page_faults_total{cgroup="${ctrPath}",type="major",region="file"} 2`,
    `faultline_cgroup_page_faults_total{cgroup="${ctrPath}",type="minor",region="anon"} 5`,
    `faultline_cgroup_page_faults_total{cgroup="${ctrPath}",type="minor",region="heap"} 10`,
    'faultline_cgroup_page_faults_total{cgroup="/system.slice/demo.service",type="minor",region="stack"} 3',
  ]);
  t.strictSame(lines(text, 'faultline_cgroup_info').sort(), [
    `faultline_cgroup_info{cgroup="${ctrPath}",runtime="containerd",container_id="${CONTAINER}",pod_uid="${POD}",qos="guaranteed",unit="",pod="",namespace="",container=""} 1`,
    'faultline_cgroup_info{cgroup="/system.slice/demo.service",runtime="",container_id="",pod_uid="",qos="",unit="demo.service",pod="",namespace="",container=""} 1',
  ]);
  // Every access/present pair, zeros too; an exec that says write counts as exec (slots 6 and 7 merge with 4 and 5).
  t.strictSame(lines(text, 'faultline_page_fault_access_total'), [
    'faultline_page_fault_access_total{access="read",present="false"} 7',
    'faultline_page_fault_access_total{access="read",present="true"} 0',
    'faultline_page_fault_access_total{access="write",present="false"} 0',
    'faultline_page_fault_access_total{access="write",present="true"} 4',
    'faultline_page_fault_access_total{access="exec",present="false"} 2',
    'faultline_page_fault_access_total{access="exec",present="true"} 1',
  ]);
});

t.test('OOM kills: counts by victim and cgroup, the latest victims, their memory and RSS', async (t) => {
  const { names, ino } = cgroupTree((fn) => t.teardown(fn));
  const state = new FaultlineState(fakeSource([], emptyCounts()), {}, () => 1n, () => true, names);
  const MiB = 2n ** 20n;
  const kill: OomKillEvent = {
    kind: 'oom_kill',
    pid: 6100,
    tid: 6100,
    uid: 1000,
    triggerPid: 6101,
    triggerComm: 'allocator',
    oomScoreAdj: 500,
    timestampNs: process.hrtime.bigint() - 2_000_000_000n, // two seconds ago
    totalVmBytes: 300n * MiB,
    anonRssBytes: 200n * MiB,
    fileRssBytes: 8n * MiB,
    shmemRssBytes: 0n,
    pgtablesBytes: 1n * MiB,
    comm: 'stress-ng',
    cgroupId: ino('system.slice/demo.service'),
    memcgId: 0n,
  };
  state.recordOomKill(kill, 'memcg');
  const text = renderFamilies(oomFamilies(state), false);
  t.strictSame(lines(text, 'faultline_oom_kills_total'), [
    'faultline_oom_kills_total{comm="stress-ng",cgroup="/system.slice/demo.service",container_id="",pod_uid="",constraint="memcg"} 1',
  ]);
  const [info] = lines(text, 'faultline_oom_victim_info');
  t.match(
    info,
    /^faultline_oom_victim_info\{pid="6100",comm="stress-ng",uid="1000",oom_score_adj="500",trigger_pid="6101",trigger_comm="allocator",constraint="memcg",cgroup="\/system\.slice\/demo\.service",container_id="",pod_uid="",pod="",namespace="",container=""\} (\d+(\.\d+)?)$/,
  );
  const killedAt = Number(/ (\S+)$/.exec(info ?? '')?.[1]);
  t.ok(Math.abs(killedAt - (Date.now() / 1000 - 2)) < 1, `the value is the kill's Unix time: ${killedAt}`);
  t.strictSame(lines(text, 'faultline_oom_victim_memory_bytes'), [
    `faultline_oom_victim_memory_bytes{pid="6100",comm="stress-ng",memory="total_vm"} ${300 * 2 ** 20}`,
    `faultline_oom_victim_memory_bytes{pid="6100",comm="stress-ng",memory="anon_rss"} ${200 * 2 ** 20}`,
    `faultline_oom_victim_memory_bytes{pid="6100",comm="stress-ng",memory="file_rss"} ${8 * 2 ** 20}`,
    'faultline_oom_victim_memory_bytes{pid="6100",comm="stress-ng",memory="shmem_rss"} 0',
    `faultline_oom_victim_memory_bytes{pid="6100",comm="stress-ng",memory="pgtables"} ${2 ** 20}`,
  ]);
  // 208 MiB: above the 64 MiB bound, within 256 MiB.
  t.strictSame(lines(text, 'faultline_oom_victim_rss_bytes_bucket').map((l) => l.split(' ')[1]), ['0', '0', '0', '0', '1', '1', '1', '1', '1', '1']);
  t.strictSame(lines(text, 'faultline_oom_victim_rss_bytes_sum'), [`faultline_oom_victim_rss_bytes_sum ${208 * 2 ** 20}`]);
  t.strictSame(lines(text, 'faultline_oom_victim_rss_bytes_count'), ['faultline_oom_victim_rss_bytes_count 1']);
});

t.test('headroom and stalls: the cgroup files of cgroups with live processes, reclaim histograms by cgroup', async (t) => {
  const { root, names, ino } = cgroupTree((fn) => t.teardown(fn));
  const svc = ino('system.slice/demo.service');
  const ctrPath = `/kubepods.slice/kubepods-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${CONTAINER}.scope`;
  const ctr = ino(ctrPath.slice(1));
  // cgroup v2 files as the kernel writes them: a limited service and an unlimited container.
  const dir = join(root, 'system.slice/demo.service');
  writeFileSync(join(dir, 'memory.current'), `${100 * 2 ** 20}\n`);
  writeFileSync(join(dir, 'memory.max'), `${200 * 2 ** 20}\n`);
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
  writeFileSync(join(dir, 'memory.pressure'), 'some avg10=1.50 avg60=0.50 avg300=0.10 total=12345\nfull avg10=0.75 avg60=0.25 avg300=0.05 total=6789\n');
  writeFileSync(join(root, ctrPath, 'memory.current'), '4096\n');
  writeFileSync(join(root, ctrPath, 'memory.max'), 'max\n');
  const records: ProcessFaultsRecord[] = [
    { pid: 200, comm: 'demo', exitNs: 0n, faults: counts({ 'anon/minor': 1 }), cgroupId: svc, memcgId: 0n },
    { pid: 300, comm: 'app', exitNs: 0n, faults: counts({ 'anon/minor': 1 }), cgroupId: ctr, memcgId: 0n },
  ];
  // Four memcg reclaims of the service in slot 20 ([2^20, 2^21) ns), 5 ms in all, 96 pages freed.
  const slots = Array.from({ length: STALL_SLOTS }, (_, i) => (i === 20 ? 4n : 0n));
  const stalls: StallRecord[] = [{ cgroupId: svc, memcgId: 0n, kind: 'memcg_reclaim', slots, count: 4n, sumNs: 5_000_000n, reclaimedPages: 96n }];
  const state = new FaultlineState(fakeSource(records, emptyCounts(), [], stalls), { readCgroupMemory: readCgroupMemoryRows, readHostPressure }, () => 1n, () => true, names);
  state.refresh();
  const text = renderFamilies([...headroomFamilies(state), ...stallFamilies(state)], false);

  t.strictSame(lines(text, 'faultline_cgroup_memory_usage_bytes').sort(), [
    `faultline_cgroup_memory_usage_bytes{cgroup="${ctrPath}"} 4096`,
    `faultline_cgroup_memory_usage_bytes{cgroup="/system.slice/demo.service"} ${100 * 2 ** 20}`,
  ]);
  t.strictSame(lines(text, 'faultline_cgroup_memory_limit_bytes'), [`faultline_cgroup_memory_limit_bytes{cgroup="/system.slice/demo.service"} ${200 * 2 ** 20}`], 'no limit: no series');
  t.strictSame(lines(text, 'faultline_cgroup_memory_events_total'), [
    'faultline_cgroup_memory_events_total{cgroup="/system.slice/demo.service",event="low"} 0',
    'faultline_cgroup_memory_events_total{cgroup="/system.slice/demo.service",event="high"} 0',
    'faultline_cgroup_memory_events_total{cgroup="/system.slice/demo.service",event="max"} 3',
    'faultline_cgroup_memory_events_total{cgroup="/system.slice/demo.service",event="oom"} 1',
    'faultline_cgroup_memory_events_total{cgroup="/system.slice/demo.service",event="oom_kill"} 1',
  ]);
  t.strictSame(lines(text, 'faultline_cgroup_memory_pressure_ratio'), [
    'faultline_cgroup_memory_pressure_ratio{cgroup="/system.slice/demo.service",kind="some",window="10s"} 0.015',
    'faultline_cgroup_memory_pressure_ratio{cgroup="/system.slice/demo.service",kind="some",window="60s"} 0.005',
    'faultline_cgroup_memory_pressure_ratio{cgroup="/system.slice/demo.service",kind="some",window="300s"} 0.001',
    'faultline_cgroup_memory_pressure_ratio{cgroup="/system.slice/demo.service",kind="full",window="10s"} 0.0075',
    'faultline_cgroup_memory_pressure_ratio{cgroup="/system.slice/demo.service",kind="full",window="60s"} 0.0025',
    'faultline_cgroup_memory_pressure_ratio{cgroup="/system.slice/demo.service",kind="full",window="300s"} 0.0005',
  ]);

  // le = 2^bits s for bits 10, 12, …, 34: slot 20 counts from le 2^22 ns on.
  const le = Array.from({ length: 13 }, (_, i) => 2 ** (10 + 2 * i) / 1e9);
  t.strictSame(lines(text, 'faultline_memcg_reclaim_duration_seconds_bucket'), [
    ...le.map((b, i) => `faultline_memcg_reclaim_duration_seconds_bucket{cgroup="/system.slice/demo.service",le="${b}"} ${i >= 6 ? 4 : 0}`),
    'faultline_memcg_reclaim_duration_seconds_bucket{cgroup="/system.slice/demo.service",le="+Inf"} 4',
  ]);
  t.strictSame(lines(text, 'faultline_memcg_reclaim_duration_seconds_sum'), ['faultline_memcg_reclaim_duration_seconds_sum{cgroup="/system.slice/demo.service"} 0.005']);
  t.strictSame(lines(text, 'faultline_memcg_reclaim_duration_seconds_count'), ['faultline_memcg_reclaim_duration_seconds_count{cgroup="/system.slice/demo.service"} 4']);
  t.strictSame(lines(text, 'faultline_direct_reclaim_duration_seconds_count'), [], 'no direct reclaim: no series');
  t.strictSame(lines(text, 'faultline_reclaimed_pages_total'), ['faultline_reclaimed_pages_total{cgroup="/system.slice/demo.service",reclaim="memcg"} 96']);
});

t.test('a limited cgroup that never reclaimed shows its memcg reclaim histogram at zero', async (t) => {
  const { root, names, ino } = cgroupTree((fn) => t.teardown(fn));
  const dir = join(root, 'system.slice/demo.service');
  writeFileSync(join(dir, 'memory.current'), '0\n');
  writeFileSync(join(dir, 'memory.max'), `${64 * 2 ** 20}\n`);
  const records: ProcessFaultsRecord[] = [{ pid: 200, comm: 'demo', exitNs: 0n, faults: counts({ 'anon/minor': 1 }), cgroupId: ino('system.slice/demo.service'), memcgId: 0n }];
  const state = new FaultlineState(fakeSource(records, emptyCounts()), { readCgroupMemory: readCgroupMemoryRows }, () => 1n, () => true, names);
  state.refresh();
  const text = renderFamilies(stallFamilies(state), false);
  t.strictSame(lines(text, 'faultline_memcg_reclaim_duration_seconds_count'), ['faultline_memcg_reclaim_duration_seconds_count{cgroup="/system.slice/demo.service"} 0']);
  t.strictSame(lines(text, 'faultline_reclaimed_pages_total'), ['faultline_reclaimed_pages_total{cgroup="/system.slice/demo.service",reclaim="memcg"} 0']);
});

t.test("the exporter's own health: programs, fallbacks, run time, lost records, event log, OTLP, collectors", async (t) => {
  const { names } = cgroupTree((fn) => t.teardown(fn));
  const source = fakeKernelSource({
    readUnattributed: () => counts({ 'other/minor': 3 }),
    programs: [
      { program: 'mark_victim_tp', attachPoint: 'tracepoint/oom/mark_victim', links: 1 },
      { program: 'count_major_fault', attachPoint: 'perf_event/software/major-faults', links: 2 },
    ],
    fallbacks: [{ program: 'mark_victim_btf', instead: 'mark_victim_tp', reason: 'refused' }],
    ringCallbackErrors: 2,
    readLostRecords: () => ({ fault_events: 5n, oom_events: 0n }),
    runStats: () => [{ program: 'count_major_fault', stats: { runTimeNs: 1_500_000_000n, runCount: 300n } }],
  });
  const state = new FaultlineState(source, { readStalls: false }, () => 1n, () => true, names);
  const self = exporterSelf({
    collectors: { 'fault-detail': false, processes: true, oom: true, stalls: false, headroom: true, 'oom-eta': false },
    bpfStatsHeld: true,
    eventLog: { records: 10, droppedBacklog: 1, droppedWriteError: 2, writeErrors: 3, lastError: null },
    eventLogSampleEvery: 4,
    otlp: { success: 7, failure: 1 },
  });
  state.refresh();
  state.attempt('oom', () => {
    throw new Error('decode');
  });
  const text = renderFamilies(selfFamilies(state, self), false);
  const one = (family: string): string[] => lines(text, family);
  t.strictSame(one('faultline_ringbuf_lost_records_total'), [
    'faultline_ringbuf_lost_records_total{ringbuf="fault_events"} 5',
    'faultline_ringbuf_lost_records_total{ringbuf="oom_events"} 0',
  ]);
  t.strictSame(one('faultline_event_callback_errors_total'), ['faultline_event_callback_errors_total 2']);
  t.strictSame(one('faultline_bpf_programs_attached'), [
    'faultline_bpf_programs_attached{program="mark_victim_tp",attach_point="tracepoint/oom/mark_victim"} 1',
    'faultline_bpf_programs_attached{program="count_major_fault",attach_point="perf_event/software/major-faults"} 2',
  ]);
  t.strictSame(one('faultline_bpf_program_fallback'), ['faultline_bpf_program_fallback{program="mark_victim_btf",instead="mark_victim_tp"} 1']);
  t.strictSame(one('faultline_bpf_program_run_seconds_total'), ['faultline_bpf_program_run_seconds_total{program="count_major_fault"} 1.5']);
  t.strictSame(one('faultline_bpf_program_runs_total'), ['faultline_bpf_program_runs_total{program="count_major_fault"} 300']);
  t.strictSame(one('faultline_processes_tracked_max'), ['faultline_processes_tracked_max 16']);
  t.strictSame(one('faultline_event_log_records_total'), ['faultline_event_log_records_total 10']);
  t.strictSame(one('faultline_event_log_dropped_records_total'), [
    'faultline_event_log_dropped_records_total{reason="backlog"} 1',
    'faultline_event_log_dropped_records_total{reason="write_error"} 2',
  ]);
  t.strictSame(one('faultline_event_log_write_errors_total'), ['faultline_event_log_write_errors_total 3']);
  t.strictSame(one('faultline_event_log_sample_ratio'), ['faultline_event_log_sample_ratio 0.25']);
  t.strictSame(one('faultline_otlp_exports_total'), ['faultline_otlp_exports_total{result="success"} 7', 'faultline_otlp_exports_total{result="failure"} 1']);
  t.strictSame(one('faultline_process_map_overflow_faults_total'), ['faultline_process_map_overflow_faults_total 3']);
  t.strictSame(one('faultline_bpf_stats_enabled'), ['faultline_bpf_stats_enabled 1'], 'held by faultline');
  t.strictSame(one('faultline_collector_success'), ['faultline_collector_success{collector="counts"} 1', 'faultline_collector_success{collector="oom"} 0'], 'stalls off: not listed');
  t.strictSame(one('faultline_collector_enabled'), [
    'faultline_collector_enabled{collector="fault-detail"} 0',
    'faultline_collector_enabled{collector="processes"} 1',
    'faultline_collector_enabled{collector="oom"} 1',
    'faultline_collector_enabled{collector="stalls"} 0',
    'faultline_collector_enabled{collector="headroom"} 1',
    'faultline_collector_enabled{collector="oom-eta"} 0',
  ]);
  t.strictSame(one('faultline_fault_detail_state'), [
    'faultline_fault_detail_state{state="on"} 0',
    'faultline_fault_detail_state{state="over_budget"} 0',
    'faultline_fault_detail_state{state="disabled"} 1',
  ]);
  t.strictSame(one('faultline_fault_detail_paused_seconds_total'), [], 'no governor: absent');
  t.strictSame(one('faultline_bpf_cpu_budget'), [], 'no governor: absent');
  t.match(one('faultline_build_info')[0], new RegExp(`^faultline_build_info\\{version="${packageVersion().replace(/\./g, '\\.')}",nodejs_version="${process.version.replace(/\./g, '\\.')}",libbpf_version="1\\.1\\.0",tracepoints="tp_btf"\\} 1$`));
});
