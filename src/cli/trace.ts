/** `faultline trace`: live events on stdout, as the original lab tool printed them. */
import { FaultlineError } from '../errors.js';
import { Probe } from '../bpf/probe.js';
import { LineBuffer, TRACE_FORMATS, formatEvent, type KernelEvent } from '../deliver/trace-format.js';
import { oomRecords } from '../features/oom/decode.js';
import { faultRecords } from '../features/trace/decode.js';
import { BPF_FLAGS, GENERAL_FLAGS, bpfFlags, generalFlags, onShutdown, reportFallbacks, startDraining } from './common.js';
import { log } from '../log.js';
import { flagHelp, oneOf, parseFlags, positiveInt, processId, type FlagSpecs } from './flags.js';
import { requireBpfCapabilities, threadGroupOf } from './preflight.js';
import { describeThp, readThpMode } from '../readers/thp.js';

/** Lines waiting for stdout at most (bytes); past it, records wait in the kernel's ring. */
const STDOUT_BACKLOG_BYTES = 8 << 20;

const FLAGS: FlagSpecs = {
  pid: { type: 'string', short: 'p', value: 'PID', help: 'Stream the page faults of this process (filtered in the kernel)' },
  format: { type: 'string', short: 'f', value: 'FORMAT', help: 'text or json (one object per line)', default: 'text' },
  'drain-interval': { type: 'string', value: 'MS', help: 'Read the ring buffers every MS milliseconds', default: '5' },
  ...BPF_FLAGS,
  ...GENERAL_FLAGS,
};

export const TRACE_HELP = `Usage: faultline trace [--pid PID] [--format text|json] [flags]

Streams OOM kills (always) and the page faults of one process (--pid) live:
  [PAGE_FAULT] pid=5200 address=0x7f3a4c000000 comm=pagefault_demo
  [OOM_KILL] pid=6100 comm=stress-ng
Stops on Ctrl-C (SIGINT) or SIGTERM and prints how many records were lost.

${flagHelp(FLAGS)}
`;

/** The host's huge page mode for a note; a file we cannot read or parse only loses the note (check reports it). */
function thpMode(): ReturnType<typeof readThpMode> {
  try {
    return readThpMode();
  } catch {
    return null;
  }
}

export async function trace(argv: string[]): Promise<void> {
  const flags = parseFlags('trace', FLAGS, argv);
  const early = generalFlags(flags, TRACE_HELP);
  if (early !== null) return void process.stdout.write(early);
  const format = oneOf('format', flags.format, TRACE_FORMATS);
  const drainMs = positiveInt('drain-interval', flags['drain-interval'], 'a number of milliseconds', 60000);
  let pid = 0;
  if (flags.pid !== undefined) {
    pid = processId('pid', flags.pid);
    const tgid = threadGroupOf(pid);
    if (tgid === null) throw new FaultlineError('NO_SUCH_PROCESS', `--pid ${pid}: no such process; check the pid (ps -e)`);
    if (tgid !== pid) {
      log.info(`${pid} is a thread of process ${tgid}; tracing process ${tgid}`);
      pid = tgid;
    }
  }
  const bpf = bpfFlags(flags);
  requireBpfCapabilities();

  const lines = new LineBuffer();
  const emit = (event: KernelEvent): void => lines.appendLine(formatEvent(event, format));
  const flush = (): void => {
    for (const bytes of lines.take()) process.stdout.write(bytes);
  };
  const probe = Probe.start({
    objectPath: bpf.objectPath,
    tracepoints: bpf.tracepoints,
    faultHook: bpf.faultHook,
    faultRingBytes: bpf.faultRingBytes,
    countFaults: false,
    trace: { pids: pid > 0 ? [pid] : [] },
    // What the lines print: the kernel fills no other optional field (a text line has no timestamp, no ip, no cgroup).
    traceFields: format === 'json' ? ['timestamp'] : [],
  });
  // Text lines are written straight from the ring's bytes (see LineBuffer).
  probe.readRing('fault_events', format === 'text' ? (ring, offset, length) => void lines.appendFaultText(ring, offset, length) : faultRecords(emit));
  probe.readRing('oom_events', oomRecords(emit));
  // While stdout is behind (a slow pipe or terminal), records wait in the kernel's ring: memory here stays bounded,
  // and what the ring cannot hold is counted as lost.
  reportFallbacks(probe.fallbacks);
  // The lab's counts assume 4 KiB faults: say so where a huge page takes 512 of them at once.
  if (pid > 0 && thpMode() === 'always') log.info(describeThp('always'));
  const stopDraining = startDraining((max) => process.stdout.writableLength < STDOUT_BACKLOG_BYTES && probe.drain(max), flush, drainMs, true);
  log.info(
    pid > 0
      ? `tracing page faults of pid ${pid} and all OOM kills (${probe.describeTracepoints()}, fault hook ${probe.faultHook}); Ctrl-C to stop`
      : 'no --pid given: streaming OOM kills only (page faults of every process would flood the terminal; add --pid PID)',
  );
  onShutdown(async () => {
    stopDraining();
    const lost = probe.readLostRecords();
    const errors = probe.ringCallbackErrors;
    probe.close(); // drains what is left
    flush();
    await new Promise<void>((resolve) => (process.stdout.writableLength === 0 ? resolve() : process.stdout.once('drain', () => resolve())));
    const lostTotal = lost.fault_events + lost.oom_events;
    if (lostTotal > 0n || errors > 0) log.warn(`lost ${lost.fault_events} page-fault and ${lost.oom_events} OOM records (ring buffer full); ${errors} failed to decode`);
    else log.info('no records lost');
  });
}
