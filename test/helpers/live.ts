/** Helpers for live tests: real kernel, real processes, the built CLI. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout: the nearest directory above this file with a package.json (the tests also run compiled, from build/vm-tests). */
export const ROOT = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return `${dir}/`;
})();
export const CLI = `${ROOT}dist/cli/main.js`;
export const isRoot = process.getuid?.() === 0;
export const SKIP_NOT_ROOT = isRoot ? false : 'live test: needs root';

const WORKLOAD_SRC = `${ROOT}test/fixtures/workload.c`;
export const WORKLOAD = `${ROOT}build/test/workload`;

/** Compiles test/fixtures/workload.c when it is newer than the binary. */
export function buildWorkload(): string {
  if (!existsSync(WORKLOAD) || statSync(WORKLOAD).mtimeMs < statSync(WORKLOAD_SRC).mtimeMs) {
    mkdirSync(`${ROOT}build/test`, { recursive: true });
    execFileSync('cc', ['-O1', '-Wall', '-pthread', '-o', WORKLOAD, WORKLOAD_SRC]);
  }
  return WORKLOAD;
}

export interface KernelAccount {
  pid: number;
  minflt: number;
  majflt: number;
  status: number;
  stdout: string[];
}

/** `workload run ...`: the child's own rusage from wait4(), after it has exited. */
export function runWorkload(...args: string[]): KernelAccount {
  const out = execFileSync(buildWorkload(), ['run', ...args], { encoding: 'utf8' }).trim().split('\n');
  return { ...(JSON.parse(out.at(-1)!) as Omit<KernelAccount, 'stdout'>), stdout: out.slice(0, -1) };
}

export interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** The CLI with args; `wrapper` runs it under another command (e.g. setpriv); `env` adds variables; `cli`: another faultline (an installed one). */
export function startCli(args: string[], wrapper: string[] = [], env: Record<string, string> = {}, cli: string[] = [process.execPath, CLI]): Started {
  const [command, ...rest] = [...wrapper, ...cli, ...args];
  const child = spawn(command!, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/**
 * How much slower than a host this machine runs the tests: every bound of
 * waitFor is multiplied by it (FAULTLINE_TEST_SLOWDOWN, 1 to 100; .ci/in-vm
 * sets it under emulation, where a start takes ~20 s instead of ~1).
 */
export const SLOWDOWN = ((): number => {
  const v = Number(process.env.FAULTLINE_TEST_SLOWDOWN ?? '1');
  if (!Number.isFinite(v) || v < 1 || v > 100) throw new Error(`FAULTLINE_TEST_SLOWDOWN=${process.env.FAULTLINE_TEST_SLOWDOWN}: a number from 1 to 100`);
  return v;
})();

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 20000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs * SLOWDOWN;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Exporter extends Started {
  url: string;
  stop: () => Promise<number | null>;
}

/** Flags every test's `serve` gets besides its own (FAULTLINE_TEST_SERVE_FLAGS, space-separated; .ci/in-vm sets it). */
const SERVE_FLAGS_FROM_ENV = (process.env.FAULTLINE_TEST_SERVE_FLAGS ?? '').split(/\s+/).filter(Boolean);

/** `faultline serve` on a free loopback port. */
export async function startExporter(extra: string[] = [], wrapper: string[] = [], env: Record<string, string> = {}, cli?: string[]): Promise<Exporter> {
  const s = startCli(['serve', '--web.listen-address=127.0.0.1:0', ...SERVE_FLAGS_FROM_ENV, ...extra], wrapper, env, cli);
  const line = await Promise.race([
    waitFor('faultline to serve', () => /serving (https?:\/\/\S+)/.exec(s.stderr())?.[1]),
    s.exited.then((code) => {
      throw new Error(`faultline exited ${code}: ${s.stderr()}`);
    }),
  ]);
  return {
    ...s,
    url: line,
    stop: async () => {
      s.child.kill('SIGTERM');
      return s.exited;
    },
  };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (enough for faultline's own output). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const text = m[3]!;
    samples.push({ name: m[1]!, labels, value: text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text) });
  }
  return samples;
}

export async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(url);
  const text = await res.text();
  if (!res.ok) throw new Error(`scrape ${url}: ${res.status} ${text}`);
  return { text, samples: parseMetrics(text) };
}

export function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/**
 * SIGINT, again every 10 s if it has not exited (bpftrace has been seen to
 * miss one), at most three times; false if it never exits (then SIGKILL).
 */
export async function interrupt(child: ChildProcess, exited: Promise<unknown>): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    child.kill('SIGINT');
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10000))]);
    if (done) return true;
  }
  child.kill('SIGKILL');
  return false;
}

/** bpftrace counting one process's user page faults (exceptions/page_fault_user): the count live tests check against. */
export interface FaultCounter {
  /** Resolves once every probe is attached (bpftrace runs BEGIN after attaching). */
  readonly attached: Promise<unknown>;
  /** SIGINT (bounded, see interrupt); the count bpftrace printed, NaN if none. */
  stop(): Promise<{ stopped: boolean; count: number }>;
  kill(): void;
}

export function countUserFaults(pid: number): FaultCounter {
  const bpftrace = spawn('bpftrace', ['-e', `BEGIN { printf("bpftrace-ready\\n"); } tracepoint:exceptions:page_fault_user /pid == ${pid}/ { @faults = count(); }`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  bpftrace.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => bpftrace.on('exit', () => resolve()));
  return {
    attached: waitFor('bpftrace to attach', () => out.includes('bpftrace-ready'), 60000),
    async stop() {
      const stopped = await interrupt(bpftrace, exited);
      return { stopped, count: Number(/@faults: (\d+)/.exec(out)?.[1]) };
    },
    kill: () => bpftrace.kill('SIGKILL'),
  };
}

