/*
 * The proof: how many seconds of warning the shipped rules give before an OOM
 * kill. A process in a 512 MiB faultline-test-* memory cgroup touches 1 MiB
 * every STEP ms until the kernel kills it. A real Prometheus scrapes faultline
 * every second and evaluates deploy/prometheus/faultline-rules.yml every
 * second, with every `for:` set to 1s. The alerts API is polled every 100 ms;
 * the lead time is the kill's time (faultline_oom_victim_info, from the
 * kernel's timestamp) minus when the alert was first seen firing, so it errs
 * short. FaultlineCgroupOOMImminent (faultline's own time to OOM) and the
 * usage forecast, FaultlineCgroupMemoryLimitForecast, must fire before the
 * kill; the others are reported, firing or not.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { SKIP_NOT_ROOT, buildWorkload, scrape, startExporter, waitFor } from './helpers/live.js';
import { createMemoryCgroup } from './helpers/cgroup.js';
import { rulesWithFor, startPrometheus, type Prometheus } from './helpers/prometheus.js';

const HEADLINE = 'FaultlineCgroupMemoryLimitForecast';
const IMMINENT = 'FaultlineCgroupOOMImminent';
const CGROUP_ALERTS = [IMMINENT, HEADLINE, 'FaultlineCgroupNearMemoryLimit', 'FaultlineReclaimLatencyHigh', 'FaultlineCgroupMemoryPressureFull'];
const LIMIT_MIB = 512;

interface Run {
  stepMs: number;
  growthMiBs: number;
  secondsToKill: number;
  leads: Map<string, number | null>;
}

async function growUntilKilled(prometheus: Prometheus, exporterUrl: string, stepMs: number): Promise<Run> {
  const cgroup = createMemoryCgroup(LIMIT_MIB << 20);
  try {
    const started = Date.now();
    const child = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${buildWorkload()} grow ${LIMIT_MIB * 2} ${stepMs}`], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const workload = { done: false }; // set by the exit, between the loop's turns
    void exited.then(() => (workload.done = true));
    const firstFiring = new Map<string, number>();
    while (!workload.done) {
      const seenAt = Date.now();
      for (const a of await prometheus.alerts()) {
        if (a.state === 'firing' && a.labels.cgroup === cgroup.name && !firstFiring.has(a.labels.alertname!)) {
          firstFiring.set(a.labels.alertname!, seenAt);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if ((await exited) !== 'SIGKILL') throw new Error(`the workload was not OOM-killed (it ended with ${await exited})`);
    const killedAt = await waitFor('faultline to record the kill', async () => {
      const { samples } = await scrape(exporterUrl);
      const victim = samples.find((s) => s.name === 'faultline_oom_victim_info' && s.labels.pid === String(child.pid));
      return victim ? victim.value * 1000 : null;
    });
    const leads = new Map<string, number | null>();
    for (const name of CGROUP_ALERTS) {
      const at = firstFiring.get(name);
      leads.set(name, at === undefined ? null : (killedAt - at) / 1000);
    }
    return { stepMs, growthMiBs: 1000 / stepMs, secondsToKill: (killedAt - started) / 1000, leads };
  } finally {
    await cgroup.remove();
  }
}

t.test('the pre-OOM alerts fire before the OOM kill', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const prometheus = await startPrometheus([exporter.url], [rulesWithFor('1s')]);
  t.teardown(() => prometheus.stop());

  for (const stepMs of [20, 100]) {
    const run = await growUntilKilled(prometheus, exporter.url, stepMs);
    const fmt = (lead: number | null): string => (lead === null ? 'did not fire before the kill' : `${lead.toFixed(1)} s before the kill`);
    t.comment(`growth ${run.growthMiBs} MiB/s (1 MiB every ${stepMs} ms), limit ${LIMIT_MIB} MiB, killed ${run.secondsToKill.toFixed(1)} s after start:`);
    for (const [name, lead] of run.leads) t.comment(`  ${name}: ${fmt(lead)}`);
    for (const name of [IMMINENT, HEADLINE]) {
      const lead = run.leads.get(name) ?? null;
      t.ok(lead !== null && lead > 0, `${name} at ${run.growthMiBs} MiB/s: ${fmt(lead)}`);
    }
  }
});
