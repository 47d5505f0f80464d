/* Live: a cgroup's usage, limit and limit events, and the host's memory pressure, read at scrape time. */
import t from 'tap';
import { spawn } from 'node:child_process';
import { SKIP_NOT_ROOT, buildWorkload, scrape, startExporter, sum, waitFor } from './helpers/live.js';
import { createMemoryCgroup, holdMemoryIn } from './helpers/cgroup.js';

t.test('headroom of a 64 MiB cgroup, before and after an OOM kill', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const cgroup = createMemoryCgroup(64 << 20);
  t.teardown(() => cgroup.remove());
  const keeper = holdMemoryIn(cgroup, 20, 0);
  const victim = holdMemoryIn(cgroup, 20, 1000);
  await waitFor('both holders', () => keeper.held() && victim.held());

  let { samples } = await scrape(exporter.url);
  const usage = sum(samples, 'faultline_cgroup_memory_usage_bytes', { cgroup: cgroup.name });
  t.ok(usage >= 40 << 20 && usage <= 64 << 20, `usage ${(usage / 2 ** 20).toFixed(1)} MiB of the 40 MiB held, under the limit`);
  t.equal(sum(samples, 'faultline_cgroup_memory_limit_bytes', { cgroup: cgroup.name }), 64 << 20);
  t.ok(samples.some((s) => s.name === 'faultline_memory_pressure_ratio' && s.labels.kind === 'some' && s.labels.window === '10s'), 'host PSI');

  const trigger = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${workload} grow 30 0`], { stdio: 'ignore' });
  await new Promise((resolve) => trigger.on('exit', resolve));
  await victim.exited;
  ({ samples } = await scrape(exporter.url));
  t.ok(sum(samples, 'faultline_cgroup_memory_events_total', { cgroup: cgroup.name, event: 'oom_kill' }) >= 1, 'the kill is in the cgroup\'s events');
  t.ok(sum(samples, 'faultline_cgroup_memory_events_total', { cgroup: cgroup.name, event: 'max' }) >= 1, 'and the charges that hit the limit');
});
