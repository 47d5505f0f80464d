/** Flags and steps shared by the commands that load the kernel programs. */
import { libbpfLog } from '../bpf/libbpf.js';
import { DEFAULT_OBJECT_PATH, describeFallback, type FaultHook, type ProgramFallback, type TracepointMode } from '../bpf/probe.js';
import { booleanFlag, byteSize, oneOf, stringFlag, type FlagSpecs, type ParsedFlags } from './flags.js';
import { FaultlineError } from '../errors.js';
import { LOG_FORMATS, LOG_LEVELS, configureLog, log } from '../log.js';
import { versionLine } from '../version.js';

export const TRACEPOINT_MODES: readonly TracepointMode[] = ['auto', 'tp_btf', 'classic'];
export const FAULT_HOOKS: readonly FaultHook[] = ['auto', 'tracepoint', 'perf-event'];

/** Flags every command takes. */
export const GENERAL_FLAGS: FlagSpecs = {
  'log.level': { type: 'string', value: 'LEVEL', help: 'Log messages of this level and above: debug (with libbpf\'s own messages), info, warn or error', default: 'info' },
  'log.format': { type: 'string', value: 'FORMAT', help: 'Log on stderr as logfmt or json (one object per line)', default: 'logfmt' },
  version: { type: 'boolean', short: 'v', help: 'Print the version and exit' },
  help: { type: 'boolean', short: 'h', help: 'Show this help' },
};

/**
 * Applies the general flags: sets up the logger (and libbpf's messages at debug). Returns what the command
 * prints instead of running (its help, or the version), or null to run.
 */
export function generalFlags(flags: ParsedFlags, help: string): string | null {
  if (booleanFlag(flags, 'help')) return help;
  if (booleanFlag(flags, 'version')) return `${versionLine()}\n`;
  const level = oneOf('log.level', flags['log.level'], LOG_LEVELS);
  configureLog(level, oneOf('log.format', flags['log.format'], LOG_FORMATS));
  libbpfLog.sink = level === 'debug' ? (lvl, line) => log.debug(line, { source: 'libbpf', libbpf_level: lvl }) : null;
  return null;
}

export const BPF_FLAGS: FlagSpecs = {
  'bpf.object': { type: 'string', value: 'PATH', help: 'Compiled kernel programs', default: DEFAULT_OBJECT_PATH },
  'bpf.tracepoints': {
    type: 'string',
    value: 'MODE',
    help: 'auto (tp_btf, else the classic tracepoint twins), tp_btf or classic',
    default: 'auto',
  },
  'bpf.fault-hook': {
    type: 'string',
    value: 'HOOK',
    help: 'Where fault entries are seen: auto (the x86 exceptions tracepoints where they exist, else the perf event), tracepoint or perf-event (every architecture; no access types)',
    default: 'auto',
  },
  'bpf.ring-size': {
    type: 'string',
    value: 'SIZE',
    help: 'The page-fault ring buffer (trace, --event-log.*): a power of two from 64KiB to 1GiB. It holds what arrives while user space is away; beyond, records are counted as lost',
    default: '8MiB',
  },
};

export interface BpfFlags {
  readonly objectPath: string;
  readonly tracepoints: TracepointMode;
  readonly faultHook: FaultHook;
  readonly faultRingBytes: number;
}

export function bpfFlags(flags: ParsedFlags): BpfFlags {
  return {
    objectPath: stringFlag(flags, 'bpf.object') ?? '',
    tracepoints: oneOf('bpf.tracepoints', flags['bpf.tracepoints'], TRACEPOINT_MODES),
    faultHook: oneOf('bpf.fault-hook', flags['bpf.fault-hook'], FAULT_HOOKS),
    faultRingBytes: ringSize('bpf.ring-size', flags['bpf.ring-size']),
  };
}

/** A BPF ring buffer's size: the kernel wants a power of two and a whole number of pages. */
export function ringSize(flag: string, value: ParsedFlags[string]): number {
  const bytes = byteSize(flag, value, 2 ** 30);
  if (bytes < 65536 || (bytes & (bytes - 1)) !== 0) {
    throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} must be a power of two from 64KiB to 1GiB, such as 8MiB`);
  }
  return bytes;
}

/** One warning per tp_btf program the kernel refused: why, what runs instead, and what that costs. */
export function reportFallbacks(fallbacks: readonly ProgramFallback[]): void {
  for (const f of fallbacks) log.warn(describeFallback(f));
}

/** Runs cleanup once on SIGINT or SIGTERM, then exits 0. */
export function onShutdown(cleanup: () => Promise<void> | void): void {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    Promise.resolve()
      .then(cleanup)
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error(`error while stopping: ${(err as Error).message}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Records read per turn of the event loop: ~0.1 ms of ring reading, so that HTTP and timers run in between. */
export const DRAIN_BATCH = 4096;

/**
 * Drains the ring buffers every `intervalMs`, at most DRAIN_BATCH records a
 * turn, going on after a yield (setImmediate) while more are waiting, so
 * that a storm of records never holds the event loop. `drain` returns true
 * when it stopped at the bound; `after` runs after each batch (writing what
 * it decoded). Returns a function that stops it.
 */
export function startDraining(drain: (max: number) => boolean, after: () => void, intervalMs: number, keepAlive = false): () => void {
  let running = false;
  let stopped = false;
  const turn = (): void => {
    if (stopped) {
      running = false;
      return;
    }
    const more = drain(DRAIN_BATCH);
    after();
    if (more) setImmediate(turn);
    else running = false;
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    turn();
  }, intervalMs);
  if (!keepAlive) timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
