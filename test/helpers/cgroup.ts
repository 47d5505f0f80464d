/**
 * A memory cgroup named faultline-test-* with a small limit, for a safe, real
 * OOM kill. cgroup v1 (memory controller) or v2, whichever the host uses for
 * memory. remove() kills only the processes this test put in it.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

const V1 = '/sys/fs/cgroup/memory';
const V2 = '/sys/fs/cgroup';

export interface TestCgroup {
  readonly path: string;
  readonly procsFile: string;
  remove(): Promise<void>;
}

export function createMemoryCgroup(limitBytes: number): TestCgroup {
  const name = `faultline-test-${process.pid}-${Date.now()}`;
  let path: string;
  if (existsSync(`${V1}/memory.limit_in_bytes`)) {
    path = `${V1}/${name}`;
    mkdirSync(path);
    writeFileSync(`${path}/memory.limit_in_bytes`, String(limitBytes));
  } else if (existsSync(`${V2}/cgroup.controllers`) && readFileSync(`${V2}/cgroup.controllers`, 'utf8').includes('memory')) {
    path = `${V2}/${name}`;
    mkdirSync(path);
    writeFileSync(`${path}/memory.max`, String(limitBytes));
    writeFileSync(`${path}/memory.swap.max`, '0');
  } else {
    throw new Error('no memory cgroup controller found (v1 at /sys/fs/cgroup/memory or v2 at /sys/fs/cgroup)');
  }
  const procsFile = `${path}/cgroup.procs`;
  return {
    path,
    procsFile,
    async remove() {
      for (let attempt = 0; attempt < 100; attempt++) {
        const pids = existsSync(procsFile) ? readFileSync(procsFile, 'utf8').trim().split('\n').filter(Boolean) : [];
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL'); // only our own workload can be in this cgroup
          } catch {
            // already gone
          }
        }
        try {
          rmdirSync(path);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      throw new Error(`could not remove ${path}`);
    },
  };
}
