/*
 * Live: reclaim and compaction stalls. A shell in a 32 MiB faultline-test-*
 * cgroup reads a 96 MiB file that is not in the page cache, so every charge
 * past the limit reclaims (memcg reclaim), then asks for compaction through
 * /proc/sys/vm/compact_memory (which compacts in the writer's context).
 * bpftrace counts the same tracepoints for the shell and its children; the
 * histograms' counts and the reclaimed pages must equal its numbers.
 * Direct reclaim needs the whole host short of memory, which a test must not
 * cause: its programs are attached and share every line of code with memcg's.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { SKIP_NOT_ROOT, scrape, startExporter, sum, waitFor } from './helpers/live.js';
import { createMemoryCgroup } from './helpers/cgroup.js';
import { heldMapId } from './helpers/bpf-objects.js';

const FILE = `/var/tmp/faultline-test-stalls-${process.pid}`;

/** Entries in this exporter's own stalls map (by id: another faultline may be running). */
function stallEntries(mapId: number): number {
  return (JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(mapId)], { encoding: 'utf8' })) as unknown[]).length;
}

t.test('memcg reclaim and compaction histograms count what the tracepoints saw', { skip: SKIP_NOT_ROOT }, async (t) => {
  // Written with O_DIRECT, so none of it is in the page cache: the read below charges every page to the test cgroup.
  execFileSync('dd', ['if=/dev/zero', `of=${FILE}`, 'bs=1M', 'count=96', 'oflag=direct', 'status=none']);
  t.teardown(() => rmSync(FILE, { force: true }));
  execFileSync('dd', [`if=${FILE}`, 'iflag=nocache', 'count=0', 'status=none']); // and drop any that is (POSIX_FADV_DONTNEED)

  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const cgroup = createMemoryCgroup(32 << 20);
  t.teardown(() => cgroup.remove());

  const shell = spawn('sh', ['-c', `read go && echo $$ > ${cgroup.procsFile} && cat ${FILE} > /dev/null && echo 1 > /proc/sys/vm/compact_memory`], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  const shellExit = new Promise<number | null>((resolve) => shell.on('exit', resolve));
  const ours = `pid == ${shell.pid} || curtask->real_parent->tgid == ${shell.pid}`;
  const bpftrace = spawn(
    'bpftrace',
    [
      '-e',
      `BEGIN { printf("bpftrace-ready\\n"); }
       tracepoint:vmscan:mm_vmscan_memcg_reclaim_end /${ours}/ { @reclaims = count(); @pages = sum(args->nr_reclaimed); }
       tracepoint:compaction:mm_compaction_end /${ours}/ { @compactions = count(); }`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let counted = '';
  bpftrace.stdout.on('data', (d: Buffer) => (counted += d.toString()));
  const bpftraceExit = new Promise<void>((resolve) => bpftrace.on('exit', () => resolve()));
  t.teardown(() => {
    bpftrace.kill('SIGKILL');
    shell.kill('SIGKILL');
  });
  // BEGIN runs once every probe is attached; "Attaching N probes" is printed before.
  await waitFor('bpftrace to attach', () => counted.includes('bpftrace-ready'), 60000);

  shell.stdin.end('go\n');
  t.equal(await shellExit, 0, 'read the file and compacted');
  bpftrace.kill('SIGINT');
  await bpftraceExit;
  const kernel = (name: string): number => Number(new RegExp(`@${name}: (\\d+)`).exec(counted)?.[1] ?? 0);

  const { samples } = await scrape(exporter.url);
  const labels = { cgroup: cgroup.name };
  const reclaims = sum(samples, 'faultline_memcg_reclaim_duration_seconds_count', labels);
  t.ok(kernel('reclaims') > 10, `bpftrace saw ${kernel('reclaims')} memcg reclaims freeing ${kernel('pages')} pages`);
  t.equal(reclaims, kernel('reclaims'), 'memcg reclaim count');
  t.equal(sum(samples, 'faultline_memcg_reclaim_duration_seconds_bucket', { ...labels, le: '+Inf' }), reclaims);
  t.equal(sum(samples, 'faultline_reclaimed_pages_total', { ...labels, reclaim: 'memcg' }), kernel('pages'), 'reclaimed pages');
  const seconds = sum(samples, 'faultline_memcg_reclaim_duration_seconds_sum', labels);
  t.ok(seconds > 0, `${(seconds * 1e3).toFixed(2)} ms in memcg reclaim`);
  const compactions = sum(samples, 'faultline_compaction_stall_duration_seconds_count', labels);
  t.ok(kernel('compactions') >= 1, `bpftrace saw ${kernel('compactions')} compact_zone runs`);
  t.equal(compactions, kernel('compactions'), 'compaction count');

  // Buckets are cumulative, end at the count, and the 2^bits bounds hold the sum.
  const buckets = samples
    .filter((s) => s.name === 'faultline_memcg_reclaim_duration_seconds_bucket' && s.labels.cgroup === cgroup.name)
    .map((s) => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value] as const);
  t.ok(buckets.every(([, n], i) => i === 0 || n >= buckets[i - 1]![1]), 'cumulative');
  const within = buckets.find(([, n]) => n === reclaims)![0];
  t.ok(seconds <= within * reclaims, 'every reclaim is under the first bound that holds them all');

  // Once the cgroup is gone its entries leave the kernel map, and its counts stay in /metrics.
  const stallsMap = heldMapId(exporter.child.pid!, 'stalls');
  const before = stallEntries(stallsMap);
  await cgroup.remove();
  await waitFor('the removed cgroup\'s entries to be folded', async () => {
    await scrape(exporter.url);
    return stallEntries(stallsMap) < before;
  }, 30000);
  const after = await scrape(exporter.url);
  t.equal(sum(after.samples, 'faultline_memcg_reclaim_duration_seconds_count', labels), reclaims, 'kept after removal');
});
