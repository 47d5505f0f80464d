import t from 'tap';
import { byteSize, collectorOn, durationSeconds, fraction, oneOf, pidMax, powerOfTwo, processId, parseFlags, positiveInt, wholeNumber } from '../src/cli/flags.js';
import { hasBpfCapabilities, parseCapEff } from '../src/cli/preflight.js';
import { parseListenAddress } from '../src/expose/http.js';
import { ringSize } from '../src/cli/common.js';

t.test('flags', async (t) => {
  const specs = { 'web.listen-address': { type: 'string', help: 'x', default: ':1' }, help: { type: 'boolean', help: 'h' } } as const;
  t.strictSame(parseFlags('serve', specs, ['--web.listen-address=127.0.0.1:9']), { 'web.listen-address': '127.0.0.1:9', help: undefined });
  t.strictSame(parseFlags('serve', specs, []), { 'web.listen-address': ':1', help: undefined });
  t.throws(() => parseFlags('serve', specs, ['--nope']), { code: 'BAD_FLAG', message: /Unknown option '--nope'.*faultline serve --help/ });
  t.throws(() => parseFlags('serve', specs, ['extra']), { code: 'BAD_FLAG' });
  t.throws(() => parseFlags('serve', specs, ['--web.listen-address=:1', '--web.listen-address=:2']), {
    code: 'BAD_FLAG',
    message: '--web.listen-address is given more than once; give it once',
  });
  const many = { pid: { type: 'string', help: 'p', multiple: true } } as const;
  t.strictSame(parseFlags('serve', many, ['--pid=1', '--pid=2']).pid, ['1', '2'], 'a repeatable flag repeats');
});

t.test('ranges', async (t) => {
  t.equal(durationSeconds('maps.refresh-interval', '100ms', 0.1), 0.1);
  for (const bad of ['0s', '0.1ms', '99ms']) t.throws(() => durationSeconds('maps.refresh-interval', bad, 0.1), { message: /must be from 100ms to 2147483647ms/ }, bad);
  t.throws(() => durationSeconds('otlp.interval', '999ms', 1), { message: /must be from 1s to 2147483647ms/ });
  for (const bad of ['1000h', '24856h', '2147484s']) t.throws(() => durationSeconds('otlp.interval', bad, 1), { message: /must be from 1s to 2147483647ms/ }, bad);
  t.equal(durationSeconds('processes.exit-grace', '0s', 0), 0, 'a floor of 0 where none makes sense');
  t.equal(durationSeconds('d', '2147483647ms'), 2147483.647);
  t.throws(() => durationSeconds('d', '1'.repeat(40) + 's'), { message: /not a duration/ }, 'a huge number is not a duration');
  t.throws(() => positiveInt('event-log.sample', '2147483648'), { message: /from 1 to 2147483647/ });
  t.throws(() => positiveInt('event-log.max-files', '99999999999', 'a whole number', 1000), { message: /from 1 to 1000/ });
  t.equal(pidMax(() => '4194304\n'), 4194304);
  t.equal(pidMax(() => '32768'), 32768);
  t.equal(pidMax(() => 'junk'), 4194304, 'unreadable or odd: the kernel\'s ceiling');
  t.equal(pidMax(() => '99999999999'), 4194304);
  t.equal(processId('pid', '32767', 32767), 32767);
  for (const bad of ['0', '32768', '4294967297', '-1', '1e3']) t.throws(() => processId('pid', bad, 32767), { message: /is not a process id from 1 to 32767/ }, bad);
  t.equal(byteSize('event-log.max-size', '1MiB'), 1048576);
  t.throws(() => byteSize('event-log.max-size', '2000GiB'), { message: /more than 1099511627776 bytes/ });
});

