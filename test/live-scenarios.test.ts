/*
 * The pre-OOM alerts against the scenarios they must tell apart, live, all at
 * once: each scenario in its own faultline-test-* memory cgroup, one
 * faultline, and a real Prometheus scraping it every second and evaluating
 * the shipped rules (with their shipped `for:`) every second, beside the
 * anchor: the kubernetes-mixin style alert, working set / limit > 90% for 2 s,
 * over the same scrapes. The alerts API is polled every 250 ms. A lead is the
 * first kill's time in the cgroup (the kernel's timestamp) minus when an alert
 * was first seen firing for it, so it errs short.
 *
 * Must alert (before the first kill): anonymous growth at 10, 50 and 200 MiB/s,
 * and eight processes growing together. Must not alert, and must not be
 * killed: a page-cache fill (a file larger than the limit), a hot page cache
 * (a file that fits, read again and again), steady at 90% of the limit for a
 * minute, and a sawtooth to 80% that frees and starts again.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './helpers/temp.js';
import { SKIP_NOT_ROOT, buildWorkload, scrape, startExporter } from './helpers/live.js';
import { createMemoryCgroup, type TestCgroup } from './helpers/cgroup.js';
import { SHIPPED_RULES, startPrometheus } from './helpers/prometheus.js';
import { readFileSync } from 'node:fs';

const ANCHOR = 'AnchorWorkingSetNearLimit';
const ANCHOR_RULES = `groups:
  - name: anchor
    rules:
      - alert: ${ANCHOR}
        expr: faultline_cgroup_memory_working_set_bytes / on (instance, cgroup) faultline_cgroup_memory_limit_bytes > 0.9
        for: 2s
`;
/** faultline's alerts that warn before a kill (FaultlineOOMKill and the host's pressure are not about one cgroup's future). */
const PRE_OOM = ['FaultlineCgroupOOMImminent', 'FaultlineCgroupMemoryLimitForecast', 'FaultlineCgroupNearMemoryLimit', 'FaultlineReclaimLatencyHigh', 'FaultlineCgroupMemoryPressureFull', 'FaultlineMajorFaultStorm'];

interface Scenario {
  readonly name: string;
  readonly limitMiB: number;
  readonly mustAlert: boolean;
  /** The shell command run in the cgroup (exec'd by sh after joining it). */
  readonly command: string;
  /** How long a must-not-alert scenario runs; must-alert ones run until their first kill. */
  readonly seconds: number;
}

interface Outcome {
  readonly scenario: Scenario;
  readonly cgroup: string;
  readonly killedAt: number | null;
  readonly firstFiring: ReadonlyMap<string, number>;
}

