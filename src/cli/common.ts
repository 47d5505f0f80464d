/** Flags and steps shared by the commands that load the kernel programs. */
import { libbpfLog } from '../bpf/libbpf.js';
import { DEFAULT_OBJECT_PATH, describeFallback, type FaultHook, type ProgramFallback, type TracepointMode } from '../bpf/probe.js';
import { byteSize, oneOf, stringFlag, type FlagSpecs, type ParsedFlags } from './flags.js';
import { FaultlineError } from '../errors.js';

export const TRACEPOINT_MODES: readonly TracepointMode[] = ['auto', 'tp_btf', 'classic'];
export const FAULT_HOOKS: readonly FaultHook[] = ['auto', 'tracepoint', 'perf-event'];
const LOG_LEVELS = ['info', 'debug'] as const;

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
  'log.level': { type: 'string', value: 'LEVEL', help: 'info, or debug to print libbpf messages', default: 'info' },
  help: { type: 'boolean', short: 'h', help: 'Show this help' },
};

export interface BpfFlags {
  readonly objectPath: string;
  readonly tracepoints: TracepointMode;
  readonly faultHook: FaultHook;
  readonly faultRingBytes: number;
}

export function bpfFlags(flags: ParsedFlags): BpfFlags {
  const level = oneOf('log.level', flags['log.level'], LOG_LEVELS);
  if (level === 'debug') libbpfLog.sink = (lvl, line) => process.stderr.write(`libbpf ${lvl}: ${line}\n`);
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

/** One stderr line per tp_btf program the kernel refused: why, what runs instead, and what that costs. */
export function reportFallbacks(fallbacks: readonly ProgramFallback[]): void {
  for (const f of fallbacks) process.stderr.write(`faultline: ${describeFallback(f)}\n`);
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
          process.stderr.write(`faultline: error while stopping: ${(err as Error).message}\n`);
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
