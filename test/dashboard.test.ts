/* deploy/grafana/faultline.json: generated from dashboard.ts, importable, every panel described, every rate over $__rate_interval. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dashboard } from '../deploy/grafana/dashboard.js';
import { ROOT } from './helpers/live.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const committed = JSON.parse(readFileSync(`${ROOT}deploy/grafana/faultline.json`, 'utf8'));

t.test('the committed JSON is what dashboard.ts generates', async (t) => {
  t.strictSame(committed, dashboard(), 'run `npm run dashboard` and commit deploy/grafana/faultline.json');
});

t.test('importable: __inputs, a datasource variable, cluster/job/instance/node/namespace/pod/cgroup variables', async (t) => {
  t.match(committed.__inputs, [{ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }]);
  const vars = new Map<string, Any>(committed.templating.list.map((v: Any) => [v.name, v]));
  t.equal(vars.get('datasource')?.type, 'datasource');
  t.equal(vars.get('datasource')?.query, 'prometheus');
  t.equal(vars.get('datasource')?.current.value, '${DS_PROMETHEUS}', 'the import input fills the datasource variable');
  t.strictSame(
    committed.templating.list.map((v: Any) => v.name),
    ['datasource', 'cluster', 'job', 'instance', 'node', 'namespace', 'pod', 'cgroup'],
  );
  for (const name of ['cluster', 'job', 'instance', 'node', 'namespace', 'pod', 'cgroup']) {
    t.equal(vars.get(name)?.type, 'query', `variable ${name}`);
    t.equal(vars.get(name)?.allValue, '.*', `${name}: "All" matches series without the label too`);
  }
  t.ok(committed.uid && committed.title && committed.schemaVersion, 'uid, title, schemaVersion');
});

t.test('every panel is described, uses the datasource variable and the variables, and rates over $__rate_interval', async (t) => {
  // Every row and panel, in order: a panel lost or added shows here by name.
  t.strictSame(
    committed.panels.map((p: Any) => `${p.type}: ${p.title}`),
    [
      'row: Page faults',
      'timeseries: Page faults by type',
      'timeseries: Page faults by memory region',
      'timeseries: Major faults by cgroup',
      'timeseries: Access types',
      'timeseries: Top processes',
      'timeseries: Top cgroups',
      'row: Before the OOM killer',
      'timeseries: Memory used of the limit, by cgroup',
      'timeseries: Limit events by cgroup',
      'timeseries: Reclaim latency p99',
      'timeseries: Time stalled in reclaim and compaction',
      'timeseries: Compaction stalls p99',
      'timeseries: Pages reclaimed',
      'timeseries: Memory pressure (PSI full, 10 s)',
      'row: OOM kills',
      'timeseries: Time to OOM, by cgroup',
      'timeseries: Unreclaimable memory growth',
      'timeseries: Unreclaimable memory and working set, of the limit',
      'timeseries: OOM kills so far',
      'table: Latest OOM victims',
      "table: OOM victims' memory",
      'table: What runs in each cgroup',
      'row: Exporter health',
      'timeseries: Lost records',
      'timeseries: BPF time per page fault',
      'timeseries: BPF CPU and the overhead governor',
      'timeseries: Scrape duration',
      'timeseries: Processes tracked',
    ],
  );
  const panels = committed.panels.filter((p: Any) => p.type !== 'row');
  const ids = new Set(committed.panels.map((p: Any) => p.id));
  t.equal(ids.size, committed.panels.length, 'unique panel ids');
  for (const p of panels) {
    t.ok(typeof p.description === 'string' && p.description.length > 40, `${p.title}: description`);
    t.equal(p.datasource.uid, '${datasource}', `${p.title}: datasource variable`);
    for (const target of p.targets) {
      t.equal(target.datasource.uid, '${datasource}');
      for (const v of ['cluster', 'job', 'instance', 'node']) t.match(target.expr, `${v}=~"$${v}"`, `${p.title}: filtered by $${v}`);
      // Per-workload data (a cgroup label) follows the namespace and pod variables; per-process series have no cgroup.
      if (target.expr.includes('cgroup=~"$cgroup"')) {
        t.match(target.expr, 'namespace=~"$namespace",pod=~"$pod"', `${p.title}: filtered by $namespace and $pod`);
      }
      for (const m of target.expr.matchAll(/\b(rate|increase)\([^[]*\[([^\]]+)\]/g)) {
        t.equal(m[2], '$__rate_interval', `${p.title}: ${m[1]} over $__rate_interval`);
      }
    }
  }
  const titles = panels.map((p: Any) => p.title).join('\n');
  for (const needed of [/by type/, /by memory region/, /Top processes/, /Top cgroups/, /Major faults/, /Access types/, /OOM kills/, /OOM victims/, /Reclaim latency/, /Time to OOM/, /Unreclaimable memory and working set/, /Lost records/, /BPF time per page fault/, /Scrape duration/]) {
    t.match(titles, needed, `a panel for ${needed.source}`);
  }
});
