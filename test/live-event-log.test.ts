/*
 * Live: serve --event-log writes the page faults of the --event-log.pid
 * processes (filtered in the kernel) and every OOM kill as NDJSON, and sums
 * up on exit.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { tempDir, type Teardown } from './helpers/temp.js';
import { ROOT, SKIP_NOT_ROOT, buildWorkload, countUserFaults, scrape, startExporter, sum, waitFor } from './helpers/live.js';
import { createMemoryCgroup } from './helpers/cgroup.js';

t.test("the event log: one process's faults and every OOM kill", { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const path = join(tempDir(t, 'faultline-events-'), 'events.ndjson');
  const target = spawn('sh', ['-c', `read go && exec ${workload} anon 8`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const targetExit = new Promise((resolve) => target.on('exit', resolve));
  const exporter = await startExporter([`--event-log=${path}`, `--event-log.pid=${target.pid}`]);
  let stopped = false;
  t.teardown(() => (stopped ? undefined : exporter.stop()));
  target.stdin.end('go\n');
  await targetExit;

  const cgroup = createMemoryCgroup(64 << 20);
  t.teardown(() => cgroup.remove());
  const victim = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${workload} grow 1024 0`], { stdio: 'ignore' });
  await new Promise((resolve) => victim.on('exit', resolve));
  await waitFor('the kill in the log', () => readFileSync(path, 'utf8').includes('"oom_kill"'));
  const { samples } = await scrape(exporter.url);
  t.equal(await exporter.stop(), 0);
  stopped = true;

  const records = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const faults = records.filter((r) => r.event_type === 'page_fault');
  t.ok(faults.length >= 2048, `${faults.length} page faults logged (8 MiB = 2048 pages)`);
  t.ok(faults.every((r) => r.pid === target.pid), 'only the --event-log.pid process: filtered in the kernel');
  t.strictSame(Object.keys(faults[0]).slice(0, 5), ['pid', 'event_type', 'address', 'timestamp_ns', 'comm'], 'the lab fields first');
  t.match(faults.find((r) => r.comm === 'workload'), { tid: Number, access: /^(read|write|exec)$/, present: Boolean, ip: /^0x[0-9a-f]+$/ });
  t.ok(faults.every((r) => r.ip !== '0x0' && r.timestamp_ns > 0), 'every optional field filled: the event log asks for them all');
  t.ok(faults.filter((r) => r.access === 'write' && r.present === false).length >= 2048, 'the touch loop: a write to a missing page each');
  t.ok(faults.filter((r) => r.region === 'anon').length >= 2048, 'its faults in region anon');
  t.ok(faults.every((r) => typeof r.cgroup === 'string' && r.cgroup.startsWith('/')), 'each with its cgroup path');
  const kill = records.find((r) => r.event_type === 'oom_kill');
  t.match(kill, { pid: victim.pid, comm: 'workload', address: '0x0', constraint: 'memcg', cgroup: cgroup.name, trigger_pid: victim.pid });
  t.ok(kill.anon_rss_bytes > 32 << 20);
  t.equal(sum(samples, 'faultline_event_log_records_total'), records.length, 'faultline_event_log_records_total counts them');
  t.equal(sum(samples, 'faultline_event_log_dropped_records_total'), 0);
  t.equal(sum(samples, 'faultline_ringbuf_lost_records_total'), 0);
  t.match(exporter.stderr(), /event log: \d+ records written; dropped 0 \(writer behind\) and 0 \(write errors\); the kernel could not take 0 page-fault and 0 OOM records/);
});

/** Starts serve with the event log and `flags`; returns the log's page-fault records after `run` and a stop. */
async function logWith(t: Teardown, flags: string[], run: () => Promise<void>): Promise<{ faults: { pid: number; comm: string; address: string }[]; samples: Awaited<ReturnType<typeof scrape>>['samples'] }> {
  const path = join(tempDir(t, 'faultline-events-'), 'events.ndjson');
  const exporter = await startExporter([`--event-log=${path}`, ...flags]);
  try {
    await run();
    await new Promise((r) => setTimeout(r, 200));
    const { samples } = await scrape(exporter.url);
    return {
      faults: readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.event_type === 'page_fault'),
      samples,
    };
  } finally {
    await exporter.stop();
  }
}

