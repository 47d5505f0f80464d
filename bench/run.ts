/**
 * `npm run bench` (root): what faultline costs, side by side with bpftrace,
 * interleaved and repeated in one run. Prints a table of medians and ratios
 * and writes every measurement as JSON (--output). A benchmark, not a test.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { benchConfigs, sampleProcess, type BenchConfig, type Sampled } from './configs.js';
import { median, parseBpftoolProgs, percentile, runTimeDelta, type ProgStats } from './stats.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PATHS = { cli: `${ROOT}dist/cli/main.js`, emptyObject: `${ROOT}build/empty.bpf.o` };
const STORM = `${ROOT}build/storm`;
const STARTUPS = `${ROOT}build/startups`;
/** A short-lived interpreter that maps its libraries at every start: Debian's python3, else perl. */
const STARTUP_COMMAND = existsSync('/usr/bin/python3') ? ['/usr/bin/python3', '-c', 'pass'] : ['perl', '-e', '1'];

const { values: flags } = parseArgs({
  options: {
    repeats: { type: 'string', default: '5' },
    'storm-mib': { type: 'string', default: '128' },
    'storm-rounds': { type: 'string', default: '32' },
    startups: { type: 'string', default: '200' },
    output: { type: 'string', default: 'bench-results.json' },
    only: { type: 'string' },
    'scrape-only': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  process.stdout.write(`Usage: npm run bench -- [--repeats N] [--storm-mib MIB] [--storm-rounds N] [--startups N] [--output FILE] [--only SUBSTRING] [--scrape-only]

Runs the fault storm (map MIB anonymous, touch every page, unmap; ROUNDS times)
in 1 and 2 threads, and N start-ups of a short-lived interpreter one after
another, under each configuration, interleaved, N times; then the scrape
benchmark. Needs root. Results: a table on stdout, JSON in FILE.
`);
  process.exit(0);
}
const repeats = Number(flags.repeats);
const stormArgs = [flags['storm-mib'], flags['storm-rounds']];

/** What runs under each configuration; `ratio` compares it with the untraced run of the same repeat. */
interface Workload {
  readonly name: string;
  readonly argv: string[];
}
const WORKLOADS: Workload[] = [
  { name: 'storm 1T', argv: [STORM, ...stormArgs, '1', 'wait'] },
  { name: 'storm 2T', argv: [STORM, ...stormArgs, '2', 'wait'] },
  { name: 'start-ups', argv: [STARTUPS, flags.startups, 'wait', '--', ...STARTUP_COMMAND] },
];

interface StormRun {
  config: string;
  workload: string;
  repeat: number;
  faults: number;
  seconds: number;
  faultsPerSecond: number;
  bpfNsPerFault: number;
  bpfNsByProgram: Record<string, number>;
  records?: number;
  lost?: number;
  exporterCpuSeconds?: number;
  exporterRssBytes?: number;
  traceRssBytes?: number;
}

function progStats(): ProgStats {
  return parseBpftoolProgs(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

function shuffle<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function runStorm(config: BenchConfig, workload: Workload, repeat: number): Promise<StormRun> {
  const storm = spawn(workload.argv[0]!, workload.argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  storm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<void>((resolve) => storm.on('exit', () => resolve()));
  const attached = await config.start(storm.pid!);
  const before = progStats();
  const sampleBefore: Sampled | undefined = attached.sample?.();
  storm.stdin.end('go\n');
  await done;
  const sampleAfter: Sampled | undefined = attached.sample?.();
  const after = progStats();
  const streamed = await attached.stop();
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as { faults: number; seconds: number; faults_per_second: number };
  const delta = runTimeDelta(before, after);
  const byProgram = Object.fromEntries(Object.entries(delta.byProgram).map(([k, v]) => [k, v / result.faults]));
  return {
    config: config.name,
    workload: workload.name,
    repeat,
    faults: result.faults,
    seconds: result.seconds,
    faultsPerSecond: result.faults_per_second,
    bpfNsPerFault: delta.runTimeNs / result.faults,
    bpfNsByProgram: byProgram,
    ...streamed,
    ...(sampleBefore && sampleAfter
      ? {
          exporterCpuSeconds: sampleAfter.cpuSeconds - sampleBefore.cpuSeconds,
          exporterRssBytes: sampleAfter.rssBytes,
          ...(sampleAfter.traceRssBytes !== undefined ? { traceRssBytes: sampleAfter.traceRssBytes } : {}),
        }
      : {}),
  };
}

interface ScrapeResult {
  series: number;
  bytes: number;
  p50Ms: number;
  p99Ms: number;
  rssBytes: number;
}

/** /metrics with many process series: short-lived processes kept by a long exit grace. */
async function scrapeBench(targets: number[]): Promise<{ idle: Sampled & { seconds: number }; scrapes: ScrapeResult[] }> {
  const serve = spawn(process.execPath, [PATHS.cli, 'serve', '--web.listen-address=127.0.0.1:0', '--processes.max=100000', '--processes.exit-grace=1h'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  serve.stderr.on('data', (d: Buffer) => (err += d.toString()));
  while (!/serving (\S+)/.test(err)) await new Promise((r) => setTimeout(r, 20));
  const url = /serving (\S+)/.exec(err)![1]!;
  try {
    const idleFrom = sampleProcess(serve.pid!);
    const idleSeconds = 5;
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleTo = sampleProcess(serve.pid!);
    const idle = { seconds: idleSeconds, cpuSeconds: idleTo.cpuSeconds - idleFrom.cpuSeconds, rssBytes: idleTo.rssBytes };
    const scrapes: ScrapeResult[] = [];
    const seriesNow = async (): Promise<{ series: number; bytes: number }> => {
      const text = await (await fetch(url)).text();
      return { series: text.split('\n').filter((l) => l.startsWith('faultline_process_page_faults_total{')).length, bytes: text.length };
    };
    for (const target of targets) {
      // Each tiny storm process leaves about five series (heap, stack, anon, file, other).
      while ((await seriesNow()).series < target) {
        for (let i = 0; i < 100; i++) execFileSync(STORM, ['1', '1', '1'], { stdio: 'ignore' });
      }
      const latencies: number[] = [];
      let last = { series: 0, bytes: 0 };
      for (let i = 0; i < 200; i++) {
        const t0 = process.hrtime.bigint();
        const text = await (await fetch(url)).text();
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        last = { series: text.split('\n').filter((l) => l.startsWith('faultline_process_page_faults_total{')).length, bytes: text.length };
      }
      scrapes.push({ ...last, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), rssBytes: sampleProcess(serve.pid!).rssBytes });
    }
    return { idle, scrapes };
  } finally {
    serve.kill('SIGTERM');
  }
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '—');

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('npm run bench needs root (BPF, perf events, bpf_stats)');
  const busy = [...progStats().values()].filter((p) => /page_fault|count_m|mark_victim|fault_entry|settle_exit/.test(p.name)).map((p) => p.name);
  if (busy.length > 0) {
    throw new Error(`BPF programs on the same hooks are already loaded (${busy.join(', ')}): stop them first, they would be measured too`);
  }
  const statsWas = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
  // Restored however the run ends (a signal ends it through process.exit).
  const restoreStats = (): void => writeFileSync('/proc/sys/kernel/bpf_stats_enabled', statsWas);
  process.on('exit', restoreStats);
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
  const configs = flags['scrape-only'] ? [] : benchConfigs(PATHS).filter((c) => !flags.only || c.name.includes(flags.only));
  const runs: StormRun[] = [];
  try {
    for (const workload of WORKLOADS) {
      for (let repeat = 0; repeat < repeats; repeat++) {
        for (const config of shuffle(configs)) {
          const run = await runStorm(config, workload, repeat);
          runs.push(run);
          process.stderr.write(
            `bench: ${workload.name} #${repeat + 1} ${config.name}: ${fmt(run.seconds, 3)} s, ${fmt(run.faultsPerSecond)} faults/s, ${fmt(run.bpfNsPerFault)} BPF ns/fault\n`,
          );
        }
      }
    }
  } finally {
    restoreStats();
  }
  const scrape = flags.only ? null : await scrapeBench([1000, 10000]);

  const lines: string[] = [];
  lines.push(`faultline bench: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}`);
  const untracedFault = median(runs.filter((r) => r.workload === 'storm 1T' && r.config === 'untraced').map((r) => 1e9 / r.faultsPerSecond));
  lines.push(`storm: ${stormArgs[0]} MiB x ${stormArgs[1]} rounds per thread (an untraced fault: ${fmt(untracedFault)} ns); start-ups: ${flags.startups} x \`${STARTUP_COMMAND.join(' ')}\``);
  lines.push(`${repeats} interleaved repeats; medians; vs untraced = faults/s over the untraced run's, the same workload in the same repeat`);
  lines.push('');
  lines.push('| workload | configuration | faults/s | vs untraced | BPF ns/fault | records/s | lost | exporter (+ trace) CPU s | exporter peak RSS MiB | trace peak RSS MiB |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const workload of WORKLOADS) {
    for (const config of configs) {
      const mine = runs.filter((r) => r.workload === workload.name && r.config === config.name);
      const ratios = mine.map((r) => {
        const base = runs.find((u) => u.workload === workload.name && u.repeat === r.repeat && u.config === 'untraced');
        // Per fault, not per loop: a start-up loop's fault count varies a little from run to run.
        return base ? r.faultsPerSecond / base.faultsPerSecond : NaN;
      });
      const opt = (key: 'records' | 'lost' | 'exporterCpuSeconds' | 'exporterRssBytes' | 'traceRssBytes'): number[] =>
        mine.map((r) => r[key]).filter((v): v is number => v !== undefined);
      const recordRates = mine.filter((r) => r.records !== undefined).map((r) => r.records! / r.seconds);
      lines.push(
        `| ${workload.name} | ${config.name} | ${fmt(median(mine.map((r) => r.faultsPerSecond)))} | ${fmt(median(ratios), 2)} | ` +
          `${config.name === 'untraced' ? '—' : fmt(median(mine.map((r) => r.bpfNsPerFault)))} | ${fmt(median(recordRates))} | ` +
          `${opt('lost').length ? fmt(Math.max(...opt('lost'))) : '—'} | ${fmt(median(opt('exporterCpuSeconds')), 2)} | ` +
          `${fmt(median(opt('exporterRssBytes')) / 2 ** 20, 1)} | ${opt('traceRssBytes').length ? fmt(median(opt('traceRssBytes')) / 2 ** 20, 1) : '—'} |`,
      );
    }
  }
  lines.push('');
  // Programs of the same name (the exporter's and trace's page_fault_user_btf) are summed.
  for (const config of ['faultline', 'faultline + trace --pid']) {
    for (const workload of WORKLOADS) {
      const mine = runs.filter((r) => r.config === config && r.workload === workload.name);
      if (mine.length === 0) continue;
      const programs = [...new Set(mine.flatMap((r) => Object.keys(r.bpfNsByProgram)))];
      lines.push(`${config} per program, ns per ${workload.name} fault (median): ${programs
        .map((p) => `${p} ${fmt(median(mine.map((r) => r.bpfNsByProgram[p] ?? 0)), 1)}`)
        .join(', ')}`);
    }
  }
  if (scrape) {
    lines.push('');
    lines.push(`exporter idle: ${fmt(scrape.idle.cpuSeconds, 2)} CPU s over ${scrape.idle.seconds} s, RSS ${fmt(scrape.idle.rssBytes / 2 ** 20, 1)} MiB`);
    lines.push('');
    lines.push('| process series | /metrics bytes | scrape p50 ms | scrape p99 ms | exporter RSS MiB |');
    lines.push('|---|---|---|---|---|');
    for (const s of scrape.scrapes) {
      lines.push(`| ${s.series} | ${s.bytes} | ${fmt(s.p50Ms, 1)} | ${fmt(s.p99Ms, 1)} | ${fmt(s.rssBytes / 2 ** 20, 1)} |`);
    }
  }
  const table = lines.join('\n');
  process.stdout.write(table + '\n');
  writeFileSync(flags.output, JSON.stringify({ date: new Date().toISOString(), stormArgs, repeats, runs, scrape, table }, null, 2) + '\n');
  process.stderr.write(`bench: results written to ${flags.output}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
