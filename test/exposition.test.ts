import t from 'tap';
import { formatValue, renderFamilies, renderFamily } from '../src/expose/exposition.js';
import { type Family, type HistogramFamily, type ScalarFamily } from '../src/metrics/family.js';

const faults: ScalarFamily = {
  name: 'faultline_page_faults_total',
  otel: { name: 'faultline.page_faults', unit: '{fault}' },
  help: 'Page faults.\nTwo lines \\ one backslash.',
  type: 'counter',
  labelNames: ['type', 'region'],
  samples: () => [
    [{ type: 'minor', region: 'anon' }, 25612],
    [{ type: 'major', region: 'file' }, 0],
  ],
};
const info: ScalarFamily = {
  name: 'faultline_oom_victim_info',
  otel: { name: 'faultline.oom.victim.time', unit: 's' },
  help: 'Victims.',
  type: 'gauge',
  labelNames: ['comm'],
  samples: () => [[{ comm: 'a "quoted"\\name\n' }, 1764103550.123]],
};

t.equal(
  renderFamily(faults, false),
  '# HELP faultline_page_faults_total Page faults.\\nTwo lines \\\\ one backslash.\n' +
    '# TYPE faultline_page_faults_total counter\n' +
    'faultline_page_faults_total{type="minor",region="anon"} 25612\n' +
    'faultline_page_faults_total{type="major",region="file"} 0\n',
);
t.equal(
  renderFamily(faults, true),
  '# HELP faultline_page_faults Page faults.\\nTwo lines \\\\ one backslash.\n' +
    '# TYPE faultline_page_faults counter\n' +
    'faultline_page_faults_total{type="minor",region="anon"} 25612\n' +
    'faultline_page_faults_total{type="major",region="file"} 0\n',
  'OpenMetrics: the family is named without _total, samples with it',
);
t.match(renderFamily(info, false), /^faultline_oom_victim_info\{comm="a \\"quoted\\"\\\\name\\n"\} 1764103550\.123$/m, 'label values escaped');
t.equal(renderFamilies([faults, info], false).split('\n\n').length, 2, 'Prometheus text separates families with a blank line');
t.strictSame([formatValue(NaN), formatValue(Infinity), formatValue(-Infinity), formatValue(1e21)], ['NaN', '+Inf', '-Inf', '1e+21']);
t.throws(
  () => renderFamily({ ...info, labelNames: ['pid'] }, false),
  /faultline_oom_victim_info: samples have labels \(comm\), declared \(pid\)/,
);
t.equal(renderFamily({ ...info, samples: () => [] }, false), '# HELP faultline_oom_victim_info Victims.\n# TYPE faultline_oom_victim_info gauge\n');

t.test('label values in labelNames order render as labels by name do', async (t) => {
  const fam: ScalarFamily = { ...faults, labelNames: ['pid', 'comm', 'type', 'region'], samples: () => [[[1, 'x"y', 'minor', 'anon'], 7]] };
  t.match(renderFamily(fam, false), /^faultline_page_faults_total\{pid="1",comm="x\\"y",type="minor",region="anon"\} 7$/m);
  t.throws(() => renderFamily({ ...fam, samples: () => [[[1, 'x'], 7]] }, false), /a sample has 2 label values, declared \(pid,comm,type,region\)/);
});

t.test('a histogram renders its buckets (cumulative, then +Inf as the count), sum and count', async (t) => {
  const fam: HistogramFamily = {
    name: 'faultline_memcg_reclaim_duration_seconds',
    help: 'Reclaim.',
    type: 'histogram',
    labelNames: ['cgroup'],
    otel: { name: 'faultline.memcg_reclaim.duration', unit: 's' },
    points: () => [{ labels: ['/a'], bounds: [0.000001024, 0.004194304], cumulative: [0, 4], count: 5, sum: 0.25 }],
  };
  t.equal(
    renderFamily(fam, false),
    '# HELP faultline_memcg_reclaim_duration_seconds Reclaim.\n' +
      '# TYPE faultline_memcg_reclaim_duration_seconds histogram\n' +
      'faultline_memcg_reclaim_duration_seconds_bucket{cgroup="/a",le="0.000001024"} 0\n' +
      'faultline_memcg_reclaim_duration_seconds_bucket{cgroup="/a",le="0.004194304"} 4\n' +
      'faultline_memcg_reclaim_duration_seconds_bucket{cgroup="/a",le="+Inf"} 5\n' +
      'faultline_memcg_reclaim_duration_seconds_sum{cgroup="/a"} 0.25\n' +
      'faultline_memcg_reclaim_duration_seconds_count{cgroup="/a"} 5\n',
  );
  const unlabelled: Family = { ...fam, labelNames: [], points: () => [{ labels: [], bounds: [1], cumulative: [1], count: 1, sum: 0.5 }] };
  t.match(renderFamily(unlabelled, false), /_bucket\{le="1"\} 1\n.*_bucket\{le="\+Inf"\} 1\n.*_sum 0\.5\n.*_count 1\n/s);
});
