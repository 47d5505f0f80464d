/*
 * Live: faultline's per-process counts against the kernel's own accounting
 * (wait4() rusage of the workload), on both tracepoint modes.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/temp.js';
import { attachedAgainstHeld } from './helpers/bpf-objects.js';
import { SKIP_NOT_ROOT, buildWorkload, runWorkload, scrape, startExporter, sum, type Exporter, type Sample } from './helpers/live.js';

const FAMILY = 'faultline_process_page_faults_total';

/*
 * Each mode the exporter counts in: the x86 exceptions tracepoints (the
 * default here), the perf event page-faults every architecture has, and no
 * program per fault at all (counts only, every fault in region "other").
 */
const MODES: { name: string; flags: string[]; detail: boolean; access: boolean }[] = [
  { name: 'tracepoint fault hook (default)', flags: [], detail: true, access: true },
  { name: 'perf-event fault hook', flags: ['--bpf.fault-hook=perf-event'], detail: true, access: false },
  { name: 'counts only (--no-collector.fault-detail)', flags: ['--no-collector.fault-detail'], detail: false, access: false },
  // One thread slot: every thread but the one holding it keeps its record in task storage.
  { name: 'one thread slot (--bpf.thread-slots=1)', flags: ['--bpf.thread-slots=1'], detail: true, access: true },
];

