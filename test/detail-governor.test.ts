import t from 'tap';
import { DetailGovernor, parseVmstatFaults, type GovernorSample } from '../src/features/faults/detail-governor.js';

const S = 1_000_000_000n;

/** Feeds ticks of one second each: [ns of all programs, ns of the detail programs, host faults] per tick. */
function run(governor: DetailGovernor, ticks: [number, number, number][]): (string | null)[] {
  let now = 0n;
  let total: GovernorSample = { nowNs: 0n, runNs: 0n, detailRunNs: 0n, hostFaults: 0n };
  governor.step(total);
  return ticks.map(([run, detail, faults]) => {
    now += S;
    total = { nowNs: now, runNs: total.runNs + BigInt(run), detailRunNs: total.detailRunNs + BigInt(detail), hostFaults: total.hostFaults + BigInt(faults) };
    return governor.step(total)?.state ?? null;
  });
}

t.test('off after two ticks over the budget, not after one', async (t) => {
  const g = new DetailGovernor({ budget: 0.1 });
  // 0.2 CPU: 200 ms of run time a second, 190 ms of it the detail's, 1M faults (190 ns each).
  t.strictSame(run(g, [[200e6, 190e6, 1e6], [50e6, 40e6, 2e5], [200e6, 190e6, 1e6], [200e6, 190e6, 1e6]]), [null, null, null, 'over_budget']);
  t.equal(g.state, 'over_budget');
  t.equal(g.usage, 0.2);
});

t.test('back on when the predicted cost stays under half the budget for five ticks', async (t) => {
  const g = new DetailGovernor({ budget: 0.1 });
  run(g, [[200e6, 190e6, 1e6], [200e6, 190e6, 1e6]]);
  t.equal(g.state, 'over_budget');
  // Still storming: 1M faults/s at 190 ns predicts 0.19 CPU: stays off, however long.
  t.strictSame(run(g, Array(10).fill([5e6, 0, 1e6])), Array(10).fill(null));
  t.ok(g.predicted > 0.19 && g.predicted < 0.2, `predicted ${g.predicted}`);
  // 200k faults/s predicts 0.038 + 0.005 = 0.043 CPU < 0.05: five such ticks bring it back; a spike in between restarts the count.
  t.strictSame(run(g, [[5e6, 0, 2e5], [5e6, 0, 2e5], [5e6, 0, 1e6], [5e6, 0, 2e5], [5e6, 0, 2e5], [5e6, 0, 2e5], [5e6, 0, 2e5]]), [null, null, null, null, null, null, null]);
  t.strictSame(run(g, [[5e6, 0, 2e5]]), ['on']);
  t.equal(g.offNs, 18n * S, 'the paused time is counted: 18 ticks');
});

t.test('between half the budget and the budget: no flapping either way', async (t) => {
  const g = new DetailGovernor({ budget: 0.1 });
  t.strictSame(run(g, Array(20).fill([80e6, 75e6, 4e5])), Array(20).fill(null), 'on at 0.08 CPU stays on');
  run(g, [[200e6, 190e6, 1e6], [200e6, 190e6, 1e6]]);
  t.equal(g.state, 'over_budget');
  // 0.075 CPU predicted (400k faults at 190 ns... measured 187.5 ns): over half the budget, so it stays off.
  t.strictSame(run(g, Array(20).fill([0, 0, 4e5])), Array(20).fill(null), 'off at a predicted 0.075 CPU stays off');
});

t.test('a counter going back, or no time passing, skips the tick', async (t) => {
  const g = new DetailGovernor({ budget: 0.1, overTicks: 1 });
  g.step({ nowNs: 10n * S, runNs: 10n * S, detailRunNs: 0n, hostFaults: 0n });
  t.equal(g.step({ nowNs: 11n * S, runNs: 0n, detailRunNs: 0n, hostFaults: 0n }), null, 'stats reset');
  t.equal(g.step({ nowNs: 11n * S, runNs: 5n * S, detailRunNs: 0n, hostFaults: 0n }), null, 'no time');
  t.equal(g.state, 'on');
});

t.test('the budget must be a number > 0', async (t) => {
  for (const bad of [0, -1, NaN, Infinity]) t.throws(() => new DetailGovernor({ budget: bad }), RangeError, String(bad));
});

t.test('/proc/vmstat pgfault', async (t) => {
  t.equal(parseVmstatFaults('pgfree 1\npgfault 123456789012\npgmajfault 7\n'), 123456789012n);
  t.equal(parseVmstatFaults('pgmajfault 7\n'), null, 'pgmajfault is not pgfault');
  t.equal(parseVmstatFaults(''), null);
});
