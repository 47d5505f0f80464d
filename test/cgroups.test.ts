import t from 'tap';
import { parseCgroupMounts } from '../src/readers/cgroups.js';

const v1 = `
25 24 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
`;
const v2 = `
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

t.strictSame(parseCgroupMounts(v1), { unified: '/sys/fs/cgroup/unified', memoryV1: '/sys/fs/cgroup/memory' }, 'hybrid: memory on v1');
t.strictSame(parseCgroupMounts(v2), { unified: '/sys/fs/cgroup', memoryV1: null }, 'unified only');
t.strictSame(parseCgroupMounts(''), { unified: null, memoryV1: null });
