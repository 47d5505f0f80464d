import t from 'tap';
import { median, parseBpftoolProgs, percentile, runTimeDelta } from '../bench/stats.js';

t.equal(median([3, 1, 2]), 2);
t.equal(median([4, 1, 2, 3]), 2.5);
t.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99), 9.91);
t.ok(Number.isNaN(median([])));

t.test('run-time deltas count programs loaded in between from zero', async (t) => {
  const before = parseBpftoolProgs('[{"id":1,"name":"a","run_time_ns":100,"run_cnt":1},{"id":2,"name":"b"}]');
  const after = parseBpftoolProgs(
    '[{"id":1,"name":"a","run_time_ns":350,"run_cnt":3},{"id":2,"name":"b"},{"id":7,"name":"new","run_time_ns":40,"run_cnt":2}]',
  );
  t.strictSame(runTimeDelta(before, after), { runTimeNs: 290, byProgram: { a: 250, new: 40 } });
});
