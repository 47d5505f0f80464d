/* serve's flags parsed into one typed configuration (no root: nothing is loaded). */
import t from 'tap';
import { FaultlineError } from '../src/errors.js';
import { parseServeConfig } from '../src/cli/serve-config.js';

const parse = (...argv: string[]) => parseServeConfig(argv, {});

t.test('the defaults, typed', async (t) => {
  const c = parse();
  if (!c) throw new Error('no config');
  t.strictSame(c.address, { host: '0.0.0.0', port: 10190 });
  t.equal(c.telemetryPath, '/metrics');
  t.equal(c.webConfigFile, null);
  t.equal(c.maxRequests, 256);
  t.strictSame(c.collectors, { 'fault-detail': true, processes: true, oom: true, stalls: true, headroom: true, 'oom-eta': true });
  t.equal(c.cpuBudget, 0.1);
  t.strictSame(c.state, { maxProcesses: 100, maxGroups: 1000, cgroupHierarchy: 'memory', exitGraceNs: 60_000_000_000n, rateWindowNs: 120_000_000_000n });
  t.equal(c.refreshMs, 10_000);
  t.strictSame(c.bpf, { objectPath: c.bpf.objectPath, tracepoints: 'auto', faultHook: 'auto', faultRingBytes: 8 * 2 ** 20 });
  t.equal(c.bpfStats, false);
  t.equal(c.keepCapabilities, false);
  t.equal(c.eventLog, null);
  t.equal(c.otlp, null, 'no endpoint in flags or environment: no push');
  t.equal(c.kubernetes, null);
  t.equal(parse('--help'), null, '--help: no configuration');
});

t.test('what the flags say, as numbers, durations in their units, lists as lists', async (t) => {
  const c = parse(
    '--web.listen-address=127.0.0.1:9999',
    '--no-collector.processes',
    '--processes.exit-grace=500ms',
    '--maps.refresh-interval=1m',
    '--event-log=/tmp/events.ndjson',
    '--event-log.pid=1',
    '--event-log.pid=2',
    '--event-log.comm=postgres',
    '--event-log.sample=10',
    '--event-log.max-size=1MiB',
    '--kubernetes.enabled',
    '--kubernetes.node-name=node-a',
    '--otlp.endpoint=http://127.0.0.1:4318',
    '--otlp.header=a=b',
    '--otlp.header=c=d',
    '--bpf.stats',
  );
  if (!c) throw new Error('no config');
  t.strictSame(c.address, { host: '127.0.0.1', port: 9999 });
  t.equal(c.collectors.processes, false);
  t.equal(c.state.maxProcesses, 0, 'no per-process series without the processes collector');
  t.equal(c.state.exitGraceNs, 500_000_000n);
  t.equal(c.refreshMs, 60_000);
  t.strictSame(c.eventLog, { path: '/tmp/events.ndjson', maxSizeBytes: 2 ** 20, maxFiles: 5, pids: [1, 2], comm: 'postgres', sampleEvery: 10, logsFaults: true });
  t.strictSame(c.kubernetes, { nodeName: 'node-a' });
  t.equal(c.nodeName, 'node-a');
  t.equal(c.otlp?.url, 'http://127.0.0.1:4318/v1/metrics');
  t.strictSame(c.otlp?.headers, { a: 'b', c: 'd' });
  t.equal(c.bpfStats, true);
});

t.test('an OOM-only event log logs no faults; the node name comes from $NODE_NAME too', async (t) => {
  const c = parseServeConfig(['--event-log=-'], { NODE_NAME: 'from-env' });
  t.equal(c?.eventLog?.logsFaults, false);
  t.strictSame(c?.eventLog?.pids, []);
  t.equal(c?.nodeName, 'from-env');
});

t.test('bad input: one FaultlineError with the flag in it', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--event-log.pid=5'], /--event-log\.pid, \.comm and \.cgroup need --event-log PATH/],
    [['--event-log=-', '--event-log.comm=a-comm-longer-than-15'], /--event-log\.comm .* must be 1 to 15 bytes/],
    [['--web.telemetry-path=/healthz'], /--web\.telemetry-path "\/healthz" must be a path/],
    [['--otlp.endpoint=ftp://x'], /endpoint/],
    [['--maps.refresh-interval=1ms'], /--maps\.refresh-interval "1ms" must be from 100ms/],
  ];
  for (const [argv, message] of cases) {
    let thrown: unknown = null;
    try {
      parse(...argv);
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof FaultlineError && thrown.code === 'BAD_FLAG', `${argv.join(' ')}: a BAD_FLAG error`);
    t.match((thrown as Error | null)?.message, message);
  }
});