t.test('values', async (t) => {
  t.equal(positiveInt('pid', '42'), 42);
  for (const bad of ['0', '-1', 'abc', '1.5', '99999999999999999999', '2147483648']) t.throws(() => positiveInt('pid', bad), { code: 'BAD_FLAG' }, bad);
  t.equal(wholeNumber('processes.max', '0'), 0, '0 is a whole number: no per-process series');
  t.equal(wholeNumber('processes.max', '100'), 100);
  for (const bad of ['-1', 'abc', '1.5', '', '99999999999999999999']) t.throws(() => wholeNumber('processes.max', bad), { code: 'BAD_FLAG', message: /not a whole number from 0 to 2147483647/ }, bad);
  t.equal(fraction('bpf.cpu-budget', '0.1', 2), 0.1);
  t.equal(fraction('bpf.cpu-budget', '0', 2), 0, '0: no governor');
  t.equal(fraction('bpf.cpu-budget', '2', 2), 2, 'at most every CPU');
  for (const bad of ['-0.1', 'abc', '', '2.5', '1e-3', '.5', 'NaN', 'Infinity', '1'.repeat(400)]) {
    t.throws(() => fraction('bpf.cpu-budget', bad, 2), { code: 'BAD_FLAG', message: /not a number from 0 to 2/ }, bad);
  }
  t.equal(powerOfTwo('bpf.thread-slots', '1', 1 << 22), 1);
  t.equal(powerOfTwo('bpf.thread-slots', '16384', 1 << 22), 16384);
  for (const bad of ['0', '3', '-4', '16384.0', '8388608', 'x', '']) {
    t.throws(() => powerOfTwo('bpf.thread-slots', bad, 1 << 22), { code: 'BAD_FLAG', message: /not a power of two from 1 to 4194304/ }, bad);
  }
  t.equal(durationSeconds('d', '60s'), 60);
  t.equal(durationSeconds('d', '2m'), 120);
  t.equal(durationSeconds('d', '500ms'), 0.5);
  t.throws(() => durationSeconds('d', '10'), /not a duration/);
  t.equal(oneOf('format', 'json', ['text', 'json']), 'json');
  t.throws(() => oneOf('format', 'xml', ['text', 'json']), /must be one of: text, json/);
});

t.test('collectors: on by default, --no-collector.NAME turns one off', async (t) => {
  t.equal(collectorOn({}, 'fault-detail'), true);
  t.equal(collectorOn({ 'collector.fault-detail': true }, 'fault-detail'), true);
  t.equal(collectorOn({ 'no-collector.fault-detail': true }, 'fault-detail'), false);
  t.throws(() => collectorOn({ 'collector.fault-detail': true, 'no-collector.fault-detail': true }, 'fault-detail'), { code: 'BAD_FLAG', message: /contradict/ });
});

t.test('listen addresses', async (t) => {
  t.strictSame(parseListenAddress('127.0.0.1:10190'), { host: '127.0.0.1', port: 10190 });
  t.strictSame(parseListenAddress(':10190'), { host: '0.0.0.0', port: 10190 });
  t.strictSame(parseListenAddress('[::1]:80'), { host: '::1', port: 80 });
  for (const bad of ['10190', 'host', 'a:99999', 'a:b']) t.throws(() => parseListenAddress(bad), { code: 'BAD_FLAG' }, bad);
});

t.test('capabilities', async (t) => {
  const root = parseCapEff('Name:\tx\nCapEff:\t000001ffffffffff\n');
  t.ok(hasBpfCapabilities(root));
  t.notOk(hasBpfCapabilities(parseCapEff('CapEff:\t0000000000000000\n')));
  t.ok(hasBpfCapabilities((1n << 38n) | (1n << 39n)), 'CAP_BPF + CAP_PERFMON');
  t.notOk(hasBpfCapabilities(1n << 39n), 'CAP_BPF alone');
  t.ok(hasBpfCapabilities(1n << 21n), 'CAP_SYS_ADMIN');
});

t.test('ring buffer sizes', async (t) => {
  t.equal(ringSize('bpf.ring-size', '4MiB'), 4 << 20);
  t.equal(ringSize('bpf.ring-size', '65536'), 65536);
  t.equal(ringSize('bpf.ring-size', '1GiB'), 2 ** 30);
  for (const bad of ['3MiB', '32KiB', '4096', '0', '1.5MiB']) t.throws(() => ringSize('bpf.ring-size', bad), { code: 'BAD_FLAG', message: /power of two from 64KiB to 1GiB/ }, bad);
  t.throws(() => ringSize('bpf.ring-size', '2GiB'), { message: /more than 1073741824 bytes/ });
});

