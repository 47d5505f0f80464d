import t from 'tap';
import { formatValue, renderFamilies, renderFamily, type Family } from '../src/expose/exposition.js';

const faults: Family = {
  name: 'faultline_page_faults_total',
  help: 'Page faults.\nTwo lines \\ one backslash.',
  type: 'counter',
  labelNames: ['type', 'region'],
  samples: () => [
    [{ type: 'minor', region: 'anon' }, 25612],
    [{ type: 'major', region: 'file' }, 0],
  ],
};
const info: Family = {
  name: 'faultline_oom_victim_info',
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

t.test('pre-rendered labels pass through', async (t) => {
  const fam: Family = { ...faults, samples: () => [['pid="1",comm="x",type="minor",region="anon"', 7]] };
  t.match(renderFamily(fam, false), /^faultline_page_faults_total\{pid="1",comm="x",type="minor",region="anon"\} 7$/m);
});
