/*
 * Live: the capabilities the Helm chart grants are the ones faultline needs.
 * Run as uid 0 with the capability bounding set cut down (as a container with
 * `capabilities: {drop: [ALL], add: [...]}` is), under setpriv.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { CAP, bit, capabilityNames, parseCredentials, type Credentials } from '../src/cli/capabilities.js';
import { CLI, ROOT, SKIP_NOT_ROOT, runWorkload, scrape, startCli, startExporter, sum, type Exporter } from './helpers/live.js';
import { logRecords } from './helpers/logfmt.js';

const only = (...caps: string[]): string[] => ['setpriv', `--bounding-set=-all${caps.map((c) => `,+${c}`).join('')}`, '--inh-caps=-all'];

t.test('CAP_BPF + CAP_PERFMON count faults; CAP_SYSLOG adds the kernel log', { skip: SKIP_NOT_ROOT }, async (t) => {
  for (const caps of [['bpf', 'perfmon'], ['bpf', 'perfmon', 'syslog']]) {
    const exporter = await startExporter([], only(...caps));
    runWorkload('anon', '10');
    const { samples } = await scrape(exporter.url);
    t.ok(sum(samples, 'faultline_comm_page_faults_total', { comm: 'workload', region: 'anon' }) >= 2560, `${caps.join('+')}: faults counted`);
    t.ok(sum(samples, 'faultline_bpf_programs_attached') > 0, `${caps.join('+')}: programs attached`);
    // /dev/kmsg needs CAP_SYSLOG only where kernel.dmesg_restrict=1 (Debian's default).
    const restricted = readFileSync('/proc/sys/kernel/dmesg_restrict', 'utf8').trim() === '1';
    const kmsgWarning = exporter.stderr().includes('cannot read the kernel log');
    t.equal(kmsgWarning, restricted && !caps.includes('syslog'), kmsgWarning ? 'without CAP_SYSLOG, says the kernel log is out of reach' : 'reads /dev/kmsg');
    t.equal(await exporter.stop(), 0);
  }
});

t.test('without CAP_PERFMON it stops with the error that says what to grant', { skip: SKIP_NOT_ROOT }, async (t) => {
  const cli = startCli(['serve', '--web.listen-address=127.0.0.1:0'], only('bpf'));
  t.equal(await cli.exited, 1);
  t.match(cli.stderr(), /needs CAP_BPF and CAP_PERFMON/);
});

const BPF_PERFMON = bit(CAP.BPF) | bit(CAP.PERFMON);

/** The credentials of every thread of the exporter, and the descriptors it holds. */
function threadsOf(pid: number): Credentials[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => parseCredentials(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')));
}
function descriptorsOf(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return '';
    }
  });
}

async function checkDropped(
  t: Test,
  exporter: Exporter,
  want: { effective: bigint; bounding?: bigint; uid: number; governed: boolean },
): Promise<void> {
  // Debian's and Ubuntu's kernels at perf_event_paranoid=3 open perf events for CAP_SYS_ADMIN only: kept there, and said.
  if (exporter.stderr().includes('cap_sys_admin stays')) want = { ...want, effective: want.effective | bit(CAP.SYS_ADMIN) };
  const threads = threadsOf(exporter.child.pid!);
  t.ok(threads.length >= 5, `${threads.length} threads looked at`);
  for (const [i, c] of threads.entries()) {
    const where = `thread ${i + 1} of ${threads.length}`;
    t.equal(capabilityNames(c.effective), capabilityNames(want.effective), `${where}: effective`);
    t.equal(capabilityNames(c.permitted), capabilityNames(want.effective), `${where}: permitted`);
    t.equal(capabilityNames(c.ambient & ~want.effective), 'none', `${where}: nothing more in the ambient set`);
    t.equal(capabilityNames(c.inheritable & ~want.effective), 'none', `${where}: nothing more in the inheritable set`);
    if (want.bounding !== undefined) t.equal(capabilityNames(c.bounding), capabilityNames(want.bounding), `${where}: bounding`);
    t.ok(c.noNewPrivs, `${where}: no_new_privs`);
    t.equal(c.uids[1], want.uid, `${where}: uid`);
  }
  const fds = descriptorsOf(exporter.child.pid!);
  t.ok(fds.includes('/dev/kmsg'), '/dev/kmsg, opened before CAP_SYSLOG went, is still read');
  t.equal(fds.includes('anon_inode:bpf-stats'), want.governed, want.governed ? 'the run-time statistics, opened with CAP_SYS_ADMIN, are still held' : 'no CAP_SYS_ADMIN: no statistics');
  t.match(exporter.stderr(), /capabilities: \S+ only, no_new_privs set/, 'says what it runs with');
  t.notMatch(exporter.stderr(), /could not drop|cannot read the kernel log/);

  runWorkload('anon', '10');
  const { samples } = await scrape(exporter.url);
  t.ok(sum(samples, 'faultline_comm_page_faults_total', { comm: 'workload', region: 'anon' }) >= 2560, 'faults counted, regions settled');
  t.equal(sum(samples, 'faultline_collector_success'), 4, 'every map read, ring drain and memory-file reading (counts, stalls, oom, oom-eta) works without the dropped capabilities');
  t.equal(sum(samples, 'faultline_fault_detail_state', { state: 'on' }), 1);
  t.equal(exporter.stderr().includes('overhead governor is off'), !want.governed);
}

