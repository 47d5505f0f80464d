import t from 'tap';
import { parseKeyedValues, parseLimit, parsePsi } from '../src/readers/memory-headroom.js';

t.strictSame(parsePsi('some avg10=1.50 avg60=0.25 avg300=0.00 total=23327\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=12424\n'), {
  some: { avg10: 0.015, avg60: 0.0025, avg300: 0, totalSeconds: 0.023327 },
  full: { avg10: 0, avg60: 0, avg300: 0, totalSeconds: 0.012424 },
});
t.strictSame(parsePsi('some avg10=60.00 avg60=10.00 avg300=2.00 total=5000000\n')?.full, null, 'old kernels: no full line for cpu');
t.equal(parsePsi(''), null);
t.strictSame([...parseKeyedValues('low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n')], [
  ['low', 0],
  ['high', 12],
  ['max', 3],
  ['oom', 1],
  ['oom_kill', 1],
  ['oom_group_kill', 0],
]);
t.strictSame(parseKeyedValues('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n').get('oom_kill'), 2, 'v1 memory.oom_control');
t.equal(parseLimit('max\n'), null);
t.equal(parseLimit('9223372036854771712\n'), null, 'v1 unlimited');
t.equal(parseLimit('67108864\n'), 67108864);
t.equal(parseLimit('garbage'), null);