t.test('the pre-OOM alerts: early before every kill, quiet otherwise, earlier than the anchor', { skip: SKIP_NOT_ROOT }, async (t) => {
  const workload = buildWorkload();
  const dir = tempDir(t, 'faultline-test-scenarios-', '/var/tmp');
  const file = join(dir, 'big');
  // Written around the page cache, so that reading it in a cgroup charges the cache to that cgroup.
  const hot = join(dir, 'hot');
  for (const [path, mib] of [[file, 768], [hot, 480]] as const) {
    const dd = spawnSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=1M', `count=${mib}`, 'oflag=direct'], { encoding: 'utf8' });
    t.equal(dd.status, 0, dd.stderr);
  }

  const scenarios: Scenario[] = [
    { name: 'anonymous growth 10 MiB/s', limitMiB: 512, mustAlert: true, command: `${workload} grow 1024 100`, seconds: 120 },
    { name: 'anonymous growth 50 MiB/s', limitMiB: 1024, mustAlert: true, command: `${workload} grow 2048 20`, seconds: 120 },
    { name: 'anonymous growth 200 MiB/s', limitMiB: 2048, mustAlert: true, command: `${workload} grow 4096 5`, seconds: 120 },
    { name: '8 processes, 50 MiB/s together', limitMiB: 1024, mustAlert: true, command: `sh -c 'for i in 1 2 3 4 5 6 7 8; do ${workload} grow 256 160 & done; wait'`, seconds: 120 },
    { name: 'page cache: a 768 MiB file read again and again', limitMiB: 512, mustAlert: false, command: `sh -c 'while :; do cat ${file} > /dev/null || exit 1; done'`, seconds: 60 },
    // A file that fits, read again and again: its pages go active, and the working set counts active file pages.
    { name: 'page cache, hot: a 480 MiB file read again and again', limitMiB: 512, mustAlert: false, command: `sh -c 'while :; do cat ${hot} > /dev/null || exit 1; done'`, seconds: 60 },
    { name: 'steady at 90% of the limit', limitMiB: 512, mustAlert: false, command: `${workload} hold 460`, seconds: 60 },
    // 136 s up to 80%, free, and up again: at its peak 102 MiB are left, 34 s at 3 MiB/s.
    { name: 'sawtooth to 80% at 3 MiB/s', limitMiB: 512, mustAlert: false, command: `${workload} sawtooth 409 333`, seconds: 150 },
  ];

  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const prometheus = await startPrometheus([exporter.url], [readFileSync(SHIPPED_RULES, 'utf8'), ANCHOR_RULES]);
  t.teardown(() => prometheus.stop());

  const cgroups: TestCgroup[] = [];
  t.teardown(async () => {
    for (const c of cgroups) await c.remove();
  });
  const running = scenarios.map((scenario) => {
    const cgroup = createMemoryCgroup(scenario.limitMiB * 1024 * 1024);
    cgroups.push(cgroup);
    const child = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${scenario.command}`], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    return { scenario, cgroup, exited, started: Date.now(), done: false };
  });
  // A scenario whose command ends (a single grower killed) is done; its cgroup goes at teardown.
  for (const r of running) void r.exited.then(() => (r.done = true));

  const firstFiring = new Map<string, Map<string, number>>(running.map((r) => [r.cgroup.name, new Map()]));
  const killedAt = new Map<string, number>();
  const kills = async (): Promise<void> => {
    const { samples } = await scrape(exporter.url);
    for (const s of samples) {
      if (s.name !== 'faultline_oom_victim_info' || !firstFiring.has(s.labels.cgroup ?? '')) continue;
      const at = s.value * 1000;
      const cgroup = s.labels.cgroup!;
      if (!killedAt.has(cgroup) || at < killedAt.get(cgroup)!) killedAt.set(cgroup, at);
    }
  };
  for (;;) {
    const seenAt = Date.now();
    for (const a of await prometheus.alerts()) {
      const seen = firstFiring.get(a.labels.cgroup ?? '');
      if (a.state === 'firing' && seen && !seen.has(a.labels.alertname!)) seen.set(a.labels.alertname!, seenAt);
    }
    await kills();
    // A must-alert scenario ends at its first kill (the rest of its processes go with the cgroup); the others at their time.
    for (const r of running) {
      if (r.done) continue;
      const over = r.scenario.mustAlert ? killedAt.has(r.cgroup.name) : Date.now() - r.started > r.scenario.seconds * 1000;
      if (over || Date.now() - r.started > r.scenario.seconds * 1000) {
        r.done = true;
        await r.cgroup.remove(); // its processes with it (eight growers outlive the first kill)
      }
    }
    if (running.every((r) => r.done)) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await kills();

  const outcomes: Outcome[] = running.map((r) => ({ scenario: r.scenario, cgroup: r.cgroup.name, killedAt: killedAt.get(r.cgroup.name) ?? null, firstFiring: firstFiring.get(r.cgroup.name)! }));
  const cell = (o: Outcome, alert: string): string => {
    const at = o.firstFiring.get(alert);
    if (o.scenario.mustAlert) {
      if (at === undefined || o.killedAt === null || at > o.killedAt) return 'did not fire before the kill';
      return `**${((o.killedAt - at) / 1000).toFixed(1)} s before**`;
    }
    return at === undefined ? 'quiet' : '**false alarm**';
  };
  const columns = [...PRE_OOM.filter((a) => outcomes.some((o) => o.firstFiring.has(a)) || a === PRE_OOM[0] || a === PRE_OOM[1]), ANCHOR];
  t.comment(`| scenario | limit | killed | ${columns.join(' | ')} |`);
  t.comment(`|---|---|---|${columns.map(() => '---|').join('')}`);
  for (const o of outcomes) {
    const killed = o.killedAt === null ? 'no' : `after ${((o.killedAt - running.find((r) => r.cgroup.name === o.cgroup)!.started) / 1000).toFixed(1)} s`;
    t.comment(`| ${o.scenario.name} | ${o.scenario.limitMiB} MiB | ${killed} | ${columns.map((a) => cell(o, a)).join(' | ')} |`);
  }

  for (const o of outcomes) {
    const leads = PRE_OOM.map((a) => o.firstFiring.get(a)).filter((at): at is number => at !== undefined);
    if (o.scenario.mustAlert) {
      t.ok(o.killedAt !== null, `${o.scenario.name}: killed`);
      if (o.killedAt === null) continue;
      const earliest = Math.min(...leads);
      const lead = (o.killedAt - earliest) / 1000;
      t.ok(leads.length > 0 && lead > 0, `${o.scenario.name}: faultline warned ${lead.toFixed(1)} s before the kill`);
      if (o.scenario.name === 'anonymous growth 50 MiB/s') t.ok(lead >= 10, `${o.scenario.name}: >= 10 s before the kill (${lead.toFixed(1)} s)`);
      const anchor = o.firstFiring.get(ANCHOR);
      t.ok(anchor === undefined || anchor > o.killedAt || earliest < anchor, `${o.scenario.name}: faultline strictly earlier than the anchor`);
    } else {
      t.equal(o.killedAt, null, `${o.scenario.name}: not killed`);
      t.strictSame(PRE_OOM.filter((a) => o.firstFiring.has(a)), [], `${o.scenario.name}: no faultline alert`);
    }
  }
});
