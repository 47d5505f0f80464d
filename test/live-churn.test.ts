/*
 * Live: 5,000 short-lived processes that each fault. The per-process family
 * stays within its bound, their comm's total equals the sum of the kernel's
 * own counts for them, and the exporter's memory stays bounded.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { SKIP_NOT_ROOT, ROOT, buildWorkload, scrape, startExporter, sum, waitFor } from './helpers/live.js';

const CHILDREN = 5000;
const MAX = 20;

function rssMiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

t.test(`${CHILDREN} short-lived processes`, { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  // The children run through a symlink so their comm is their own.
  const churner = `${ROOT}build/test/fl-churn`;
  if (!existsSync(churner)) symlinkSync(workload, churner);
  const exporter = await startExporter([`--processes.max=${MAX}`, '--processes.exit-grace=1s', '--maps.refresh-interval=500ms']);
  t.teardown(() => exporter.stop());
  const pid = exporter.child.pid!;
  const rssBefore = rssMiB(pid);

  const out = execFileSync(workload, ['churn', String(CHILDREN), churner, '1'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const k = JSON.parse(out.trim().split('\n').at(-1)!) as {
    minflt: number;
    majflt: number;
  };
  let maxPids = 0;
  const { samples } = await waitFor(
    'every child folded',
    async () => {
      const s = await scrape(exporter.url);
      const pids = new Set(s.samples.filter((x) => x.name === 'faultline_process_page_faults_total').map((x) => x.labels.pid));
      maxPids = Math.max(maxPids, pids.size);
      return sum(s.samples, 'faultline_processes_folded_total') >= CHILDREN ? s : null;
    },
    60000,
  );
  const rssAfter = rssMiB(pid);
  t.comment(`exporter RSS ${rssBefore.toFixed(1)} MiB before, ${rssAfter.toFixed(1)} MiB after ${CHILDREN} processes`);
  t.ok(maxPids <= MAX, `at most ${MAX} processes exported at any scrape (saw ${maxPids})`);
  const faultlineSeries = samples.filter((s) => s.name.startsWith('faultline_')).length;
  t.ok(faultlineSeries < 1000, `${faultlineSeries} faultline series in all after ${CHILDREN} processes`);
  t.equal(
    sum(samples, 'faultline_comm_page_faults_total', { comm: 'fl-churn' }),
    k.minflt + k.majflt,
    `comm fl-churn: the sum of the kernel's counts for all ${CHILDREN} children (${k.minflt + k.majflt})`,
  );
  t.ok(sum(samples, 'faultline_processes_tracked') < 1000, 'the kernel maps were emptied of the exited children');
  t.ok(rssAfter - rssBefore < 64, `RSS grew by ${(rssAfter - rssBefore).toFixed(1)} MiB (< 64)`);
});