t.test('as root: keeps CAP_BPF and CAP_PERFMON only, on every thread, and no_new_privs', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter();
  await checkDropped(t, exporter, { effective: BPF_PERFMON, bounding: BPF_PERFMON, uid: 0, governed: true });
  t.equal(await exporter.stop(), 0);
});

t.test('the Helm chart\'s set (uid 0, no CAP_SETPCAP): CAP_SYSLOG dropped after /dev/kmsg is open', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter([], only('bpf', 'perfmon', 'syslog'));
  await checkDropped(t, exporter, { effective: BPF_PERFMON, uid: 0, governed: false });
  t.equal(await exporter.stop(), 0);
});

const NOBODY = 65534;
const unreadable = SKIP_NOT_ROOT || (spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'test', '-r', CLI]).status !== 0 && `this checkout is not readable by uid ${NOBODY}`);

t.test('as a dedicated user with the systemd unit\'s ambient capabilities', { skip: unreadable }, async (t) => {
  const unit = readFileSync(`${ROOT}deploy/systemd/faultline.service`, 'utf8');
  const ambient = /^AmbientCapabilities=(.+)$/m.exec(unit)![1]!.split(/\s+/);
  t.strictSame(/^CapabilityBoundingSet=(.+)$/m.exec(unit)![1]!.split(/\s+/), ambient, 'the unit bounds what it grants');
  const caps = ambient.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
  const exporter = await startExporter([], ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', `--inh-caps=-all,${caps}`, `--ambient-caps=-all,${caps}`]);
  // tracefs is mode 0700: a uid other than 0 reads it at load through CAP_DAC_READ_SEARCH, so that one stays too.
  await checkDropped(t, exporter, { effective: BPF_PERFMON | bit(CAP.DAC_READ_SEARCH), uid: NOBODY, governed: true });
  t.equal(await exporter.stop(), 0);
});

t.test('--keep-capabilities keeps them all', { skip: SKIP_NOT_ROOT }, async (t) => {
  const own = parseCredentials(readFileSync('/proc/self/status', 'utf8'));
  const exporter = await startExporter(['--keep-capabilities']);
  const [main] = threadsOf(exporter.child.pid!);
  t.equal(main!.effective, own.effective);
  t.notMatch(exporter.stderr(), /capabilities:/);
  t.equal(await exporter.stop(), 0);
});

t.test('a forged FAULTLINE_INHERITED_FDS is refused in one line', { skip: SKIP_NOT_ROOT }, async (t) => {
  // Descriptor 3 is the test's own: whatever the spawned process has there (or nothing), it is not /dev/kmsg.
  const cli = startCli(['serve', '--web.listen-address=127.0.0.1:0'], [], { FAULTLINE_INHERITED_FDS: 'kmsg=3' });
  t.equal(await cli.exited, 1);
  const records = logRecords(cli.stderr());
  t.equal(records.length, 1, 'one line');
  t.match(records[0], { level: 'error', msg: /^FAULTLINE_INHERITED_FDS: descriptor 3 is (not open|"[^"]+"), not \/dev\/kmsg; unset FAULTLINE_INHERITED_FDS$/ });
});
