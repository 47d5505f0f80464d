/* The kernel log reader: one record per read as /dev/kmsg gives them (a FIFO stands in), OOM reports by victim pid. */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/temp.js';
import { KmsgOomReports } from '../src/features/oom/kmsg.js';

const kill = (pid: number, constraint = 'CONSTRAINT_MEMCG'): string =>
  `6,${pid},4401356188,-;oom-kill:constraint=${constraint},nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/faultline-test-1,task_memcg=/faultline-test-1/a,task=workload,pid=${pid},uid=0\n`;

/** A FIFO standing in for /dev/kmsg: its path, a non-blocking read end and a write end, removed after the test. */
function fakeKmsg(teardown: (fn: () => void) => void): { path: string; reader: number; writer: number } {
  const dir = tempDir({ teardown }, 'faultline-kmsg-');
  const path = join(dir, 'kmsg');
  execFileSync('mkfifo', [path]);
  // The writer opens after the reader (a FIFO opened for writing without a reader fails with ENXIO).
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  teardown(() => {
    closeSync(writer);
    closeSync(reader);
  });
  return { path, reader, writer };
}

t.test('reads OOM reports from records, skips what was there before it started, hands each out once', async (t) => {
  const { path, reader, writer } = fakeKmsg((fn) => t.teardown(fn));
  writeSync(writer, kill(100)); // logged before faultline started
  const reports = new KmsgOomReports(path, reader);
  t.equal(reports.unavailable, null);
  t.equal(reports.take(100), null, 'a report from before the start is skipped');

  writeSync(writer, '6,2,3,-;a line that is no OOM report\n');
  reports.poll();
  writeSync(writer, kill(200));
  reports.poll();
  writeSync(writer, kill(300, 'CONSTRAINT_NONE'));
  t.strictSame(reports.take(200), { pid: 200, constraint: 'memcg', oomMemcg: '/faultline-test-1', taskMemcg: '/faultline-test-1/a' });
  t.equal(reports.take(200), null, 'handed out once');
  t.equal(reports.take(300)?.constraint, 'global', 'take() reads what arrived since the last poll');
  t.equal(reports.take(400), null, 'no report for a pid never killed');
});

t.test('keeps the latest 100 reports', async (t) => {
  const { path, reader, writer } = fakeKmsg((fn) => t.teardown(fn));
  const reports = new KmsgOomReports(path, reader);
  for (let pid = 1000; pid < 1101; pid++) {
    writeSync(writer, kill(pid));
    reports.poll();
  }
  t.equal(reports.take(1000), null, 'the oldest of 101 is forgotten');
  t.equal(reports.take(1001)?.pid, 1001);
  t.equal(reports.take(1100)?.pid, 1100);
});

t.test('a path it cannot read says why; one that is a plain file ends each poll at its end', async (t) => {
  const missing = new KmsgOomReports('/nonexistent/kmsg');
  t.match(missing.unavailable, /^\/nonexistent\/kmsg: ENOENT/);
  t.equal(missing.take(1), null);
  const dir = tempDir(t, 'faultline-kmsg-');
  const file = join(dir, 'log');
  writeFileSync(file, kill(7));
  // A regular file reads 0 bytes at its end instead of EAGAIN: before, the poll looped there for ever.
  const plain = new KmsgOomReports(file);
  t.equal(plain.take(7), null, 'skipped at the start, and the poll returned');
  plain.close();
  missing.close();
});
