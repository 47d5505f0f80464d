import t from 'tap';
import { parseCpuList } from '../src/readers/cpu-list.js';

const cases: [string, number[]][] = [
  ['0', [0]],
  ['0-1\n', [0, 1]],
  ['0-3,8,10-11', [0, 1, 2, 3, 8, 10, 11]],
  ['', []],
];
for (const [text, want] of cases) t.strictSame(parseCpuList(text), want, JSON.stringify(text));
t.throws(() => parseCpuList('3-1'), /bad CPU range/);
t.throws(() => parseCpuList('a'), /bad CPU list/);
