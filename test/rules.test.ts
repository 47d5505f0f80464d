/* The shipped alert rules: promtool check rules, and promtool test rules over deploy/prometheus/faultline-rules.test.yml. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { ROOT } from './helpers/live.js';

const dir = `${ROOT}deploy/prometheus`;
const promtool = (...args: string[]) => spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });

t.test('promtool check rules', async (t) => {
  const r = promtool('check', 'rules', 'faultline-rules.yml');
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.match(r.stdout, /SUCCESS: 8 rules found/);
});

t.test('promtool test rules: every alert fires on its input, and only then', async (t) => {
  const r = promtool('test', 'rules', 'faultline-rules.test.yml');
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.match(r.stdout, /SUCCESS/);
});
