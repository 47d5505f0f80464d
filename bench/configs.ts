/** What the storm runs under: nothing, a floor, faultline, or bpftrace. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseCpuList } from '../src/readers/cpu-list.js';
import { BpfObject, PERF_COUNT_SW_PAGE_FAULTS, openSoftwarePerfEvent, type BpfLink } from '../src/bpf/libbpf.js';

export interface Sampled {
  readonly cpuSeconds: number;
  /** Peak resident memory (VmHWM). */
  readonly rssBytes: number;
  /** trace's own peak, where the config runs `trace` beside the exporter. */
  readonly traceRssBytes?: number;
}

export interface Attached {
  /** faultline's own CPU and memory, where the config runs faultline. */
  sample?(): Sampled;
  /** Detaches; returns records delivered and lost where the config streams events. */
  stop(): Promise<{ records?: number; lost?: number }>;
}

export interface BenchConfig {
  readonly name: string;
  start(stormPid: number): Promise<Attached>;
}

export interface Paths {
  readonly cli: string;
  readonly emptyObject: string;
}

const CLK_TCK = 100;

export function sampleProcess(pid: number): Sampled {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const rss = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK, rssBytes: Number(rss?.[1] ?? 0) * 1024 };
}

interface Spawned {
  child: ChildProcess;
  lines: () => number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<void>;
}

/** Spawns a helper; counts its stdout lines without keeping them unless asked to. */
const running = new Set<ChildProcess>();
// A benchmark stopped midway must not leave tracers attached to skew the next one.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

function spawnCounting(cmd: string, args: string[], keepStdout = false): Spawned {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let lines = 0;
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
    if (keepStdout || out.length < 4096) out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, lines: () => lines, stdout: () => out, stderr: () => err, exited };
}

async function until(what: string, ready: () => boolean, exited: Promise<void>, timeoutMs = 60000): Promise<void> {
  const exit = { gone: false }; // set by the promise, between the loop's turns
  void exited.then(() => (exit.gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (exit.gone) throw new Error(`${what}: exited before it was ready`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startFaultline(paths: Paths, flags: string[] = []): Promise<Spawned> {
  const s = spawnCounting(process.execPath, [paths.cli, 'serve', '--web.listen-address=127.0.0.1:0', ...flags]);
  await until('faultline serve', () => s.stderr().includes('serving http'), s.exited);
  return s;
}

/** Sends signal; SIGKILL if the child has not exited 15 s later (bpftrace has been seen to miss a SIGINT). */
async function stopChild(s: Spawned, signal: NodeJS.Signals): Promise<void> {
  s.child.kill(signal);
  const timer = setTimeout(() => {
    process.stderr.write(`bench: ${s.child.spawnfile} ignored ${signal} for 15 s; killing it\n`);
    s.child.kill('SIGKILL');
  }, 15000);
  await s.exited;
  clearTimeout(timer);
}

function faultline(paths: Paths, name: string, flags: string[] = []): BenchConfig {
  return {
    name,
    async start() {
      const serve = await startFaultline(paths, flags);
      return { sample: () => sampleProcess(serve.child.pid!), stop: async () => (await stopChild(serve, 'SIGTERM'), {}) };
    },
  };
}

function bpftrace(name: string, program: string): BenchConfig {
  return {
    name,
    async start() {
      const s = spawnCounting('bpftrace', ['-e', program]);
      await until(name, () => s.stdout().includes('Attaching'), s.exited);
      const attachLines = s.lines();
      return {
        async stop() {
          await stopChild(s, 'SIGINT');
          return { records: s.lines() - attachLines };
        },
      };
    },
  };
}

export function benchConfigs(paths: Paths): BenchConfig[] {
  return [
    { name: 'untraced', start: async () => ({ stop: async () => ({}) }) },
    {
      name: 'empty tp_btf (floor)',
      async start() {
        const object = BpfObject.open(paths.emptyObject);
        object.setAutoload('empty_perf_event', false);
        object.load();
        const link: BpfLink = object.attach('empty_page_fault_user');
        return {
          async stop() {
            link.destroy();
            object.close();
            return {};
          },
        };
      },
    },
    {
      name: 'empty perf event page-faults (floor)',
      async start() {
        const object = BpfObject.open(paths.emptyObject);
        object.setAutoload('empty_page_fault_user', false);
        object.load();
        const links = parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8')).map((cpu) =>
          object.attachPerfEvent('empty_perf_event', openSoftwarePerfEvent(PERF_COUNT_SW_PAGE_FAULTS, cpu)),
        );
        return {
          async stop() {
            for (const link of links) link.destroy();
            object.close();
            return {};
          },
        };
      },
    },
    faultline(paths, 'faultline'),
    faultline(paths, 'faultline detail always on (--bpf.cpu-budget=0)', ['--bpf.cpu-budget=0']),
    faultline(paths, 'faultline governor over budget (--bpf.cpu-budget=0.01)', ['--bpf.cpu-budget=0.01']),
    faultline(paths, 'faultline counts only (--no-collector.fault-detail)', ['--no-collector.fault-detail']),
    faultline(paths, 'faultline perf-event hook', ['--bpf.fault-hook=perf-event', '--bpf.cpu-budget=0']),
    {
      name: 'faultline + trace --pid',
      async start(stormPid) {
        const serve = await startFaultline(paths);
        const trace = spawnCounting(process.execPath, [paths.cli, 'trace', '--pid', String(stormPid)]);
        await until('faultline trace', () => trace.stderr().includes('tracing page faults'), trace.exited);
        return {
          sample: () => {
            const a = sampleProcess(serve.child.pid!);
            const b = sampleProcess(trace.child.pid!);
            return { cpuSeconds: a.cpuSeconds + b.cpuSeconds, rssBytes: a.rssBytes, traceRssBytes: b.rssBytes };
          },
          async stop() {
            await new Promise((r) => setTimeout(r, 100)); // let the last drain run
            await stopChild(trace, 'SIGINT');
            await stopChild(serve, 'SIGTERM');
            const lost = /lost (\d+) page-fault/.exec(trace.stderr());
            return { records: trace.lines(), lost: lost ? Number(lost[1]) : 0 };
          },
        };
      },
    },
    bpftrace('bpftrace @[pid, comm] = count()', 'tracepoint:exceptions:page_fault_user { @[pid, comm] = count(); } END { clear(@); }'),
    bpftrace('bpftrace printf per fault', 'tracepoint:exceptions:page_fault_user { printf("%d %s %lx\\n", pid, comm, args->address); }'),
  ];
}