t.test('--event-log.comm logs only threads with that comm', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const churner = `${ROOT}build/test/fl-churn`;
  if (!existsSync(churner)) symlinkSync(workload, churner);
  const { faults } = await logWith(t, ['--event-log.comm=fl-churn'], async () => {
    execFileSync(workload, ['churn', '3', churner, '2'], { stdio: 'ignore' });
  });
  t.ok(faults.length >= 3 * 512, `${faults.length} faults of the three fl-churn children`);
  t.ok(faults.every((r) => r.comm === 'fl-churn'), 'and nothing else (not the workload parent)');
});

t.test('--event-log.cgroup logs only processes in that cgroup', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const cgroup = createMemoryCgroup(1 << 30);
  t.teardown(() => cgroup.remove());
  let inside: number[] = [];
  const { faults } = await logWith(t, [`--event-log.cgroup=${cgroup.name}`], async () => {
    const sh = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${workload} run anon 8`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((resolve) => sh.on('exit', resolve));
    inside = [sh.pid!, (JSON.parse(out.trim().split('\n').at(-1)!) as { pid: number }).pid];
    execFileSync(workload, ['run', 'anon', '4'], { stdio: 'ignore' }); // outside the cgroup
  });
  t.ok(faults.length >= 2048, `${faults.length} faults logged`);
  t.ok(faults.every((r) => inside.includes(r.pid)), `all from the processes in ${cgroup.name}`);
});

t.test('--event-log.sample 10 logs about one in ten', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const target = spawn('sh', ['-c', `read go && exec ${workload} anon 16`], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  target.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const { faults, samples } = await logWith(t, [`--event-log.pid=${target.pid}`, '--event-log.sample=10'], async () => {
    target.stdin.end('go\n');
    await new Promise((resolve) => target.on('exit', resolve));
  });
  const [, lo, hi] = /range (0x[0-9a-f]+) (0x[0-9a-f]+)/.exec(out)!;
  const inRange = faults.filter((r) => BigInt(r.address) >= BigInt(lo!) && BigInt(r.address) < BigInt(hi!)).length;
  t.ok(inRange >= 4096 / 10 - 8 && inRange <= 4096 / 10 + 8, `${inRange} of the 4096 touch-loop faults logged`);
  t.equal(sum(samples, 'faultline_event_log_sample_ratio'), 0.1);
});

t.test('a failing event log is reported once and counted; /metrics goes on', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const exporter = await startExporter(['--event-log=/dev/full', '--event-log.comm=workload']);
  t.teardown(() => exporter.stop());
  for (let i = 0; i < 3; i++) execFileSync(workload, ['run', 'anon', '2'], { stdio: 'ignore' });
  const { samples } = await waitFor('the failure to be counted', async () => {
    const s = await scrape(exporter.url);
    return sum(s.samples, 'faultline_event_log_write_errors_total') >= 1 ? s : null;
  });
  t.ok(sum(samples, 'faultline_event_log_dropped_records_total', { reason: 'write_error' }) >= 512, 'the records are counted as dropped');
  t.equal(exporter.stderr().match(/event log \/dev\/full: write failed/g)?.length, 1, 'one line on stderr, with the cause');
  t.match(exporter.stderr(), /ENOSPC/);
  t.equal(exporter.child.exitCode, null, 'the exporter keeps running');
});

/** The Helm chart's memory limit for the exporter, in bytes ("256Mi"). */
function chartMemoryLimit(): number {
  const values = parseYaml(readFileSync(`${ROOT}deploy/helm/faultline/values.yaml`, 'utf8')) as { resources: { limits: { memory: string } } };
  const m = /^(\d+)(Mi|Gi)$/.exec(values.resources.limits.memory);
  if (!m) throw new Error(`unexpected chart memory limit ${values.resources.limits.memory}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 2 ** 30 : 2 ** 20);
}

/** A process's faults so far, as the kernel counts them (/proc/PID/stat minflt + majflt). */
function faultsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return Number(fields[7]) + Number(fields[9]);
}

