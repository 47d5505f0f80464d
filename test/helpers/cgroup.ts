/**
 * A memory cgroup named faultline-test-* with a small limit, for a safe, real
 * OOM kill. cgroup v1 (memory controller) or v2, whichever the host uses for
 * memory. remove() kills only the processes this test put in it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { buildWorkload } from './live.js';

const V1 = '/sys/fs/cgroup/memory';
const V2 = '/sys/fs/cgroup';

export interface TestCgroup {
  readonly path: string;
  /** The path as faultline names it: relative to the memory hierarchy's root. */
  readonly name: string;
  readonly procsFile: string;
  /** A cgroup inside this one, without a limit of its own; remove() on this one removes it too. */
  child(leaf: string): TestCgroup;
  remove(): Promise<void>;
}

let created = 0;

/**
 * A memory cgroup faultline-test-<pid>-<n>[/subpath] with limitBytes on the
 * leaf; remove() kills what is in it and removes the leaf and its parents.
 */
export function createMemoryCgroup(limitBytes: number, subpath = ''): TestCgroup {
  const top = `faultline-test-${process.pid}-${Date.now()}-${created++}`;
  const name = `/${top}${subpath ? `/${subpath}` : ''}`;
  let root: string;
  let v1: boolean;
  if (existsSync(`${V1}/memory.limit_in_bytes`)) {
    root = V1;
    v1 = true;
  } else if (existsSync(`${V2}/cgroup.controllers`) && readFileSync(`${V2}/cgroup.controllers`, 'utf8').includes('memory')) {
    root = V2;
    v1 = false;
  } else {
    throw new Error('no memory cgroup controller found (v1 at /sys/fs/cgroup/memory or v2 at /sys/fs/cgroup)');
  }
  // v2 without systemd (a bare VM): the root may not hand the memory controller down yet.
  if (!v1) handMemoryDown(root);
  const path = `${root}${name}`;
  const dirs: string[] = [];
  for (let dir = path; dir !== root; dir = dir.slice(0, dir.lastIndexOf('/'))) dirs.unshift(dir);
  for (const dir of dirs) {
    mkdirSync(dir);
    if (!v1 && dir !== path) handMemoryDown(dir);
  }
  try {
    if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) throw new Error(`a memory limit of ${limitBytes} bytes`);
    if (v1) {
      writeFileSync(`${path}/memory.limit_in_bytes`, String(limitBytes));
    } else {
      writeFileSync(`${path}/memory.max`, String(limitBytes));
      writeFileSync(`${path}/memory.swap.max`, '0');
    }
  } catch (err) {
    // Nothing is in it yet: what this call made goes.
    for (const dir of [...dirs].reverse()) if (existsSync(dir)) rmdirSync(dir);
    throw err;
  }
  // Its parents go with it.
  return cgroupAt(path, name, v1, () => {
    for (const dir of [...dirs].reverse()) if (existsSync(dir)) rmdirSync(dir);
  });
}

/** cgroup v2: a child has the memory controller only if its parent enables it for its children. */
function handMemoryDown(dir: string): void {
  if (!readFileSync(`${dir}/cgroup.subtree_control`, 'utf8').includes('memory')) writeFileSync(`${dir}/cgroup.subtree_control`, '+memory');
}

/** Kills what this test put in the cgroup at dir and below (only our own workloads are there), deepest first. */
function emptyTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const below = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => emptyTree(`${dir}/${e.name}`));
  const procs = `${dir}/cgroup.procs`;
  for (const pid of existsSync(procs) ? readFileSync(procs, 'utf8').trim().split('\n').filter(Boolean) : []) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return [...below, dir];
}

function cgroupAt(path: string, name: string, v1: boolean, removeParents: () => void): TestCgroup {
  return {
    path,
    name,
    procsFile: `${path}/cgroup.procs`,
    child(leaf) {
      if (!v1) handMemoryDown(path);
      mkdirSync(`${path}/${leaf}`);
      return cgroupAt(`${path}/${leaf}`, `${name}/${leaf}`, v1, () => {});
    },
    async remove() {
      for (let attempt = 0; attempt < 100; attempt++) {
        try {
          for (const dir of emptyTree(path)) rmdirSync(dir);
          removeParents();
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      throw new Error(`could not remove ${path}`);
    },
  };
}

export interface Holder {
  readonly child: ChildProcess;
  /** True once the workload has touched all its memory. */
  held(): boolean;
  /** Resolves with the signal that ended it (null on a normal exit). */
  readonly exited: Promise<NodeJS.Signals | null>;
}

/** `workload hold MIB` in the cgroup with the given oom_score_adj; remove() ends it. */
export function holdMemoryIn(cgroup: TestCgroup, mib: number, oomScoreAdj: number): Holder {
  const child = spawn(
    'sh',
    ['-c', `echo $$ > ${cgroup.procsFile} && echo ${oomScoreAdj} > /proc/self/oom_score_adj && exec ${buildWorkload()} hold ${mib}`],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  return { child, held: () => out.includes('held'), exited };
}
