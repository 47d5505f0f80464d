/*
 * Live: a typed (tp_btf) program the kernel refuses gives way to its classic
 * twin alone; the other programs stay typed, and check, the startup line and
 * /metrics say which runs. The refusal is real: the object is built with a
 * load from a scalar in one program (-DFAULTLINE_TEST_REFUSE_*), which every
 * verifier refuses, as Debian's 6.1 refused mark_victim_btf.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './helpers/temp.js';
import { CLI, ROOT, SKIP_NOT_ROOT, buildWorkload, runWorkload, scrape, startExporter, sum, waitFor, type Sample } from './helpers/live.js';
import { createMemoryCgroup, holdMemoryIn } from './helpers/cgroup.js';
import { refusedProgram } from '../src/bpf/probe.js';
import { FaultlineError } from '../src/errors.js';

t.test('the program a load or attach error names', async (t) => {
  const load = (...detail: string[]): FaultlineError => new FaultlineError('BPF_LOAD', 'the kernel refused to load x.o: EINVAL', detail);
  t.equal(refusedProgram(load("libbpf: prog 'mark_victim_btf': BPF program load failed: Invalid argument", 'libbpf: failed to load object')), 'mark_victim_btf');
  t.equal(refusedProgram(load("libbpf: prog 'mark_victim_btf': relo #7: failed to relocate: -1")), 'mark_victim_btf', 'a CO-RE relocation');
  t.equal(refusedProgram(new FaultlineError('BPF_ATTACH', 'cannot attach page_fault_user_btf: ENOENT; x')), 'page_fault_user_btf');
  t.equal(refusedProgram(load('libbpf: failed to load object')), null, 'none named');
});

t.test('the shipped object runs typed everywhere here, after the capability drop too', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  t.match(exporter.stderr(), /capabilities: .* only/, 'loaded after the drop');
  t.match(exporter.stderr(), '(tp_btf, fault hook tracepoint');
  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, 'faultline_bpf_program_fallback'), 0);
  t.equal(samples.find((s) => s.name === 'faultline_build_info')?.labels.tracepoints, 'tp_btf');
});

const CASES = [
  {
    define: 'FAULTLINE_TEST_REFUSE_OOM',
    refused: 'mark_victim_btf',
    instead: 'mark_victim_tp',
    running: ['page_fault_user_btf', 'page_fault_kernel_btf', 'mark_victim_tp', 'settle_exiting_thread'],
    log: 'page faults tp_btf, OOM classic',
  },
  {
    define: 'FAULTLINE_TEST_REFUSE_FAULTS',
    refused: 'page_fault_user_btf',
    instead: 'page_fault_user_tp',
    running: ['page_fault_user_tp', 'page_fault_kernel_tp', 'mark_victim_btf', 'settle_exiting_thread'],
    log: 'page faults classic, OOM tp_btf',
  },
];

/** The programs /metrics says are attached. */
function attachedPrograms(samples: Sample[]): string[] {
  return samples.filter((s) => s.name === 'faultline_bpf_programs_attached').map((s) => s.labels.program ?? '');
}

/** The shipped source built with one -D flag, into a directory the test removes. */
function buildObject(t: Test, define: string): string {
  const dir = tempDir(t, 'faultline-fallback-');
  const object = join(dir, 'refuse.bpf.o');
  execFileSync('bash', [`${ROOT}bpf/build.sh`, object, `-D${define}`], { cwd: ROOT, stdio: 'ignore' });
  return object;
}

