/*
 * Live: faultline's per-process counts against the kernel's own accounting
 * (wait4() rusage of the workload), on both tracepoint modes.
 */
import t from 'tap';
import { writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { SKIP_NOT_ROOT, buildWorkload, runWorkload, scrape, startExporter, sum, type Exporter } from './helpers/live.js';

const FAMILY = 'faultline_process_page_faults_total';

t.test('page faults, exact against the kernel', { skip: SKIP_NOT_ROOT }, async (t) => {
  buildWorkload();
  const exporter: Exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const metrics = `${exporter.url}`;

  t.test('100 MiB of anonymous memory touched page by page', async (t) => {
    const k = runWorkload('anon', '100');
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt, `pid ${pid}: minor+major equals the kernel's minflt+majflt`);
    t.equal(sum(samples, FAMILY, { pid, type: 'minor' }), k.minflt, 'minor equals minflt');
    t.ok(sum(samples, FAMILY, { pid, region: 'anon' }) >= 25600, 'anon holds at least 100 MiB / 4 KiB faults');
    t.equal(samples.find((s) => s.name === FAMILY && s.labels.pid === pid)?.labels.comm, 'workload');
  });

  t.test('a file mapped after dropping its cache, read with MADV_RANDOM', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'faultline-test-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'data');
    const pages = 2048;
    writeFileSync(file, Buffer.alloc(pages * 4096, 7));
    const k = runWorkload('file', file);
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.ok(k.majflt >= pages, `the kernel counted ${k.majflt} major faults`);
    t.equal(sum(samples, FAMILY, { pid, type: 'major' }), k.majflt, 'major equals the kernel majflt exactly');
    t.equal(sum(samples, FAMILY, { pid, type: 'major', region: 'file' }), k.majflt, 'and all of them are file faults');
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt);
  });

  t.test('deep recursion faults in the stack region', async (t) => {
    const k = runWorkload('stack', '4000'); // ~4 MiB of 1 KiB frames
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.ok(sum(samples, FAMILY, { pid, region: 'stack' }) >= 900, 'about 4 MiB / 4 KiB stack pages');
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt);
  });

  t.test('many small mallocs fault in the heap (brk) region', async (t) => {
    const k = runWorkload('heap', '40000'); // ~4.5 MiB of 100-byte blocks
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.ok(sum(samples, FAMILY, { pid, region: 'heap' }) >= 1000, 'heap pages');
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt);
  });

  t.test('MAP_POPULATE faults come through get_user_pages and still count (region other)', async (t) => {
    const k = runWorkload('populate', '20');
    const { samples } = await scrape(metrics);
    const pid = String(k.pid);
    t.ok(sum(samples, FAMILY, { pid, region: 'other' }) >= 5120, 'the populated pages');
    t.ok(sum(samples, FAMILY, { pid, region: 'anon' }) < 100, 'the touch loop itself barely faults');
    t.equal(sum(samples, FAMILY, { pid }), k.minflt + k.majflt);
  });

  t.test('host totals hold every process fault', async (t) => {
    const { samples } = await scrape(metrics);
    const host = sum(samples, 'faultline_page_faults_total');
    t.ok(host >= sum(samples, FAMILY), 'host total >= the exported processes');
    t.ok(sum(samples, 'faultline_page_fault_access_total', { access: 'write', present: 'false' }) >= 25600);
    t.equal(sum(samples, 'faultline_ringbuf_lost_records_total'), 0);
    t.ok(sum(samples, 'faultline_bpf_programs_attached') >= 6);
  });
});

t.test('the classic tracepoint twin counts the same way', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter(['--bpf.tracepoints=classic']);
  t.teardown(() => exporter.stop());
  t.match(exporter.stderr(), /\(classic;/);
  const k = runWorkload('anon', '20');
  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, FAMILY, { pid: String(k.pid) }), k.minflt + k.majflt);
  t.ok(sum(samples, 'faultline_page_fault_access_total', { access: 'write' }) >= 5120, 'access read at runtime offsets');
  t.equal(sum(samples, 'faultline_build_info', { tracepoints: 'classic' }), 1);
});
