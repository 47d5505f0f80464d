/*
 * The feature registry (src/core/features.ts): names, collector switches and
 * check lines are unique, and a collector switched off drops exactly its
 * feature's families from what /metrics and OTLP render.
 */
import t from 'tap';
import { COLLECTORS, type CollectorName } from '../src/core/feature.js';
import { FEATURES } from '../src/core/features.js';
import { FaultlineState } from '../src/core/state.js';
import { createFamilies } from '../src/expose/metrics.js';
import { CgroupNames } from '../src/readers/cgroups.js';
import { exporterSelf, fakeKernelSource } from './helpers/fakes.js';

const state = (): FaultlineState => new FaultlineState(fakeKernelSource(), {}, () => 0n, () => true, new CgroupNames({ unified: null, memoryV1: null }));
const allOn = (): Record<CollectorName, boolean> => Object.fromEntries(COLLECTORS.map((c) => [c, true])) as Record<CollectorName, boolean>;
const names = (collectors: Record<CollectorName, boolean>): string[] => createFamilies(state(), exporterSelf({ collectors })).map((f) => f.name);

t.test('names, collectors and check lines are unique', async (t) => {
  const featureNames = FEATURES.map((f) => f.name);
  t.strictSame([...new Set(featureNames)], featureNames, 'feature names');
  const collectors = FEATURES.flatMap((f) => (f.collector ? [f.collector] : []));
  t.strictSame([...new Set(collectors)], collectors, 'one feature per collector switch');
  for (const c of collectors) t.ok(COLLECTORS.includes(c), `${c} is a --collector flag`);
  const labels = FEATURES.flatMap((f) => (f.checks ?? []).map((c) => c.label));
  t.strictSame([...new Set(labels)], labels, 'check labels');
  for (const core of ['privileges', 'libbpf', 'btf', 'tracepoints', 'classic', 'fallback', 'cgroups', 'bpf stats']) t.notOk(labels.includes(core), `${core} is the core's`);
  for (const label of labels) t.ok(label.length <= 15, `"${label}" fits check's column`);
});

t.test('each family belongs to one feature; switching a collector off drops exactly its families', async (t) => {
  const all = names(allOn());
  t.strictSame([...new Set(all)], all, 'no family twice');
  const byFeature = new Map(FEATURES.map((f) => [f.name, (f.families?.(state()) ?? []).map((family) => family.name)]));
  for (const f of FEATURES) {
    for (const name of byFeature.get(f.name)!) t.ok(all.includes(name), `${name} of ${f.name} is rendered with every collector on`);
    if (!f.collector) continue;
    const without = names({ ...allOn(), [f.collector]: false });
    const own = byFeature.get(f.name)!;
    t.ok(own.length > 0, `${f.name} has families`);
    t.strictSame(
      without,
      all.filter((n) => !own.includes(n)),
      `--no-collector.${f.collector} drops ${f.name}'s ${own.length} families and nothing else`,
    );
  }
});
