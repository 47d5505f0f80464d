/*
 * Live: collectors switched off (--no-collector.NAME) attach nothing and
 * export nothing of theirs, and the counts that stay are still exact.
 */
import t from 'tap';
import { SKIP_NOT_ROOT, runWorkload, scrape, startExporter, sum } from './helpers/live.js';

t.test('--no-collector.oom, .stalls, .headroom and .processes', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter(['--no-collector.oom', '--no-collector.stalls', '--no-collector.headroom', '--no-collector.processes']);
  t.teardown(() => exporter.stop());
  const k = runWorkload('anon', '10');
  const { samples } = await scrape(exporter.url);
  const names = new Set(samples.map((s) => s.name));
  const programs = samples.filter((s) => s.name === 'faultline_bpf_programs_attached').map((s) => s.labels.program!);
  t.notOk(programs.some((p) => p.startsWith('mark_victim')), 'no OOM program');
  t.notOk(programs.some((p) => /reclaim|compaction/.test(p)), 'no stall program');
  t.ok(programs.includes('read_threads') && programs.includes('settle_exiting_thread'), 'the counting programs');
  for (const family of ['faultline_oom_kills_total', 'faultline_oom_victim_info', 'faultline_memcg_reclaim_duration_seconds_count', 'faultline_cgroup_memory_usage_bytes', 'faultline_memory_pressure_ratio', 'faultline_process_page_faults_total']) {
    t.notOk(names.has(family), `no ${family}`);
  }
  for (const collector of ['oom', 'stalls', 'headroom', 'processes']) t.equal(sum(samples, 'faultline_collector_enabled', { collector }), 0, `${collector} says off`);
  t.equal(sum(samples, 'faultline_collector_enabled', { collector: 'fault-detail' }), 1, 'fault-detail says on');
  t.match(exporter.stderr(), /^(?!.*cannot read the kernel log)/s, 'the kernel log is not opened');
  // The comm family holds every process named workload since start: this one at least, exactly when it is the only one.
  t.ok(sum(samples, 'faultline_comm_page_faults_total', { comm: 'workload' }) >= k.minflt + k.majflt, 'the comm counts hold the workload');
});

t.test('every collector on by default', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const { samples } = await scrape(exporter.url);
  for (const collector of ['fault-detail', 'oom', 'stalls', 'headroom', 'processes']) t.equal(sum(samples, 'faultline_collector_enabled', { collector }), 1, collector);
  t.ok(samples.some((s) => s.name === 'faultline_bpf_programs_attached' && s.labels.program === 'mark_victim_btf'));
});

t.test('--no-collector.fault-detail: the detail state says disabled, no governor', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter(['--no-collector.fault-detail']);
  t.teardown(() => exporter.stop());
  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, 'faultline_fault_detail_state', { state: 'disabled' }), 1);
  t.equal(sum(samples, 'faultline_fault_detail_state', { state: 'on' }), 0);
  t.notOk(samples.some((s) => s.name === 'faultline_bpf_cpu_budget'), 'nothing to govern');
  t.notOk(samples.some((s) => s.name === 'faultline_page_fault_access_total'), 'no access types');
});
