/*
 * Property-based fuzzing (fast-check) of every parser of flags, environment
 * variables, kernel text and kernel records: random and hostile input gets a
 * value or a clear error (a FaultlineError or OtlpConfigError, or an Error
 * whose message says what is wrong), never a TypeError, a RangeError, or
 * another crash; and each call returns promptly (a hang would time the test
 * out).
 */
import { ROOT } from './helpers/live.js';
import t from 'tap';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parseCgroupMounts } from '../src/readers/cgroups.js';
import { workloadOf } from '../src/aggregate/container-of.js';
import { parseVmstatFaults } from '../src/features/faults/detail-governor.js';
import { parseKeyedValues, parseLimit, parsePsi } from '../src/readers/memory-headroom.js';
import { PROCESS_FAULTS_SIZE, STALL_HIST_SIZE, STALL_KEY_SIZE } from '../src/bpf/contract.js';
import { decodeFaultEvent } from '../src/features/trace/decode.js';
import { decodeOomEvent } from '../src/features/oom/decode.js';
import { decodeProcessFaults, decodeThreadRecords } from '../src/features/faults/decode.js';
import { decodeStall } from '../src/features/stalls/decode.js';
import { parseCpuList } from '../src/readers/cpu-list.js';
import { FaultlineError } from '../src/errors.js';
import { parseOomReport } from '../src/features/oom/oom-report.js';
import { parseTracepointFormat } from '../src/readers/tracepoint-format.js';
import { byteSize, durationSeconds, fraction, oneOf, positiveInt, powerOfTwo, processId, wholeNumber } from '../src/cli/flags.js';
import { parseCredentials, parseInheritedFds } from '../src/cli/capabilities.js';
import { parseCapEff } from '../src/cli/preflight.js';
import { parseThpMode } from '../src/readers/thp.js';
import { SERVE_FLAGS, parseServeConfig } from '../src/cli/serve-config.js';
import { ringSize } from '../src/cli/common.js';
import { parseListenAddress } from '../src/expose/http.js';
import { OtlpConfigError, parseKeyValueList, resolveOtlpConfig } from '../src/expose/otlp-config.js';

const RUNS = 2000;
/** The longest one call may take before it counts as a hang. */
const CALL_MS = 200;

/** Runs fn; a clear error is fine, anything else (or a slow call) fails the property. */
function clear(fn: () => unknown): boolean {
  const started = Date.now();
  try {
    fn();
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) throw err;
    if (!(err instanceof FaultlineError || err instanceof OtlpConfigError || err instanceof Error)) throw new Error(`threw a non-Error: ${String(err)}`, { cause: err });
    if (!/\w{3}/.test(err.message) || err.message.length > 2000) throw new Error(`unclear error message: ${JSON.stringify(err.message)}`, { cause: err });
  }
  const took = Date.now() - started;
  if (took > CALL_MS) throw new Error(`took ${took} ms`);
  return true;
}

/** Text that looks like the kind of input, with hostile pieces mixed in. */
const hostile = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('', ' ', '\0', '-1', '0', '1e309', 'NaN', 'Infinity', '9'.repeat(400), '0x10', '1.5', '../../etc/passwd', '\u202e', '%', '%%', '=', ',', '[]', '[::1]:80'),
  fc.integer().map(String),
  fc.double().map(String),
  fc.bigInt().map(String),
);
const pieces = (parts: string[]): fc.Arbitrary<string> =>
  fc.array(fc.oneof(fc.constantFrom(...parts), hostile), { maxLength: 30 }).map((xs) => xs.join(''));

t.test('flag values', async (t) => {
  fc.assert(
    fc.property(hostile, (v) =>
      [
        () => positiveInt('f', v),
        () => wholeNumber('f', v),
        () => durationSeconds('f', v),
        () => durationSeconds('f', v, 0.1),
        () => byteSize('f', v),
        () => fraction('f', v, 2),
        () => powerOfTwo('f', v, 1 << 22),
        () => ringSize('f', v),
        () => processId('f', v, 32767),
        () => oneOf('f', v, ['a', 'b']),
        () => parseListenAddress(v),
      ].every(clear),
    ),
    { numRuns: RUNS },
  );
  t.pass('every validator returns a value or one clear error');
});

t.test('serve argv', async (t) => {
  const names = Object.keys(SERVE_FLAGS);
  const arg = fc.oneof(
    fc.tuple(fc.constantFrom(...names), hostile).map(([n, v]) => `--${n}=${v}`),
    fc.constantFrom(...names).map((n) => `--${n}`),
    fc.constantFrom(...names).map((n) => `--no-${n}`),
    hostile,
  );
  fc.assert(
    fc.property(fc.array(arg, { maxLength: 12 }), (argv) =>
      // The whole of serve's configuration: every flag parsed, ranged and cross-checked (nothing is loaded).
      clear(() => parseServeConfig(argv, {})),
    ),
    { numRuns: RUNS },
  );
  t.pass('parseServeConfig returns a configuration or one clear error');
});

