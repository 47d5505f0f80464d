/*
 * Live: the original lab's four exercises, read from the event log as a user
 * would (docs/lab.md, "The lab's exercises, as tests").
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, type Teardown } from './helpers/temp.js';
import { SKIP_NOT_ROOT, buildWorkload, startExporter, waitFor } from './helpers/live.js';
import { createMemoryCgroup, holdMemoryIn } from './helpers/cgroup.js';
import { readThpMode } from '../src/readers/thp.js';

interface LogRecord {
  pid: number;
  event_type: string;
  address: string;
  region?: string;
  oom_score_adj?: number;
}

/** Runs `workload ARGS` under `serve --event-log --event-log.pid`; returns its stdout and its log records. */
async function logged(t: Teardown, args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; records: LogRecord[]; pid: number }> {
  const path = join(tempDir(t, 'faultline-lab-'), 'events.ndjson');
  const target = spawn('sh', ['-c', `read go && exec ${buildWorkload()} ${args.join(' ')}`], {
    stdio: ['pipe', 'pipe', 'ignore'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  target.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise((resolve) => target.on('exit', resolve));
  const exporter = await startExporter([`--event-log=${path}`, `--event-log.pid=${target.pid}`]);
  target.stdin.end('go\n');
  await exited;
  await new Promise((r) => setTimeout(r, 200));
  await exporter.stop();
  const records = readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogRecord);
  return { stdout, records, pid: target.pid! };
}

const ranges = (stdout: string): [bigint, bigint][] =>
  [...stdout.matchAll(/range (0x[0-9a-f]+) (0x[0-9a-f]+)/g)].map((m) => [BigInt(m[1]!), BigInt(m[2]!)]);
const within = (records: LogRecord[], [lo, hi]: [bigint, bigint]): number =>
  records.filter((r) => r.event_type === 'page_fault' && BigInt(r.address) >= lo && BigInt(r.address) < hi).length;

t.test('1. fault count per allocation size: size / 4096', { skip: SKIP_NOT_ROOT }, async (t) => {
  const { stdout, records } = await logged(t, ['phases', '1', '10', '100']);
  const phases = ranges(stdout);
  t.equal(phases.length, 3);
  for (const [i, mib] of [1, 10, 100].entries()) {
    t.equal(within(records, phases[i]!), (mib << 20) / 4096, `${mib} MiB: ${(mib << 20) / 4096} faults`);
  }
});

t.test('2. malloc vs mmap vs MAP_POPULATE', { skip: SKIP_NOT_ROOT }, async (t) => {
  const mib = 16;
  const pages = (mib << 20) / 4096;
  const viaMalloc = await logged(t, ['malloc', String(mib)]);
  const viaMmap = await logged(t, ['anon', String(mib)]);
  const populated = await logged(t, ['populate', String(mib)]);
  const m = within(viaMalloc.records, ranges(viaMalloc.stdout)[0]!);
  const a = within(viaMmap.records, ranges(viaMmap.stdout)[0]!);
  const p = within(populated.records, ranges(populated.stdout)[0]!);
  t.comment(`${mib} MiB touched page by page: malloc ${m} faults, mmap ${a}, MAP_POPULATE ${p}`);
  t.ok(m >= pages - 1 && m <= pages + 1, 'malloc: one fault per page (glibc maps a large block)');
  t.equal(a, pages, 'mmap: one fault per page');
  t.ok(p <= 2, 'MAP_POPULATE: the touch loop takes (near) zero faults; the kernel populated at mmap()');
});

t.test('3. stack depth: faults climb down from the top of the address space until the rlimit', { skip: SKIP_NOT_ROOT }, async (t) => {
  const { stdout, records } = await logged(t, ['overflow']);
  const [, sp, limit] = /stack (0x[0-9a-f]+) rlimit (\d+)/.exec(stdout)!;
  const top = BigInt(sp!);
  const rlimit = BigInt(limit!);
  const stackPages = new Set(
    records
      .filter((r) => r.event_type === 'page_fault')
      .map((r) => BigInt(r.address))
      .filter((a) => a <= top + 0x10000n && a >= top - rlimit - 0x10000n)
      .map((a) => a >> 12n),
  ).size;
  const limitPages = Number(rlimit / 4096n);
  t.comment(`stack pages faulted before the overflow: ${stackPages}; RLIMIT_STACK ${rlimit} bytes = ${limitPages} pages`);
  t.ok(top > 0x7f0000000000n, `the stack is near the top of the user address space (${sp})`);
  t.ok(stackPages > limitPages * 0.9 && stackPages <= limitPages + 16, 'about RLIMIT_STACK / 4096 pages');
  const inStack = records.filter((r) => r.event_type === 'page_fault' && r.region === 'stack').length;
  t.ok(inStack >= limitPages * 0.9, `${inStack} faults logged in region stack`);
});

t.test('4. OOM score: the victim is the process with the highest oom_score', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const path = join(tempDir(t, 'faultline-lab-'), 'events.ndjson');
  const exporter = await startExporter([`--event-log=${path}`]);
  t.teardown(() => exporter.stop());
  const cgroup = createMemoryCgroup(96 << 20);
  t.teardown(() => cgroup.remove());
  const holders = [0, 300, 600].map((adj) => ({ adj, ...holdMemoryIn(cgroup, 16, adj) }));
  await waitFor('the holders', () => holders.every((h) => h.held()));
  const scores = holders.map((h) => ({ adj: h.adj, pid: h.child.pid!, score: Number(readFileSync(`/proc/${h.child.pid}/oom_score`, 'utf8')) }));
  const highest = scores.reduce((a, b) => (b.score > a.score ? b : a));
  t.comment(`oom_score before the kill: ${scores.map((s) => `pid ${s.pid} adj ${s.adj} -> ${s.score}`).join(', ')}`);
  // An allocator with the default adjustment pushes the cgroup over its limit.
  const trigger = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${workload} grow 60 0`], { stdio: 'ignore' });
  await new Promise((resolve) => trigger.on('exit', resolve));
  const kill = await waitFor('the kill in the log', () =>
    readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogRecord).find((r) => r.event_type === 'oom_kill'),
  );
  t.equal(kill.pid, highest.pid, `the victim is pid ${highest.pid}, the highest oom_score (${highest.score})`);
  t.equal(kill.oom_score_adj, highest.adj, 'the log records its oom_score_adj');
  for (const h of holders) h.child.kill('SIGKILL');
});

/*
 * The workload runs without transparent huge pages (the exercises above count
 * 4 KiB faults, whatever the host's mode). Here the lab's demo runs with them:
 * under "always" as the host has it (Debian's kernels default to it), else on
 * a mapping marked MADV_HUGEPAGE, which is what "always" does to each one.
 */
const mode = readThpMode();
const noHugePages = mode === null || mode === 'never' ? `transparent huge pages are ${mode ?? 'not in this kernel'} here: no huge page can be faulted in` : false;
t.test("the lab's 100 MiB demo with transparent huge pages: faultline sees each fault the kernel counts", { skip: SKIP_NOT_ROOT || noHugePages }, async (t) => {
  const { stdout, records } = await logged(t, ['malloc', '100'], { FAULTLINE_WORKLOAD_THP: mode === 'always' ? 'inherit' : 'hugepage' });
  const touched = /touched minflt (\d+) majflt (\d+) huge_kib (-?\d+)/.exec(stdout);
  if (!touched) throw new Error(`no "touched" line from the workload: ${stdout}`);
  const [kernelFaults, hugeKib] = [Number(touched[1]) + Number(touched[2]), Number(touched[3])];
  const seen = within(records, ranges(stdout)[0]!);
  t.comment(`THP ${mode}: 100 MiB touched page by page took ${kernelFaults} faults (kernel), ${hugeKib} KiB in huge pages; faultline logged ${seen}`);
  t.ok(hugeKib >= 2048, 'the mapping holds huge pages');
  t.ok(kernelFaults < 25600 / 2, 'fewer faults than 4 KiB pages (25,600)');
  t.equal(seen, kernelFaults, "faultline's records in the buffer equal the kernel's count of the touches");
});
