/*
 * Live: the capabilities the Helm chart grants are the ones faultline needs.
 * Run as uid 0 with the capability bounding set cut down (as a container with
 * `capabilities: {drop: [ALL], add: [...]}` is), under setpriv.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { SKIP_NOT_ROOT, runWorkload, scrape, startCli, startExporter, sum } from './helpers/live.js';

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