const STORM_FAULTS = 655_360; // 64 MiB x 40 rounds: the storm that took the exporter to 587 MiB and got it OOM-killed

t.test("a 655,360-fault storm into the event log, inside the Helm chart's memory limit", { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const limit = chartMemoryLimit();
  const cgroup = createMemoryCgroup(limit);
  t.teardown(() => cgroup.remove());
  const dir = tempDir(t, 'faultline-events-');
  const path = join(dir, 'events.ndjson');
  const stop = join(dir, 'stop');

  const target = spawn('sh', ['-c', `read go && exec ${workload} storm 64 ${stop}`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const targetExit = new Promise((resolve) => target.on('exit', resolve));
  const pid = target.pid!;
  // The exporter joins the cgroup before it starts: its heap, backlog and the log's page cache are charged there.
  const exporter = await startExporter([`--event-log=${path}`, `--event-log.pid=${pid}`], ['sh', '-c', `echo $$ > ${cgroup.procsFile} && exec "$@"`, 'sh']);
  const counter = countUserFaults(pid);
  t.teardown(() => {
    writeFileSync(stop, '');
    counter.kill();
    return exporter.stop();
  });
  await counter.attached;

  target.stdin.end('go\n');
  let writtenDuringStorm = 0;
  await waitFor(
    `${STORM_FAULTS} faults`,
    () => {
      writtenDuringStorm = Math.max(writtenDuringStorm, statSync(path).size);
      return faultsOf(pid) >= STORM_FAULTS;
    },
    180000,
  );
  writeFileSync(stop, '');
  await targetExit;
  const { stopped, count: expected } = await counter.stop();
  t.ok(stopped, 'bpftrace stops on SIGINT');
  t.ok(expected >= STORM_FAULTS, `bpftrace counted ${expected} user page faults of the storm`);

  // Every record is written, or counted as not written, by reason.
  const accounted = async (): Promise<{ written: number; lost: number; backlog: number; errors: number }> => {
    const { samples } = await scrape(exporter.url);
    return {
      written: sum(samples, 'faultline_event_log_records_total'),
      lost: sum(samples, 'faultline_ringbuf_lost_records_total', { ringbuf: 'fault_events' }),
      backlog: sum(samples, 'faultline_event_log_dropped_records_total', { reason: 'backlog' }),
      errors: sum(samples, 'faultline_event_log_dropped_records_total', { reason: 'write_error' }),
    };
  };
  let last = await accounted();
  const total = (a: typeof last): number => a.written + a.lost + a.backlog + a.errors;
  await waitFor('the backlog to be written', async () => total((last = await accounted())) >= expected, 60000).catch(() => undefined);
  t.equal(total(last), expected, `written ${last.written} + lost in the kernel ${last.lost} + dropped for backlog ${last.backlog} + write errors ${last.errors} = every fault`);
  t.equal(last.errors, 0);
  t.ok(writtenDuringStorm > 0, `${writtenDuringStorm} bytes reached the file while the storm ran`);
  // The log rotates at --event-log.max-size (100 MiB): count PATH, PATH.1, …
  const files = readdirSync(dir).filter((f) => f.startsWith('events.ndjson'));
  const lines = files.reduce((n, f) => n + readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).length, 0);
  t.equal(lines, last.written, `the ${files.length} file(s) hold what faultline_event_log_records_total says`);

  t.equal(exporter.child.exitCode, null, 'the exporter is still running');
  const v1 = existsSync(`${cgroup.path}/memory.oom_control`);
  const events = readFileSync(`${cgroup.path}/${v1 ? 'memory.oom_control' : 'memory.events'}`, 'utf8');
  t.equal(Number(/^oom_kill (\d+)$/m.exec(events)?.[1] ?? 0), 0, `no OOM kill in its ${limit >> 20} MiB cgroup`);
  const peakFile = `${cgroup.path}/${v1 ? 'memory.max_usage_in_bytes' : 'memory.peak'}`;
  if (existsSync(peakFile)) t.comment(`the cgroup's peak usage: ${(Number(readFileSync(peakFile, 'utf8')) / 2 ** 20).toFixed(1)} MiB of ${limit >> 20} MiB`);
});