for (const mode of MODES) t.test(`page faults, exact against the kernel: ${mode.name}`, { skip: SKIP_NOT_ROOT }, async (t) => {
  buildWorkload();
  const exporter: Exporter = await startExporter(mode.flags);
  t.teardown(() => exporter.stop());
  const metrics = exporter.url;
  /** Where the mode settles faults into regions: the region's count; else all of it is "other". */
  const inRegion = (samples: Sample[], pid: string, region: string, type?: string): number =>
    sum(samples, FAMILY, { pid, ...(type ? { type } : {}), region: mode.detail ? region : 'other' });

  t.test('100 MiB of anonymous memory touched page by page', async (t) => {
    const k = runWorkload('anon', '100');
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt, `pid ${pid}: minor+major equals the kernel's minflt+majflt`);
    t.equal(sum(samples, FAMILY, { pid, type: 'minor' }), k.minflt, 'minor equals minflt');
    t.ok(inRegion(samples, pid, 'anon') >= 25600, 'anon holds at least 100 MiB / 4 KiB faults');
    t.equal(samples.find((s) => s.name === FAMILY && s.labels.pid === pid)?.labels.comm, 'workload');
  });

  t.test('a file mapped after dropping its cache, read with MADV_RANDOM', async (t) => {
    const dir = tempDir(t, 'faultline-test-');
    const file = join(dir, 'data');
    const pages = 2048;
    writeFileSync(file, Buffer.alloc(pages * 4096, 7));
    const k = runWorkload('file', file);
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.ok(k.majflt >= pages, `the kernel counted ${k.majflt} major faults`);
    t.equal(sum(samples, FAMILY, { pid, type: 'major' }), k.majflt, 'major equals the kernel majflt exactly');
    t.equal(inRegion(samples, pid, 'file', 'major'), k.majflt, 'and all of them are file faults');
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt);
  });

  t.test('deep recursion faults in the stack region', async (t) => {
    const k = runWorkload('stack', '4000'); // ~4 MiB of 1 KiB frames
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.ok(inRegion(samples, pid, 'stack') >= 900, 'about 4 MiB / 4 KiB stack pages');
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt);
  });

  t.test('many small mallocs fault in the heap (brk) region', async (t) => {
    const k = runWorkload('heap', '40000'); // ~4.5 MiB of 100-byte blocks
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.ok(inRegion(samples, pid, 'heap') >= 1000, 'heap pages');
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt);
  });

  t.test('MAP_POPULATE faults come through get_user_pages and still count (region other)', async (t) => {
    const k = runWorkload('populate', '20');
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.ok(sum(samples, FAMILY, { pid, region: 'other' }) >= 5120, 'the populated pages');
    if (mode.detail) t.ok(sum(samples, FAMILY, { pid, region: 'anon' }) < 100, 'the touch loop itself barely faults');
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt);
  });

  t.test('a second thread execs (it takes the main thread\'s tid): exact', async (t) => {
    const k = runWorkload('thread-exec', '16');
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.equal(k.status, 0);
    t.ok(k.minflt >= 3 * 4096, `the kernel counted ${k.minflt} minor faults (3 x 16 MiB)`);
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt, 'the threads before the exec and the program after it, once each');
    if (mode.detail) t.ok(inRegion(samples, pid, 'anon') >= 3 * 4096, 'their pages are anon');
  });

  t.test('4 threads, then a copy-on-write child: both processes exact', async (t) => {
    const k = runWorkload('threads', '4', '32', '32');
    const child = JSON.parse(k.stdout.at(-1)!) as { child: number; minflt: number; majflt: number };
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    // wait4() counts the parent's reaped child in too: the parent's own faults are the difference.
    const parentMinor = k.minflt - child.minflt;
    t.ok(parentMinor >= 4 * 8192 + 8192, `the parent took ${parentMinor} minor faults (4 x 32 MiB + 32 MiB)`);
    t.equal(sum(samples, FAMILY, { pid, type: 'minor' }), parentMinor, 'every thread\'s faults: minor equals the process\'s own minflt');
    t.equal(sum(samples, FAMILY, { pid, type: 'major' }), k.majflt - child.majflt);
    t.ok(child.minflt >= 4096, `the child took ${child.minflt} faults writing 16 MiB of shared pages`);
    t.equal(sum(samples, FAMILY, { pid: String(child.child), type: 'minor' }), child.minflt, 'the child\'s copy-on-write faults: its own minflt');
    t.equal(sum(samples, FAMILY, { pid: String(child.child), type: 'major' }), child.majflt);
    // A VMA lookup that meets another thread's mmap write lock gives up (region "other"): anon or other, then.
    if (mode.detail) t.ok(inRegion(samples, pid, 'anon') + sum(samples, FAMILY, { pid, region: 'other' }) >= 5 * 8192, 'the threads\' and the mapping\'s pages are anon');
    if (mode.detail) t.ok(inRegion(samples, String(child.child), 'anon') >= 4096, 'and so are the copies');
  });

  t.test('host totals hold every process fault', async (t) => {
    const { samples } = await scrape(metrics);
    const host = sum(samples, 'faultline_page_faults_total');
    t.ok(host >= sum(samples, FAMILY), 'host total >= the exported processes');
    const writes = sum(samples, 'faultline_page_fault_access_total', { access: 'write', present: 'false' });
    if (mode.access) t.ok(writes >= 25600, `${writes} writes to missing pages`);
    else t.equal(samples.filter((s) => s.name === 'faultline_page_fault_access_total').length, 0, 'no access types without the x86 error code');
    t.equal(sum(samples, 'faultline_ringbuf_lost_records_total'), 0);
    const programs = attachedAgainstHeld(samples, exporter.child.pid!);
    t.strictSame(programs.listed, programs.held, 'the programs listed are the ones the exporter holds');
    t.strictSame(programs.wrongLinks, [], 'one link each, one per CPU for a perf event');
    t.equal(programs.listed.includes('count_major_fault'), mode.detail, 'major faults typed where the detail runs');
  });
});

t.test('the classic tracepoint twin counts the same way', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter(['--bpf.tracepoints=classic']);
  t.teardown(() => exporter.stop());
  t.match(exporter.stderr(), /\(classic,/);
  const k = runWorkload('anon', '20');
  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, FAMILY, { pid: String(k.pid) }), k.minflt + k.majflt);
  t.ok(sum(samples, 'faultline_page_fault_access_total', { access: 'write' }) >= 5120, 'access read at runtime offsets');
  t.equal(sum(samples, 'faultline_build_info', { tracepoints: 'classic' }), 1);
});
