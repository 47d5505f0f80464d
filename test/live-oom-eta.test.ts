/*
 * Time to OOM, live, each scenario in its own faultline-test-* memory cgroup
 * with a 512 MiB limit, /metrics read every 250 ms:
 *   - anonymous growth at 50 MiB/s until the kernel kills it: the estimate
 *     falls to 10 s or less at least 5 s before the kill;
 *   - a page-cache fill (a 768 MiB file read over and over for 8 s): never below 30 s,
 *     and nothing is killed;
 *   - steady at ~90% of a 128 MiB limit: +Inf, and the memory it is based on is the
 *     kernel's (usage less file pages, read from the cgroup by the test).
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tempDir } from './helpers/temp.js';
import type { HistorySample } from '../src/features/oom-eta/flight-recorder.js';
import { join } from 'node:path';
import { SKIP_NOT_ROOT, buildWorkload, scrape, startExporter, waitFor, type Exporter } from './helpers/live.js';
import { createMemoryCgroup, holdMemoryIn, type TestCgroup } from './helpers/cgroup.js';

const LIMIT_MIB = 512;
const ETA = 'faultline_cgroup_oom_eta_seconds';

interface Reading {
  readonly at: number;
  readonly seconds: number;
}

/** Runs `command` in the cgroup, reading the cgroup's estimate every 250 ms until it exits. */
async function watch(exporter: Exporter, cgroup: TestCgroup, command: string): Promise<{ readings: Reading[]; signal: NodeJS.Signals | null; code: number | null; pid: number }> {
  const child = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${command}`], { stdio: 'ignore' });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
  const state = { done: false };
  void exited.then(() => (state.done = true));
  const readings: Reading[] = [];
  while (!state.done) {
    const { samples } = await scrape(exporter.url);
    const eta = samples.find((s) => s.name === ETA && s.labels.cgroup === cgroup.name);
    if (eta) readings.push({ at: Date.now(), seconds: eta.value });
    await new Promise((r) => setTimeout(r, 250));
  }
  const [code, signal] = await exited;
  return { readings, signal, code, pid: child.pid! };
}

t.test('time to OOM: early before a kill, quiet for a cache and a steady cgroup', { skip: SKIP_NOT_ROOT }, async (t) => {
  const logDir = tempDir(t, 'faultline-eta-log-');
  const eventLog = join(logDir, 'events.ndjson');
  const exporter = await startExporter([`--event-log=${eventLog}`]);
  t.teardown(() => exporter.stop());

  await t.test('anonymous growth at 50 MiB/s: 10 s or less at least 5 s before the kill', async (t) => {
    const cgroup = createMemoryCgroup(LIMIT_MIB << 20);
    t.teardown(() => cgroup.remove());
    const started = Date.now();
    const run = await watch(exporter, cgroup, `${buildWorkload()} grow ${LIMIT_MIB * 2} 20`);
    t.equal(run.signal, 'SIGKILL', 'the kernel killed it');
    const killedAt = await waitFor('faultline to record the kill', async () => {
      const { samples } = await scrape(exporter.url);
      const victim = samples.find((s) => s.name === 'faultline_oom_victim_info' && s.labels.pid === String(run.pid));
      return victim ? victim.value * 1000 : null;
    });
    const first = run.readings.find((r) => r.seconds <= 10);
    t.comment(`killed ${((killedAt - started) / 1000).toFixed(1)} s after start; ${run.readings.length} readings: ${run.readings.map((r) => `${((r.at - started) / 1000).toFixed(2)}s=${r.seconds.toFixed(1)}`).join(' ')}`);
    t.ok(first, 'the estimate fell to 10 s or less');
    if (first) t.ok(killedAt - first.at >= 5000, `it did ${((killedAt - first.at) / 1000).toFixed(1)} s before the kill (goal: >= 5 s)`);

    // The flight recorder: the kill's record in the event log carries the growth that led to it.
    const record = await waitFor('the kill in the event log', () =>
      readFileSync(eventLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { event_type: string; pid: number; cgroup: string; history?: HistorySample[] })
        .find((r) => r.event_type === 'oom_kill' && r.pid === run.pid),
    );
    t.equal(record.cgroup, cgroup.name);
    const history = record.history ?? [];
    t.comment(`history: ${history.map((h) => `${(h.usage_bytes / 2 ** 20).toFixed(0)}MiB/${h.faults_per_second}f/s/eta=${h.oom_eta_seconds}`).join(' ')}`);
    t.ok(history.length >= 5 && history.length <= 30, `${history.length} samples, at most 30`);
    for (let i = 1; i < history.length; i++) t.ok(history[i]!.time - history[i - 1]!.time >= 0.99, `sample ${i} a second or more after the one before`);
    const [oldest, newest] = [history[0], history.at(-1)];
    if (oldest && newest) {
      const growth = (newest.usage_bytes - oldest.usage_bytes) / (newest.time - oldest.time) / 2 ** 20;
      t.ok(growth > 20 && growth < 80, `usage grew ${growth.toFixed(1)} MiB/s over the history (the workload: ~46)`);
      t.ok(newest.usage_bytes > 0.75 * (LIMIT_MIB << 20), `the newest sample ${(newest.usage_bytes / 2 ** 20).toFixed(0)} MiB: near the limit`);
      t.ok(newest.oom_eta_seconds !== null && newest.oom_eta_seconds <= 5, `its estimate ${newest.oom_eta_seconds} s`);
      const rates = history.map((h) => h.faults_per_second).sort((a, b) => a - b);
      t.ok(rates[rates.length >> 1]! > 5000, `median fault rate ${rates[rates.length >> 1]}/s (1 MiB every 20 ms: ~12,000 4 KiB faults a second)`);
      t.ok(newest.working_set_bytes <= newest.usage_bytes && newest.unreclaimable_bytes <= newest.working_set_bytes, 'unreclaimable <= working set <= usage');
    }
  });

  await t.test('a page-cache fill to the limit: never below 30 s, not killed', async (t) => {
    const dir = tempDir(t, 'faultline-test-eta-', '/var/tmp');
    const file = join(dir, 'big');
    // Written around the page cache, so that reading it in the cgroup charges the cache to the cgroup.
    const dd = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${LIMIT_MIB + 256}`, 'oflag=direct'], { encoding: 'utf8' });
    t.equal(dd.status, 0, dd.stderr);
    const cgroup = createMemoryCgroup(LIMIT_MIB << 20);
    t.teardown(() => cgroup.remove());
    // Read again and again for 8 s: the cache stays at the limit, reclaim evicting what the next pass reads.
    const run = await watch(exporter, cgroup, `sh -c 'end=$(($(date +%s) + 8)); while [ $(date +%s) -lt $end ]; do cat ${file} > /dev/null || exit 1; done'`);
    t.equal(run.signal, null, 'not killed');
    t.equal(run.code, 0, 'cat read it all');
    t.ok(run.readings.length >= 16, `${run.readings.length} readings of the estimate`);
    const low = Math.min(...run.readings.map((r) => r.seconds));
    t.ok(low >= 30, `the lowest estimate: ${low} s (goal: never below 30 s)`);
    const peak = Number(readFileSync(join(cgroup.path, cgroup.path.includes('/memory/') ? 'memory.max_usage_in_bytes' : 'memory.peak'), 'utf8').trim());
    t.comment(`peak usage ${(peak / 2 ** 20).toFixed(0)} MiB of ${LIMIT_MIB}; lowest estimate ${low} s over ${run.readings.length} readings`);
  });

  await t.test('steady at 90% of the limit: +Inf, from the kernel\'s numbers', async (t) => {
    // A small limit: the point is the numbers, not the size (and under the kernel matrix's emulation every page costs).
    const limitMiB = 128;
    const cgroup = createMemoryCgroup(limitMiB << 20);
    t.teardown(() => cgroup.remove());
    const holder = holdMemoryIn(cgroup, Math.floor(limitMiB * 0.9), 0);
    t.teardown(() => holder.child.kill('SIGKILL'));
    await waitFor('the holder to touch its memory', () => holder.held() || null);
    const v1 = cgroup.path.includes('/memory/');
    const kernel = (): number => {
      const usage = Number(readFileSync(join(cgroup.path, v1 ? 'memory.usage_in_bytes' : 'memory.current'), 'utf8').trim());
      const stat = new Map(readFileSync(join(cgroup.path, 'memory.stat'), 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string]));
      const p = v1 ? 'total_' : '';
      return usage - Number(stat.get(`${p}active_file`)) - Number(stat.get(`${p}inactive_file`));
    };
    // Each scrape refreshes: the cgroup is busy from the first on. Then, once a window of readings after the growth
    // is steady, one scrape between two readings of the kernel's files.
    const { samples, before, after } = await waitFor('a steady estimate', async () => {
      const before = kernel();
      const { samples } = await scrape(exporter.url);
      const after = kernel();
      const growth = samples.find((s) => s.name === 'faultline_cgroup_unreclaimable_memory_growth_bytes_per_second' && s.labels.cgroup === cgroup.name);
      return growth !== undefined && Math.abs(growth.value) < 64 * 1024 && { samples, before, after };
    });
    const of = (name: string): number | undefined => samples.find((s) => s.name === name && s.labels.cgroup === cgroup.name)?.value;
    t.equal(of(ETA), Infinity, 'not heading for a kill');
    const shown = of('faultline_cgroup_unreclaimable_memory_bytes');
    t.ok(shown !== undefined && shown >= Math.min(before, after) - (1 << 20) && shown <= Math.max(before, after) + (1 << 20), `unreclaimable ${shown} within 1 MiB of the kernel's ${before}..${after}`);
    t.ok(Math.abs(of('faultline_cgroup_unreclaimable_memory_growth_bytes_per_second') ?? NaN) < 64 * 1024, 'growth under 64 KiB/s');
    // The series stays: a steady cgroup's estimate does not come and go between scrapes (under the kernel matrix's
    // emulation, where the sampler's ticks come 1-1.6 s apart, it once went missing in one scrape of four).
    const seen: (number | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 300));
      seen.push((await scrape(exporter.url)).samples.find((s) => s.name === ETA && s.labels.cgroup === cgroup.name)?.value);
    }
    t.strictSame(seen, [Infinity, Infinity, Infinity, Infinity], 'four more scrapes, +Inf each');
  });
});
