/*
 * Live: a typed (tp_btf) program the kernel refuses gives way to its classic
 * twin alone; the other programs stay typed, and check, the startup line and
 * /metrics say which runs. The refusal is real: the object is built with a
 * load from a scalar in one program (-DFAULTLINE_TEST_REFUSE_*), which every
 * verifier refuses, as Debian's 6.1 refused mark_victim_btf.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, SKIP_NOT_ROOT, buildWorkload, runWorkload, scrape, startExporter, sum } from './helpers/live.js';
import { refusedProgram } from '../src/bpf/probe.js';
import { FaultlineError } from '../src/bpf/errors.js';

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

for (const c of CASES) t.test(`${c.refused} refused: ${c.instead} runs instead, the rest stays typed`, { skip: SKIP_NOT_ROOT }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-fallback-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const object = join(dir, 'refuse.bpf.o');
  execFileSync('bash', [`${ROOT}bpf/build.sh`, object, `-D${c.define}`], { cwd: ROOT, stdio: 'ignore' });

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
  const attached = samples.filter((s) => s.name === 'faultline_bpf_programs_attached').map((s) => s.labels.program);
  for (const p of c.running) t.ok(attached.includes(p), `${p} attached`);
  t.notOk(attached.includes(c.refused));
  t.equal(samples.find((s) => s.name === 'faultline_build_info')?.labels.tracepoints, 'mixed');
  const pid = String(k.pid);
  t.equal(sum(samples, 'faultline_process_page_faults_total', { pid }), k.minflt + k.majflt, "counts still equal the kernel's minflt+majflt");
  t.ok(sum(samples, 'faultline_process_page_faults_total', { pid, region: 'anon' }) >= 4096, 'and settle into regions');
});
