/* Live: a real OOM kill inside a faultline-test-* memory cgroup. */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SKIP_NOT_ROOT, buildWorkload, scrape, startCli, startExporter, sum, waitFor } from './helpers/live.js';
import { createMemoryCgroup, holdMemoryIn } from './helpers/cgroup.js';

t.test('an OOM kill in a 64 MiB memory cgroup', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const tracer = startCli(['trace']);
  t.teardown(async () => {
    tracer.child.kill('SIGINT');
    await tracer.exited;
  });
  // The classic tracepoint twin reads mark_victim's fields at offsets from tracefs.
  const classic = startCli(['trace', '--bpf.tracepoints=classic', '--format=json']);
  t.teardown(async () => {
    classic.child.kill('SIGINT');
    await classic.exited;
  });
  await waitFor('trace to start', () => tracer.stderr().includes('streaming OOM kills only'));
  await waitFor('classic trace to start', () => classic.stderr().includes('streaming OOM kills only'));

  const before = sum((await scrape(exporter.url)).samples, 'faultline_oom_kills_total', { comm: 'workload' });
  const cgroup = createMemoryCgroup(64 << 20);
  t.teardown(() => cgroup.remove());

  // The shell joins the cgroup, then becomes the workload: one process, same pid.
  const victim = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${workload} grow 1024 0`], { stdio: 'ignore' });
  const signal = await new Promise<string | null>((resolve) => victim.on('exit', (_code, sig) => resolve(sig)));
  t.equal(signal, 'SIGKILL', 'the kernel killed the workload');

  const line = `[OOM_KILL] pid=${victim.pid} comm=workload`;
  await waitFor(`trace to print ${line}`, () => tracer.stdout().includes(line));
  t.pass(`trace printed ${line}`);
  t.equal(tracer.stdout().split('\n').filter((l) => l.startsWith('[OOM_KILL]')).length, 1, 'exactly one kill traced');

  const json = await waitFor('the classic twin to report the kill', () =>
    classic.stdout().split('\n').find((l) => l.includes('"oom_kill"')),
  );
  t.match(JSON.parse(json), { pid: victim.pid, event_type: 'oom_kill', address: '0x0', comm: 'workload' }, 'classic twin: same victim');

  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, 'faultline_oom_kills_total', { comm: 'workload' }) - before, 1, 'exactly one increment for comm=workload');
  const info = samples.find((s) => s.name === 'faultline_oom_victim_info' && s.labels.pid === String(victim.pid));
  t.ok(info, 'the victim is listed with its details');
  t.equal(info?.labels.comm, 'workload');
  t.ok(
    sum(samples, 'faultline_oom_victim_memory_bytes', { pid: String(victim.pid), memory: 'anon_rss' }) > 32 << 20,
    'its anon rss near the 64 MiB limit',
  );
});

t.test('trigger and victim differ: a high oom_score_adj holder is killed for a separate allocator', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const cgroup = createMemoryCgroup(64 << 20);
  t.teardown(() => cgroup.remove());

  const holder = holdMemoryIn(cgroup, 40, 1000);
  const victim = holder.child;
  await waitFor('the victim to hold 40 MiB', () => holder.held());
  const scoreBefore = Number(readFileSync(`/proc/${victim.pid}/oom_score`, 'utf8'));
  // 40 + 40 MiB passes the 64 MiB limit once; the holder (oom_score_adj 1000) scores far above the
  // allocator (0), and once it is gone the allocator ends under the limit.
  const trigger = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${workload} grow 40 0`], {
    stdio: 'ignore',
  });
  const triggerExit = new Promise<number | null>((resolve) => trigger.on('exit', (code) => resolve(code)));
  t.equal(await holder.exited, 'SIGKILL', 'the holder was killed');
  t.equal(await triggerExit, 0, 'the allocator finished');
  t.ok(scoreBefore > 900, `the holder's oom_score was ${scoreBefore}`);

  const info = await waitFor('the kill on /metrics', async () => {
    const { samples } = await scrape(exporter.url);
    return samples.find((s) => s.name === 'faultline_oom_victim_info' && s.labels.pid === String(victim.pid));
  });
  t.match(info.labels, {
    comm: 'workload',
    oom_score_adj: '1000',
    trigger_pid: String(trigger.pid),
    trigger_comm: 'workload',
    constraint: 'memcg',
    cgroup: cgroup.name,
  });
  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, 'faultline_oom_kills_total', { cgroup: cgroup.name, constraint: 'memcg' }), 1, 'one memcg kill in the cgroup');
  t.ok(sum(samples, 'faultline_oom_victim_rss_bytes_count') >= 1);
  t.ok(sum(samples, 'faultline_oom_victim_rss_bytes_sum') >= 30 << 20, 'the victim held about 40 MiB');
});
