/*
 * End to end: faultline, a real Prometheus scraping it every second with the
 * shipped rules loaded, and workloads — a fault storm, major faults from a
 * file, a kubepods-style cgroup holding memory under a limit, compaction, and
 * an OOM kill in a faultline-test-* cgroup. Then every target of every panel
 * of deploy/grafana/faultline.json must parse and return data (a time series
 * with at least one finite value over the test, a table with at least one
 * row), every dashboard variable must have values, and every rule expression
 * must parse, with every metric it reads present — except metrics this host
 * cannot produce, each named with its reason.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { tempDir } from './helpers/temp.js';
import { SKIP_NOT_ROOT, buildWorkload, runWorkload, startExporter, waitFor, ROOT } from './helpers/live.js';
import { createMemoryCgroup, holdMemoryIn } from './helpers/cgroup.js';
import { RECORDED_POD, fakeApiServer } from './helpers/kube.js';
import { SHIPPED_RULES, startPrometheus, type PromResult } from './helpers/prometheus.js';

const memoryOnV2 = !readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => / - cgroup \S+ \S*\bmemory\b/.test(l));

/** Metrics a rule reads that this host cannot produce, and why. */
const CANNOT_PRODUCE: Record<string, string> = {
  faultline_direct_reclaim_duration_seconds_bucket: 'direct reclaim needs the whole host short of free memory, which a test must not cause',
  ...(memoryOnV2 ? {} : { faultline_cgroup_memory_pressure_ratio: 'cgroup memory.pressure exists on cgroup v2 only; memory is on v1 here' }),
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** A dashboard expression with every variable at All, or at the values given. */
const substitute = (expr: string, values: Record<string, string> = {}): string =>
  expr.replace(/\$__rate_interval/g, '4s').replace(/\$(cluster|job|instance|node|namespace|pod|cgroup)\b/g, (_, name: string) => values[name] ?? '.*');

t.test('every dashboard panel and every rule gets data from a real Prometheus', { skip: SKIP_NOT_ROOT }, async (t) => {
  const started = Date.now() / 1000;
  const kubeconfig = await fakeApiServer(t);
  const exporter = await startExporter(['--bpf.stats', '--kubernetes.enabled', `--kubernetes.node-name=${RECORDED_POD.nodeName}`, `--kubernetes.kubeconfig=${kubeconfig}`]);
  t.teardown(() => exporter.stop());
  // A cluster label, as a multi-cluster Prometheus adds: the dashboard's cluster variable reads it.
  const prometheus = await startPrometheus([exporter.url], [readFileSync(SHIPPED_RULES, 'utf8')], ['relabel_configs:', '  - target_label: cluster', '    replacement: e2e']);
  t.teardown(() => prometheus.stop());

  // A pod's cgroup (the recorded API server names it) with a limit and a live process: headroom, cgroup info.
  const pod = createMemoryCgroup(256 << 20, `kubepods/burstable/pod${RECORDED_POD.uid}/${RECORDED_POD.container}`);
  t.teardown(() => pod.remove());
  const holder = holdMemoryIn(pod, 16, 0);
  await waitFor('the holder', () => holder.held());
  // Compaction twice, scrapes apart: the first creates the cgroup's series, the second is an increase rate() sees.
  for (const pause of [3000, 0]) {
    const compact = spawn('sh', ['-c', `echo $$ > ${pod.procsFile} && echo 1 > /proc/sys/vm/compact_memory`], { stdio: 'ignore' });
    await new Promise((resolve) => compact.on('exit', resolve));
    await new Promise((r) => setTimeout(r, pause));
  }

  // A fault storm and major faults.
  runWorkload('anon', '200');
  const dir = tempDir(t, 'faultline-test-');
  writeFileSync(join(dir, 'data'), Buffer.alloc(2048 * 4096, 7));
  runWorkload('file', join(dir, 'data'));

  // An OOM kill, growing 10 MiB/s over several scrapes: memcg reclaim runs first, the cgroup's zero histograms are
  // scraped before it, and its time to OOM (which needs a second of readings after the first refresh that sees it) falls.
  const oom = createMemoryCgroup(64 << 20);
  t.teardown(() => oom.remove());
  const victim = spawn('sh', ['-c', `echo $$ > ${oom.procsFile} && exec ${buildWorkload()} grow 1024 100`], { stdio: 'ignore' });
  t.equal(await new Promise((resolve) => victim.on('exit', (_c, signal) => resolve(signal))), 'SIGKILL', 'the OOM victim was killed');
  await waitFor('Prometheus to scrape the kill', async () => (await prometheus.query('faultline_oom_victim_info')).result.length > 0);
  await new Promise((r) => setTimeout(r, 5000)); // a few more scrapes for every rate window
  const end = Date.now() / 1000;

  const range = async (expr: string): Promise<PromResult[]> => {
    const q = `/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${started}&end=${end}&step=1`;
    const body = (await (await fetch(`${prometheus.url}${q}`)).json());
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data.result as PromResult[];
  };
  const finite = (results: PromResult[]): boolean => results.some((r) => (r.values ?? []).some(([, v]) => Number.isFinite(Number(v))));

  const dashboard = JSON.parse(readFileSync(`${ROOT}deploy/grafana/faultline.json`, 'utf8'));
  for (const panel of dashboard.panels.filter((p: Any) => p.type !== 'row')) {
    for (const target of panel.targets) {
      const expr = substitute(target.expr);
      if (target.instant) {
        const { result } = await prometheus.query(expr);
        t.ok(result.length > 0, `panel "${panel.title}" (${target.refId}): ${result.length} rows`);
      } else {
        const results = await range(expr);
        t.ok(finite(results), `panel "${panel.title}" (${target.refId}): ${results.length} series with data`);
      }
    }
  }
  // The pod variable narrows per-workload panels to that pod's cgroups; All keeps the cgroups that run no workload too.
  const topCgroups = dashboard.panels.find((p: Any) => p.title === 'Top cgroups').targets[0].expr as string;
  const cgroupsOf = async (values: Record<string, string>): Promise<string[]> => (await range(substitute(topCgroups, values))).map((r) => r.metric.cgroup!);
  const all = await cgroupsOf({});
  const onePod = await cgroupsOf({ pod: RECORDED_POD.pod, namespace: '.+' });
  t.strictSame(onePod, [pod.name], `pod ${RECORDED_POD.pod}: its cgroup alone`);
  t.ok(all.includes(pod.name) && all.some((c) => !c.includes('kubepods')), `All: ${all.length} cgroups, workloads and the rest`);
  t.strictSame(await cgroupsOf({ pod: 'no-such-pod' }), [], 'a pod that is not there: nothing');

  for (const v of dashboard.templating.list.filter((x: Any) => x.type === 'query')) {
    const [, selector, label] = /^label_values\((.+), (\w+)\)$/.exec(v.query.query)!;
    const { result } = await prometheus.query(substitute(selector!));
    // `node` comes from the ServiceMonitor's relabeling on Kubernetes; this Prometheus has none.
    if (label === 'node') t.ok(result.length > 0, `variable node: ${result.length} series (no node label outside Kubernetes)`);
    else t.ok(result.some((r) => label! in r.metric), `variable ${v.name}: ${result.length} series with ${label}`);
  }

  const rules = (parseYaml(readFileSync(SHIPPED_RULES, 'utf8'))).groups.flatMap((g: Any) => g.rules);
  for (const rule of rules) {
    await prometheus.query(rule.expr); // throws unless it parses and evaluates
    for (const name of new Set(rule.expr.match(/faultline_[a-z0-9_]+/g) as string[])) {
      const why = CANNOT_PRODUCE[name];
      if (why) {
        t.comment(`${rule.alert}: ${name} not checked: ${why}`);
        continue;
      }
      const { result } = await prometheus.query(`last_over_time(${name}[5m])`);
      t.ok(result.length > 0, `${rule.alert}: ${name} has data`);
    }
  }
  const oomRule = rules.find((r: Any) => r.alert === 'FaultlineOOMKill');
  t.ok((await prometheus.query(oomRule.expr)).result.length > 0, 'FaultlineOOMKill\'s expression holds after the kill');
  const firing = await waitFor('FaultlineOOMKill to fire', async () => (await prometheus.alerts()).find((a) => a.labels.alertname === 'FaultlineOOMKill' && a.labels.cgroup === oom.name));
  t.equal(firing.labels.comm, 'workload');
});