t.test('OTLP flags and OTEL_* variables', async (t) => {
  const keys = [
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
    'OTEL_EXPORTER_OTLP_PROTOCOL',
    'OTEL_EXPORTER_OTLP_HEADERS',
    'OTEL_EXPORTER_OTLP_TIMEOUT',
    'OTEL_METRIC_EXPORT_INTERVAL',
    'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
    'OTEL_RESOURCE_ATTRIBUTES',
    'OTEL_SERVICE_NAME',
    'OTEL_SDK_DISABLED',
  ];
  const value = fc.oneof(hostile, fc.constantFrom('http://collector:4318', 'grpc', 'delta', 'true', 'a=b,c=%20d', '60000'));
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom(...keys), value),
      fc.record({ endpoint: fc.option(value, { nil: undefined }), headers: fc.option(fc.array(value, { maxLength: 3 }), { nil: undefined }) }),
      (env, flags) => clear(() => resolveOtlpConfig(flags, env)) && clear(() => parseKeyValueList(env.OTEL_RESOURCE_ATTRIBUTES ?? '', 'x')),
    ),
    { numRuns: RUNS },
  );
  t.pass('a configuration, null, or one clear error');
});

t.test('tracefs format files', async (t) => {
  const fixture = readFileSync(`${ROOT}test/fixtures/tracefs/page_fault_user-6.18.format`, 'utf8').split('\n');
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constantFrom(...fixture), pieces(['\tfield:', 'unsigned long address;', '\toffset:', ';\tsize:', ';\tsigned:', 'name: ', 'ID: ', '[', ']', '8', '16'])), { maxLength: 40 }), (lines) =>
      clear(() => parseTracepointFormat(lines.join('\n'))),
    ),
    { numRuns: RUNS },
  );
  t.pass('a format or "not a tracepoint format file"');
});

t.test('kernel log lines, cgroup paths, /proc and /sys text', async (t) => {
  fc.assert(
    fc.property(
      pieces(['oom-kill:', 'constraint=CONSTRAINT_MEMCG', ',pid=', ',task_memcg=/a,b', 'oom_memcg=', ',uid=0', '6,1234,5678,-;']),
      pieces(['/kubepods', '/burstable', '/pod', '.slice', 'kubepods-burstable-pod', 'cri-containerd-', 'crio-', 'docker-', '.scope', '/system.slice/', '0123456789abcdef'.repeat(4), '_', '-']),
      pieces(['36 35 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n', ' - cgroup2 cgroup2 rw\n', ' ', '/sys/fs/cgroup', '\n']),
      pieces(['always ', '[madvise]', ' never', '[always]', '[never]', '[', ']', 'CapEff:\t', 'CapPrm:\t', 'CapInh:\t', 'CapBnd:\t', 'CapAmb:\t', 'Uid:\t', '0\t0\t0\t0', 'NoNewPrivs:\t1', '000001ffffffffff', '\n', 'pgfault ', '12345', 'some avg10=', ' avg60=', ' avg300=', ' total=', 'full ', '0.00', '\n', 'max', 'anon ', 'file ']),
      pieces(['0', '-', ',', '1', '3', '8191', '8192', '4294967295']),
      pieces(['kmsg', 'bpf-stats', '=', ',', '3', '5', '65535', '65536']),
      (kmsg, cgroup, mountinfo, proc, cpus, inherited) =>
        [
          () => parseOomReport(kmsg),
          () => workloadOf(cgroup),
          () => parseCgroupMounts(mountinfo),
          () => parseCapEff(proc),
          () => parseCredentials(proc),
          () => parseInheritedFds(inherited),
          () => parseVmstatFaults(proc),
          () => parsePsi(proc),
          () => parseKeyedValues(proc),
          () => parseLimit(proc),
          () => parseCpuList(cpus),
          () => parseThpMode(proc),
        ].every(clear),
    ),
    { numRuns: RUNS },
  );
  t.throws(() => parseCpuList('0-4294967295'), /names more than 8192 CPUs/, 'a CPU list cannot make faultline loop for minutes');
  t.pass('each a value or one clear error');
});

t.test('ring records, map values and iterator output', async (t) => {
  const bytes = (min: number, max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
  fc.assert(
    fc.property(bytes(0, 300), bytes(PROCESS_FAULTS_SIZE, PROCESS_FAULTS_SIZE), bytes(STALL_KEY_SIZE, STALL_KEY_SIZE), bytes(STALL_HIST_SIZE, STALL_HIST_SIZE), (any, pf, key, hist) => {
      // A ring record's kind word decides; give the decoders their own kinds half of the time.
      if (any.length >= 4 && any[0]! & 1) any.writeUInt32LE((any[1]! & 1) + 1, 0);
      // Records are sized by the kernel, so the decoders must not throw at all.
      decodeFaultEvent(any);
      decodeOomEvent(any);
      decodeThreadRecords(any);
      decodeProcessFaults(pf);
      decodeStall(key, 0, hist, 0);
    }),
    { numRuns: RUNS },
  );
  t.pass('every record decodes to a value or null');
});
