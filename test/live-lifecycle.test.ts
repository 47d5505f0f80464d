/*
 * Live: what a user sees when things go right (promtool-clean /metrics,
 * OpenMetrics, clean detach on SIGTERM) and when they go wrong (one line on
 * stderr, non-zero exit, nothing left attached).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { CLI, SKIP_NOT_ROOT, scrape, startCli, startExporter, waitFor } from './helpers/live.js';
import { logRecords } from './helpers/logfmt.js';
import { attachedAgainstHeld, heldBpfObjects, programsFreed, runHoldingPrograms } from './helpers/bpf-objects.js';

/** A pid below pid_max that no process has now (counting down from the top, where pids are rarely in use). */
function freePid(): number {
  const max = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
  for (let pid = max - 1; pid > 1; pid--) if (!existsSync(`/proc/${pid}`)) return pid;
  throw new Error('no free pid');
}

function run(args: string[], env: NodeJS.ProcessEnv = process.env): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, timeout: 30000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('metrics pass promtool and OpenMetrics is served on request', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter();
  const held = heldBpfObjects(exporter.child.pid!).progs;
  const { text, samples } = await scrape(exporter.url);
  const programs = attachedAgainstHeld(samples, exporter.child.pid!);
  t.strictSame(programs.listed, programs.held, `the programs it holds (ids ${held.join(', ')}) are the ones /metrics lists`);
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
  for (const family of [
    'faultline_page_faults_total',
    'faultline_process_page_faults_total',
    'faultline_page_fault_access_total',
    'faultline_ringbuf_lost_records_total',
    'faultline_build_info',
    'faultline_bpf_programs_attached',
  ]) {
    t.match(text, new RegExp(`^${family}[{ ]`, 'm'), family);
  }
  const om = await fetch(exporter.url, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } });
  t.match(om.headers.get('content-type'), /application\/openmetrics-text/);
  const omText = await om.text();
  t.match(omText, /# EOF\n$/);
  t.match(omText, /^# TYPE faultline_page_faults counter$/m, 'OpenMetrics names the counter family without _total');
  t.match(omText, /^faultline_page_faults_total\{/m);
  t.match((await scrape(exporter.url)).text, /^# TYPE faultline_page_faults_total counter$/m, 'the Prometheus view is unchanged after an OpenMetrics scrape');
  const base = exporter.url.replace(/\/metrics$/, '');
  t.equal(await (await fetch(`${base}/healthz`)).text(), 'ok\n');
  t.match(await (await fetch(`${base}/`)).text(), /href="\/metrics"/);

  t.equal(await exporter.stop(), 0, 'exits 0 on SIGTERM');
  t.strictSame(await programsFreed(held), [], 'the kernel frees every program it held after SIGTERM');
});

t.test('trace detaches on SIGINT too', { skip: SKIP_NOT_ROOT }, async (t) => {
  const tracer = startCli(['trace', '--pid', String(process.pid)]);
  await waitFor('trace to attach', () => tracer.stderr().includes('tracing page faults'));
  const held = heldBpfObjects(tracer.child.pid!).progs;
  t.ok(held.length >= 2, `programs loaded while tracing: ids ${held.join(', ')}`);
  tracer.child.kill('SIGINT');
  t.equal(await tracer.exited, 0);
  t.strictSame(await programsFreed(held), [], 'the kernel frees every program it held after SIGINT');
});

t.test('check reports every feature, detaches, and exits 0 here', { skip: SKIP_NOT_ROOT }, async (t) => {
  const r = await runHoldingPrograms(process.execPath, [CLI, 'check']);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.ok(r.held.length > 0, `check held programs ${r.held.join(', ')}`);
  const expected = ['privileges', 'libbpf', 'btf', 'tracepoints', 'classic', 'perf events', 'huge pages', 'headroom', 'stalls', 'kmsg', 'oom eta', 'ring buffer', 'cgroups', 'bpf stats'];
  for (const feature of expected) t.match(r.stdout, new RegExp(`^(ok|warn) +${feature} `, 'm'), feature);
  // The core's lines, then each registered feature's in registration order, then the core's last two; fallbacks aside.
  const labels = r.stdout
    .split('\n')
    .filter((line) => /^(ok|warn|FAIL) /.test(line))
    .map((line) => line.slice(5, 21).trim())
    .filter((label) => label !== 'fallback');
  t.strictSame(labels, expected, 'one line each, in order');
  t.match(r.stdout, /^faultline can run here$/m);
  t.strictSame(await programsFreed(r.held), [], 'nothing left attached');
  const nobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, 'check'], {
    encoding: 'utf8',
    timeout: 60000,
  });
  t.equal(nobody.status, 1, 'exits 1 without privileges');
  t.match(nobody.stdout, /^FAIL +privileges +faultline needs CAP_BPF/m);
});

