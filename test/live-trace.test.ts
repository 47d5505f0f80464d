/*
 * Live: `trace --pid` on the 100 MiB workload, the lab's first exercise. The
 * number of [PAGE_FAULT] lines equals bpftrace's count of the same tracepoint
 * for that pid, and the anonymous addresses step by one page; on either fault
 * hook.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { SKIP_NOT_ROOT, buildWorkload, countUserFaults, interrupt, startCli, waitFor } from './helpers/live.js';

// The perf event page-faults (the hook on architectures without the exceptions tracepoints) must see the same user-mode faults.
for (const hook of ['tracepoint', 'perf-event']) t.test(`trace --pid prints every user page fault of the process (--bpf.fault-hook=${hook})`, { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  // The shell waits for a line on stdin, then becomes the workload (same pid).
  const target = spawn('sh', ['-c', `read go && exec ${workload} anon 100`], { stdio: ['pipe', 'pipe', 'inherit'] });
  let targetOut = '';
  target.stdout.on('data', (d: Buffer) => (targetOut += d.toString()));
  const targetExit = new Promise<number | null>((resolve) => target.on('exit', (code) => resolve(code)));
  const pid = target.pid!;

  const tracer = startCli(['trace', '--pid', String(pid), `--bpf.fault-hook=${hook}`]);
  const counter = countUserFaults(pid);
  t.teardown(() => {
    tracer.child.kill('SIGKILL');
    counter.kill();
    target.kill('SIGKILL');
  });
  await waitFor('trace to start', () => tracer.stderr().includes(`tracing page faults of pid ${pid}`));
  await counter.attached;

  target.stdin.end('go\n');
  t.equal(await targetExit, 0);
  // Let the tracer drain, then stop both and compare.
  await new Promise((r) => setTimeout(r, 300));
  const { stopped, count: expected } = await counter.stop();
  t.ok(stopped, 'bpftrace stops on SIGINT');
  t.ok(await interrupt(tracer.child, tracer.exited), 'trace stops on SIGINT');
  t.equal(await tracer.exited, 0, 'trace exits 0 on SIGINT');
  t.match(tracer.stderr(), /no records lost/);

  const lines = tracer.stdout().trim().split('\n');
  const faults = lines.filter((l) => l.startsWith('[PAGE_FAULT] '));
  t.ok(expected > 25600, `bpftrace counted ${expected} faults`);
  t.equal(faults.length, expected, 'one [PAGE_FAULT] line per tracepoint hit');
  // The process is sh until it execs the workload: each line names the thread's comm at that fault.
  t.ok(faults.every((l) => new RegExp(`^\\[PAGE_FAULT\\] pid=${pid} address=0x[0-9a-f]+ comm=(sh|workload)$`).test(l)), 'lab format');

  const [, start, end] = /range (0x[0-9a-f]+) (0x[0-9a-f]+)/.exec(targetOut)!;
  const lo = BigInt(start!);
  const hi = BigInt(end!);
  const inRange = faults.filter((l) => {
    const a = BigInt(/address=(0x[0-9a-f]+)/.exec(l)![1]!);
    return a >= lo && a < hi;
  });
  const anon = inRange.map((l) => BigInt(/address=(0x[0-9a-f]+)/.exec(l)![1]!));
  t.equal(anon.length, 25600, '100 MiB / 4096 faults in the mapping: the lab\'s size/4096');
  t.ok(inRange.every((l) => l.endsWith(' comm=workload')), 'each names the workload, whose comm the kernel copied');
  t.ok(anon.every((a, i) => i === 0 || a - anon[i - 1]! === 0x1000n), 'addresses step by 0x1000');
});

t.test('--format json prints one object per line', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const target = spawn('sh', ['-c', `read go && exec ${workload} anon 4`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const targetExit = new Promise((resolve) => target.on('exit', resolve));
  const tracer = startCli(['trace', '--pid', String(target.pid), '--format', 'json']);
  t.teardown(() => tracer.child.kill('SIGKILL'));
  await waitFor('trace to start', () => tracer.stderr().includes('tracing page faults'));
  target.stdin.end('go\n');
  await targetExit;
  await new Promise((r) => setTimeout(r, 200));
  tracer.child.kill('SIGTERM');
  t.equal(await tracer.exited, 0);
  const objects = tracer.stdout().trim().split('\n').map((l) => JSON.parse(l));
  t.ok(objects.length >= 1024);
  t.strictSame(Object.keys(objects[0]), ['pid', 'event_type', 'address', 'timestamp_ns', 'comm']);
  t.ok(objects.every((o) => o.pid === target.pid && o.event_type === 'page_fault' && /^0x[0-9a-f]+$/.test(o.address)));
  t.ok(objects.every((o, i) => i === 0 || o.timestamp_ns >= objects[i - 1].timestamp_ns), 'in time order');
  // The kernel fills a record's timestamp only where the format prints it (trace_fields): JSON does.
  const now = Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, as bpf_ktime_get_ns
  t.ok(objects.every((o) => o.timestamp_ns > now - 120e9 && o.timestamp_ns <= now), 'each a CLOCK_MONOTONIC time of the last two minutes');
});
