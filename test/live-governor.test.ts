/*
 * Live: the overhead governor (--bpf.cpu-budget). A fault storm over a small
 * budget turns the per-fault detail off within seconds, the counts stay
 * exact against the kernel's own (wait4 rusage) through it, and when the
 * storm ends the detail comes back.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/temp.js';
import { SKIP_NOT_ROOT, buildWorkload, runWorkload, scrape, startExporter, sum, waitFor, type Sample } from './helpers/live.js';

const FAMILY = 'faultline_process_page_faults_total';
const detailState = (samples: Sample[]): string | undefined => samples.find((s) => s.name === 'faultline_fault_detail_state' && s.value === 1)?.labels.state;
const attached = (samples: Sample[], program: string): boolean => samples.some((s) => s.name === 'faultline_bpf_programs_attached' && s.labels.program === program);

t.test('a storm over --bpf.cpu-budget pauses the detail; the counts stay exact; the detail returns', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  // A hundredth of a CPU: one thread faulting flat out costs faultline more than that on any machine we run on.
  const exporter = await startExporter(['--bpf.cpu-budget=0.01']);
  t.teardown(() => exporter.stop());
  const first = (await scrape(exporter.url)).samples;
  t.equal(detailState(first), 'on', 'the detail starts on');
  t.equal(sum(first, 'faultline_bpf_cpu_budget'), 0.01, 'the budget is exported');
  t.equal(sum(first, 'faultline_bpf_stats_enabled'), 1, 'the governor holds BPF run-time statistics on');

  const dir = tempDir(t, 'faultline-test-');
  const stop = join(dir, 'stop');
  const storm = spawn(workload, ['run', 'storm', '64', stop], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  storm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const ended = new Promise<void>((resolve) => storm.on('exit', () => resolve()));
  t.teardown(async () => {
    writeFileSync(stop, '');
    await ended;
  });

  /** The first scrape that shows the detail in this state (bounded: a minute). */
  const whenDetail = (state: string): Promise<Sample[]> =>
    waitFor(
      `the detail to be ${state}`,
      async () => {
        const { samples } = await scrape(exporter.url);
        return detailState(samples) === state && samples;
      },
      60000,
    );
  const paused = await whenDetail('over_budget');
  t.ok(sum(paused, 'faultline_bpf_cpu_usage') > 0.01, `it measured ${sum(paused, 'faultline_bpf_cpu_usage').toFixed(4)} CPU, over the budget`);
  t.notOk(attached(paused, 'page_fault_user_btf'), 'the per-fault entry hook is detached');
  t.notOk(attached(paused, 'count_major_fault'), 'and the major-fault typing');
  t.ok(attached(paused, 'settle_exiting_thread') && attached(paused, 'read_threads'), 'the counting programs stay');
  t.match(exporter.stderr(), /fault detail off: faultline's BPF programs used [\d.]+ CPU .*over --bpf\.cpu-budget=0\.01/, 'a log line says why');
  // Let the storm run on with the detail off, then end it.
  await new Promise((r) => setTimeout(r, 1500));
  writeFileSync(stop, '');
  await ended;
  const kernel = JSON.parse(out.trim().split('\n').at(-1)!) as { pid: number; minflt: number; majflt: number };
  const after = (await scrape(exporter.url)).samples;
  const pid = String(kernel.pid);
  t.equal(sum(after, FAMILY, { pid }), kernel.minflt + kernel.majflt, `pid ${pid}: every one of its ${kernel.minflt} faults counted, detail on or off`);
  t.ok(sum(after, FAMILY, { pid, region: 'anon' }) > 0, 'the faults before the pause have their region');
  t.ok(sum(after, FAMILY, { pid, region: 'other' }) > 0, 'the faults during the pause count in region "other"');
  t.ok(sum(after, 'faultline_fault_detail_paused_seconds_total') > 0, 'the paused time is counted');

  const resumed = await whenDetail('on');
  t.ok(attached(resumed, 'page_fault_user_btf') && attached(resumed, 'count_major_fault'), 'its programs are attached again');
  t.match(exporter.stderr(), /fault detail back on: [\d.e-]+ CPU predicted at [\d,]+ faults\/s on the host, under --bpf\.cpu-budget=0\.01/);
  const k = runWorkload('anon', '20');
  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, FAMILY, { pid: String(k.pid) }), k.minflt + k.majflt, 'a new process is counted exactly');
  t.ok(sum(samples, FAMILY, { pid: String(k.pid), region: 'anon' }) >= 5120, 'and its 20 MiB land in region "anon" again');
});

t.test('--bpf.cpu-budget=0: no governor, no statistics held', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter(['--bpf.cpu-budget=0']);
  t.teardown(() => exporter.stop());
  const { samples } = await scrape(exporter.url);
  t.equal(detailState(samples), 'on');
  t.notOk(samples.some((s) => s.name === 'faultline_bpf_cpu_budget'), 'no budget gauge');
  t.notOk(exporter.stderr().includes('governed'), 'the start line names no governor');
});
