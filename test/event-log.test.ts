import t from 'tap';
import { existsSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/temp.js';
import { EventLog } from '../src/deliver/event-log.js';

const line = (i: number): string => JSON.stringify({ i, pad: 'x'.repeat(40) }); // 58 bytes + newline

t.test('writes lines, rotates by size, keeps max-files', async (t) => {
  const dir = tempDir(t, 'faultline-log-');
  const path = join(dir, 'events.ndjson');
  const log = new EventLog({ path, maxSizeBytes: 1000, maxFiles: 3 });
  for (let i = 0; i < 100; i++) {
    log.write(line(i));
    if (i % 10 === 9) {
      log.flush();
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  await log.close();
  t.equal(log.stats.records, 100);
  t.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`), 'rotated files');
  t.notOk(existsSync(`${path}.3`), 'no more than max-files');
  const current = readFileSync(path, 'utf8').trim().split('\n');
  t.ok(readFileSync(path).length <= 1000, 'each file within max-size');
  t.strictSame(JSON.parse(current.at(-1)!).i, 99, 'the newest line is last in the current file');
  const previous = readFileSync(`${path}.1`, 'utf8').trim().split('\n');
  t.equal((JSON.parse(previous.at(-1)!) as { i: number }).i + 1, (JSON.parse(current[0]!) as { i: number }).i, 'no line lost across a rotation');
});

t.test('a write error is reported once, counted, and never thrown', async (t) => {
  const errors: string[] = [];
  const log = new EventLog({ path: '/dev/full', onError: (m) => errors.push(m) });
  for (let i = 0; i < 5; i++) {
    log.write(line(i));
    log.flush();
    await new Promise((r) => setTimeout(r, 20));
  }
  await log.close();
  t.equal(errors.length, 1, 'reported once');
  t.match(errors[0], /event log \/dev\/full: write failed \(ENOSPC: no space left on device/);
  t.equal(log.stats.records, 0);
  t.equal(log.stats.droppedWriteError, 5, 'every line counted as dropped');
  t.ok(log.stats.writeErrors >= 1);
});

t.test('a full backlog drops and counts', async (t) => {
  const dir = tempDir(t, 'faultline-log-');
  const log = new EventLog({ path: join(dir, 'e'), maxBacklogBytes: 200 });
  for (let i = 0; i < 10; i++) log.write(line(i)); // 59 bytes each: 4 fit
  t.equal(log.stats.droppedBacklog, 6);
  await log.close();
  t.equal(log.stats.records, 4);
});

t.test('a path that cannot be opened fails at once', async (t) => {
  t.throws(() => new EventLog({ path: '/nonexistent/dir/events' }), /ENOENT/);
});

t.test('a batch larger than a file is split at line boundaries: no file passes max-size', async (t) => {
  const dir = tempDir(t, 'faultline-log-');
  const path = join(dir, 'events.ndjson');
  const log = new EventLog({ path, maxSizeBytes: 1024, maxFiles: 50 });
  for (let i = 0; i < 300; i++) log.write(line(i)); // ~17.7 KB in one flush
  await log.close();
  t.equal(log.stats.records, 300);
  const files = readdirSync(dir).map((f) => join(dir, f));
  t.ok(files.length >= 17, `${files.length} files`);
  for (const f of files) t.ok(statSync(f).size <= 1024, `${f}: ${statSync(f).size} bytes`);
  const lines = files.flatMap((f) => readFileSync(f, 'utf8').trim().split('\n'));
  t.equal(new Set(lines.map((l) => JSON.parse(l).i)).size, 300, 'every line whole, once');
});

t.test('appending to an existing file counts what is there', async (t) => {
  const dir = tempDir(t, 'faultline-log-');
  const path = join(dir, 'events.ndjson');
  writeFileSync(path, `${'y'.repeat(899)}\n`);
  const log = new EventLog({ path, maxSizeBytes: 1000, maxFiles: 3 });
  for (let i = 0; i < 4; i++) log.write(line(i)); // ~230 bytes: past the limit with the 900 there
  await log.close();
  t.equal(statSync(`${path}.1`).size, 900 + line(0).length + 1, 'the old file took what fit (one line)');
  t.ok(statSync(path).size <= 1000);
});

t.test('created for its owner only, never through a symlink; stray old files beyond max-files removed', async (t) => {
  const dir = tempDir(t, 'faultline-log-');
  const path = join(dir, 'events.ndjson');
  const log = new EventLog({ path, maxSizeBytes: 4096, maxFiles: 2 });
  t.equal(statSync(path).mode & 0o777, 0o600, 'mode 0600');
  writeFileSync(`${path}.7`, 'old\n');
  for (let i = 0; i < 80; i++) log.write(line(i));
  await log.close();
  t.notOk(existsSync(`${path}.7`), 'a file beyond max-files is removed at rotation');
  t.notOk(existsSync(`${path}.2`), 'two files in all');
  const target = join(dir, 'target');
  writeFileSync(target, '');
  symlinkSync(target, join(dir, 'link'));
  t.throws(() => new EventLog({ path: join(dir, 'link') }), /ELOOP/, 'a symlink is refused');
});