t.test('every command takes --version, --help, --log.level and --log.format', async (t) => {
  for (const command of ['serve', 'trace', 'check']) {
    const version = run([command, '--version']);
    t.equal(version.code, 0, `${command} --version: exit 0`);
    t.match(version.stdout, /^faultline \d+\.\d+\.\d+ \((revision [0-9a-f]{12}(-dirty)?, )?Node\.js v\d+\.\d+\.\d+\)\n$/, `${command} --version`);
    const help = run([command, '--help']);
    t.equal(help.code, 0);
    t.match(help.stdout, /\nGeneral:\n {2}--log\.level=LEVEL +Log messages/, `${command} --help: the general flags, in their section`);
    t.ok(help.stdout.split('\n').every((l) => l.length <= 100 || !/ /.test(l.trim())), `${command} --help: wrapped at 100 columns`);
    // An error in the flags, logged the way the flags ask: one JSON object.
    const json = run([command, '--log.format=json', '--nope']);
    t.equal(json.code, 1);
    const lines = json.stderr.trim().split('\n');
    t.equal(lines.length, 1, `${command}: one line`);
    t.match(JSON.parse(lines[0]!), { level: 'error', code: 'BAD_FLAG', msg: /^Unknown option '--nope'/, time: /^\d{4}-\d\d-\d\dT/ });
  }
  // A built checkout knows its revision.
  const head = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  if (head) t.match(run(['--version']).stdout, `revision ${head}`, 'the revision of this checkout');
  t.match(run(['serve', '--log.level=loud']).stderr, /msg="--log\.level \\"loud\\" must be one of: debug, info, warn, error"/);
});

t.test('bad input: one line, non-zero exit, nothing attached', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['unknown flag', ['serve', '--nope'], /^Unknown option '--nope'; see `faultline serve --help`$/],
    ['unknown command', ['frobnicate'], /^unknown command "frobnicate"/],
    ['bad pid', ['trace', '--pid', 'abc'], /^--pid "abc" is not a process id from 1 to \d+$/],
    ['pid beyond pid_max', ['trace', '--pid', '999999999'], /^--pid "999999999" is not a process id from 1 to \d+$/],
    ['no such pid', ['trace', '--pid', String(freePid())], /^--pid \d+: no such process/],
    ['bad format', ['trace', '--format', 'xml'], /^--format "xml" must be one of: text, json$/],
    ['bad listen address', ['serve', '--web.listen-address', 'nowhere'], /is not host:port/],
    ['bad tracepoint mode', ['serve', '--bpf.tracepoints', 'kprobe'], /must be one of: auto, tp_btf, classic/],
  ];
  for (const [what, args, want] of cases) {
    const r = run(args);
    t.equal(r.code, 1, `${what}: exit 1`);
    // One logfmt line at level error, the message a user acts on.
    const records = logRecords(r.stderr);
    t.equal(records.length, 1, `${what}: one line`);
    t.match(records[0], { level: 'error', msg: want }, `${what}: ${r.stderr.trim()}`);
  }
  t.test('BPF object missing', { skip: SKIP_NOT_ROOT }, async (t) => {
    const r = run(['serve', '--web.listen-address=127.0.0.1:0', '--bpf.object=/nonexistent/faultline.bpf.o']);
    t.equal(r.code, 1);
    t.match(r.stderr, /BPF object \/nonexistent\/faultline\.bpf\.o not found; build it with `npm run build`/);
  });
  t.test('port in use', { skip: SKIP_NOT_ROOT }, async (t) => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    t.teardown(() => blocker.close());
    const port = (blocker.address() as { port: number }).port;
    const r = await runHoldingPrograms(process.execPath, [CLI, 'serve', `--web.listen-address=127.0.0.1:${port}`]);
    t.equal(r.code, 1);
    t.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
    t.strictSame(await programsFreed(r.held), [], 'nothing left attached');
  });
  t.test('not root', { skip: SKIP_NOT_ROOT }, async (t) => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, 'serve'], {
      encoding: 'utf8',
      timeout: 30000,
    });
    t.equal(r.status, 1);
    t.match(logRecords(r.stderr), [{ level: 'error', msg: /^faultline needs CAP_BPF and CAP_PERFMON \(or CAP_SYS_ADMIN\).*run it as root/ }]);
  });
});
