import { ROOT } from './helpers/live.js';
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fieldOffset, parseTracepointFormat } from '../src/readers/tracepoint-format.js';

const fixture = (name: string): string => readFileSync(`${ROOT}test/fixtures/tracefs/${name}`, 'utf8');

t.test('page_fault_user on 6.18', async (t) => {
  const f = parseTracepointFormat(fixture('page_fault_user-6.18.format'));
  t.equal(f.name, 'page_fault_user');
  t.equal(f.id, 190);
  t.equal(fieldOffset(f, 'address', 8), 8);
  t.equal(fieldOffset(f, 'ip', 8), 16);
  t.equal(fieldOffset(f, 'error_code', 8), 24);
  t.equal(f.fields.get('common_pid')?.signed, true);
});

t.test('mark_victim with the victim details (6.8+)', async (t) => {
  const f = parseTracepointFormat(fixture('mark_victim-6.18.format'));
  t.strictSame(
    ['pid', 'comm', 'total_vm', 'anon_rss', 'file_rss', 'shmem_rss', 'uid', 'pgtables', 'oom_score_adj'].map((n) => fieldOffset(f, n)),
    [8, 12, 16, 24, 32, 40, 48, 56, 64],
  );
  t.equal(f.fields.get('comm')?.type, '__data_loc char[]');
  t.equal(fieldOffset(f, 'oom_score_adj', 2), 64);
  t.equal(fieldOffset(f, 'oom_score_adj', 8), -1, 'a size mismatch reads as absent');
});

t.test('mark_victim on old kernels carries only pid', async (t) => {
  const f = parseTracepointFormat(fixture('mark_victim-5.10.format'));
  t.equal(fieldOffset(f, 'pid', 4), 8);
  t.equal(fieldOffset(f, 'comm'), -1);
  t.equal(fieldOffset(f, 'total_vm', 8), -1);
});

t.test('array fields keep their suffix in the type', async (t) => {
  const f = parseTracepointFormat('name: x\nID: 1\nformat:\n\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n');
  t.equal(f.fields.get('comm')?.type, 'char[16]');
  t.equal(fieldOffset(f, 'comm', 16), 8);
});

t.test('rejects text that is not a format file', async (t) => {
  t.throws(() => parseTracepointFormat('hello'), /not a tracepoint format file/);
});
