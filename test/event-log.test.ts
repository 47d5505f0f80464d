import t from 'tap';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog } from '../src/deliver/event-log.js';

const line = (i: number): string => JSON.stringify({ i, pad: 'x'.repeat(40) }); // 58 bytes + newline

t.test('writes lines, rotates by size, keeps max-files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-log-'));
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
  t.same(JSON.parse(current.at(-1)!).i, 99, 'the newest line is last in the current file');
  const previous = readFileSync(`${path}.1`, 'utf8').trim().split('\n');
  t.equal(JSON.parse(previous.at(-1)!).i + 1, JSON.parse(current[0]!).i, 'no line lost across a rotation');
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
  const dir = mkdtempSync(join(tmpdir(), 'faultline-log-'));
  const log = new EventLog({ path: join(dir, 'e'), maxBacklogBytes: 200 });
  for (let i = 0; i < 10; i++) log.write(line(i)); // 59 bytes each: 4 fit
  t.equal(log.stats.droppedBacklog, 6);
  await log.close();
  t.equal(log.stats.records, 4);
});

t.test('a path that cannot be opened fails at once', async (t) => {
  t.throws(() => new EventLog({ path: '/nonexistent/dir/events' }), /ENOENT/);
});
