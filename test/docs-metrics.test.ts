/*
 * The metric tables of the docs (docs/metrics.md, docs/otlp.md) are rendered
 * from the families' declarations: this fails when they differ.
 * FAULTLINE_WRITE_DOCS=1 (npm run docs:metrics) rewrites them instead.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { CgroupNames } from '../src/readers/cgroups.js';
import { FaultlineState } from '../src/core/state.js';
import { createFamilies } from '../src/expose/metrics.js';
import { metricsTable, otelTable, replaceGenerated } from '../src/expose/metrics-docs.js';
import { exporterSelf, fakeKernelSource } from './helpers/fakes.js';
import { ROOT } from './helpers/live.js';

t.test('the metric tables in the docs are the declarations', async (t) => {
  // Every collector on: every family.
  const state = new FaultlineState(fakeKernelSource(), {}, () => 0n, () => true, new CgroupNames({ unified: null, memoryV1: null }));
  const families = createFamilies(state, exporterSelf());
  for (const [file, name, table] of [
    ['docs/metrics.md', 'metrics-table', metricsTable(families)],
    ['docs/otlp.md', 'otel-table', otelTable(families)],
  ] as const) {
    const path = `${ROOT}${file}`;
    const text = readFileSync(path, 'utf8');
    const generated = replaceGenerated(text, name, table);
    t.not(generated, null, `${file} has the markers of ${name}`);
    if (generated === null) continue;
    if (process.env.FAULTLINE_WRITE_DOCS === '1') {
      writeFileSync(path, generated);
      t.pass(`${file} rewritten`);
    } else {
      t.equal(text, generated, `run \`npm run docs:metrics\` and commit ${file}`);
    }
  }
});

t.test('every family has one OpenTelemetry name, dotted, and a UCUM unit', async (t) => {
  const state = new FaultlineState(fakeKernelSource(), {}, () => 0n, () => true, new CgroupNames({ unified: null, memoryV1: null }));
  const families = createFamilies(state, exporterSelf());
  const seen = new Set<string>();
  for (const f of families) {
    t.match(f.otel.name, /^faultline(\.[a-z][a-z0-9_]*)+$/, `${f.otel.name}: dotted, lower case`);
    t.match(f.otel.unit, /^(By|By\/s|s|1|\{[a-z]+\})$/, `${f.otel.name}: a UCUM unit or {annotation}`);
    t.notOk(seen.has(f.otel.name), `${f.otel.name} is used once`);
    seen.add(f.otel.name);
    if (f.type === 'counter') t.match(f.name, /_total$/, `${f.name}: a counter ends in _total`);
  }
  t.equal(new Set(families.map((f) => f.name)).size, families.length, 'each Prometheus name once');
});
