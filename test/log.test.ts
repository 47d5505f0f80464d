/* The logger: logfmt and JSON lines, levels, and what an odd message does to a line. */
import t from 'tap';
import { createLogger, logfmtLine, logfmtValue } from '../src/log.js';
import { parseLogfmt } from './helpers/logfmt.js';

t.test('logfmt values: bare words stay bare, anything else is quoted and escaped', async (t) => {
  t.equal(logfmtValue('info'), 'info');
  t.equal(logfmtValue('http://127.0.0.1:10190/metrics'), 'http://127.0.0.1:10190/metrics');
  t.equal(logfmtValue(''), '""');
  t.equal(logfmtValue('two words'), '"two words"');
  t.equal(logfmtValue('a="b"'), '"a=\\"b\\""');
  t.equal(logfmtValue('line\nbreak'), '"line\\nbreak"', 'a newline cannot split a record');
  t.equal(logfmtValue('back\\slash'), '"back\\\\slash"');
  t.equal(logfmtValue(42), '42');
  t.equal(logfmtValue({ a: 1 }), '"{\\"a\\":1}"');
});

t.test('a record: ts, level, msg first, then the fields; a hostile message stays one line and reads back', async (t) => {
  const line = logfmtLine(JSON.stringify({ level: 'warn', time: '2026-11-27T02:00:00.000Z', code: 'X', msg: 'evil "msg"\nlevel=debug' }));
  t.equal(line.split('\n').length, 2, 'one line and its newline');
  t.ok(line.startsWith('ts=2026-11-27T02:00:00.000Z level=warn msg='));
  t.strictSame(parseLogfmt(line.trim()), { ts: '2026-11-27T02:00:00.000Z', level: 'warn', msg: 'evil "msg"\nlevel=debug', code: 'X' });
  t.equal(logfmtLine('not json\n'), 'msg="not json"\n');
});

t.test('levels and formats', async (t) => {
  const lines: string[] = [];
  const warnOnly = createLogger('warn', 'logfmt', (l) => lines.push(l));
  warnOnly.info('quiet');
  warnOnly.warn('loud');
  warnOnly.error({ code: 'E' }, 'louder');
  t.equal(lines.length, 2, 'info is under warn');
  t.match(parseLogfmt(lines[0]!), { level: 'warn', msg: 'loud', ts: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/ });
  t.match(parseLogfmt(lines[1]!), { level: 'error', msg: 'louder', code: 'E' });
  const json: string[] = [];
  createLogger('debug', 'json', (l) => json.push(l)).debug({ libbpf_level: 'info' }, 'libbpf says');
  t.strictSame(Object.keys(JSON.parse(json[0]!)), ['level', 'time', 'libbpf_level', 'msg'], 'no pid, no hostname');
  t.match(JSON.parse(json[0]!), { level: 'debug', msg: 'libbpf says' });
});