for (const c of CASES) t.test(`${c.refused} refused: ${c.instead} runs instead, the rest stays typed`, { skip: SKIP_NOT_ROOT }, async (t) => {
  const object = buildObject(t, c.define);

  const check = execFileSync(process.execPath, [CLI, 'check', `--bpf.object=${object}`], { encoding: 'utf8' });
  t.match(check, new RegExp(`^warn fallback +${c.refused}: .*the verifier: ${c.refused}: R\\d invalid mem access 'scalar'; ${c.instead} runs instead: `, 'm'));
  t.equal(check.match(/^warn fallback /gm)?.length, 1, 'one warn line for the one refused program');
  t.match(check, /faultline can run here/);

  buildWorkload();
  const exporter = await startExporter([`--bpf.object=${object}`]);
  t.teardown(() => exporter.stop());
  t.match(exporter.stderr(), `(${c.log}, fault hook tracepoint`);
  t.match(exporter.stderr(), `${c.refused}: the kernel refused to load`, 'the startup says which program and why');
  const k = runWorkload('anon', '16');
  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, 'faultline_bpf_program_fallback', { program: c.refused, instead: c.instead }), 1);
  t.equal(sum(samples, 'faultline_bpf_program_fallback'), 1, 'one fallback, no other');
  const attached = attachedPrograms(samples);
  for (const p of c.running) t.ok(attached.includes(p), `${p} attached`);
  t.notOk(attached.includes(c.refused));
  t.equal(samples.find((s) => s.name === 'faultline_build_info')?.labels.tracepoints, 'mixed');
  const pid = String(k.pid);
  t.equal(sum(samples, 'faultline_process_page_faults_total', { pid }), k.minflt + k.majflt, "counts still equal the kernel's minflt+majflt");
  t.ok(sum(samples, 'faultline_process_page_faults_total', { pid, region: 'anon' }) >= 4096, 'and settle into regions');
});

/*
 * An OOM kill where the victim and the allocating task sit in sibling
 * cgroups under one limit: only the victim's own task can name its cgroup.
 * Returns the victim's faultline_oom_victim_info labels.
 */
async function killAcrossSiblings(t: Test, url: string) {
  const parent = createMemoryCgroup(64 << 20);
  t.teardown(() => parent.remove());
  const victimGroup = parent.child('victim');
  const triggerGroup = parent.child('trigger');
  const holder = holdMemoryIn(victimGroup, 40, 1000);
  await waitFor('the victim to hold 40 MiB', () => holder.held());
  const trigger = spawn('sh', ['-c', `echo $$ > ${triggerGroup.procsFile} && exec ${buildWorkload()} grow 40 0`], { stdio: 'ignore' });
  const triggerExit = new Promise<number | null>((resolve) => trigger.on('exit', (code) => resolve(code)));
  t.equal(await holder.exited, 'SIGKILL', 'the holder was killed');
  t.equal(await triggerExit, 0, 'the allocator finished');
  const info = await waitFor('the kill on /metrics', async () => {
    const { samples } = await scrape(url);
    return samples.find((s) => s.name === 'faultline_oom_victim_info' && s.labels.pid === String(holder.child.pid));
  });
  return { labels: info.labels, victimGroup, trigger: trigger.pid! };
}

t.test('mark_victim_tp with oom_victim_signal: the victim keeps its own cgroup and context', { skip: SKIP_NOT_ROOT }, async (t) => {
  const object = buildObject(t, 'FAULTLINE_TEST_REFUSE_OOM');
  const exporter = await startExporter([`--bpf.object=${object}`]);
  t.teardown(() => exporter.stop());
  const attached = attachedPrograms((await scrape(exporter.url)).samples);
  t.ok(attached.includes('oom_victim_signal') && attached.includes('mark_victim_tp'), 'both attached');
  t.match(exporter.stderr(), 'OOM kills keep the victim\'s context', 'the startup line says what the fallback keeps');
  const { labels, victimGroup, trigger } = await killAcrossSiblings(t, exporter.url);
  t.match(labels, {
    comm: 'workload',
    oom_score_adj: '1000',
    trigger_pid: String(trigger),
    constraint: 'memcg',
    cgroup: victimGroup.name,
  });
});

t.test('classic asked for: no typed program, so the kill carries the tracepoint\'s fields and no cgroup', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter(['--bpf.tracepoints=classic']);
  t.teardown(() => exporter.stop());
  const attached = attachedPrograms((await scrape(exporter.url)).samples);
  t.ok(attached.includes('mark_victim_tp'));
  t.notOk(attached.includes('oom_victim_signal'));
  const { labels, trigger } = await killAcrossSiblings(t, exporter.url);
  t.match(labels, { comm: 'workload', oom_score_adj: '1000', trigger_pid: String(trigger), cgroup: '' });
});
