import t from 'tap';
import { parseOomReport } from '../src/features/oom/oom-report.js';

t.strictSame(
  parseOomReport(
    '6,1234,4401356188,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/faultline-test-1,task_memcg=/faultline-test-1/a,task=workload,pid=3417,uid=0',
  ),
  { pid: 3417, constraint: 'memcg', oomMemcg: '/faultline-test-1', taskMemcg: '/faultline-test-1/a' },
);
t.strictSame(
  parseOomReport('[ 12.5] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice,task=stress-ng,pid=6100,uid=1000'),
  { pid: 6100, constraint: 'global', oomMemcg: '', taskMemcg: '/user.slice' },
);
t.strictSame(parseOomReport('oom-kill:constraint=CONSTRAINT_CPUSET,nodemask=0,cpuset=/a,mems_allowed=0-1,task=x,pid=5,uid=0')?.constraint, 'cpuset');
t.strictSame(parseOomReport('oom-kill:constraint=CONSTRAINT_WHATEVER,pid=5')?.constraint, 'unknown');
t.equal(parseOomReport('6,1,2,-;Memory cgroup out of memory: Killed process 3417 (workload)'), null);
t.equal(parseOomReport('oom-kill:constraint=CONSTRAINT_MEMCG,task=x'), null, 'no pid');
