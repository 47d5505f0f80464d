/**
 * The kernel side's lifecycle: open → configure (.rodata) → load → attach →
 * run → close, with a distinct error at each step. Callers get decoded
 * TypeScript records; libbpf stays behind ./libbpf.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  MAP_SIZES,
  RINGBUFS,
  STALL_HIST_SIZE,
  STALL_KINDS,
  TRACE_FIELDS,
  encodeStallKey,
  traceFieldBits,
  type RingbufName,
  type TraceField,
} from './contract.js';
import { parseCpuList } from '../readers/cpu-list.js';
import { FaultlineError } from '../errors.js';
import {
  BpfObject,
  RingBuffer,
  PERF_COUNT_SW_PAGE_FAULTS,
  PERF_COUNT_SW_PAGE_FAULTS_MAJ,
  VMLINUX_BTF,
  openSoftwarePerfEvent,
  type BpfLink,
  type BpfMap,
  type ProgramRunStats,
  type RecordHandler,
} from './libbpf.js';
import { fieldOffset, type TracepointFormat } from '../readers/tracepoint-format.js';
import { readTracepointFormat, tracepointExists } from '../readers/tracefs.js';

export const DEFAULT_THREAD_SLOTS = 16384;

export const DEFAULT_OBJECT_PATH = fileURLToPath(new URL('../../build/faultline.bpf.o', import.meta.url));

/** How to attach the tracepoint programs: typed tp_btf, the classic twin, or tp_btf falling back to classic. */
export type TracepointMode = 'auto' | 'tp_btf' | 'classic';

/**
 * Where a fault's entry is seen: the x86 exceptions tracepoints (which carry
 * the error code, so access types), or the software perf event page-faults
 * (every architecture; no error code). auto: the tracepoints where they exist.
 */
export type FaultHook = 'auto' | 'tracepoint' | 'perf-event';

export interface ProbeOptions {
  /** The compiled kernel programs. Default: build/faultline.bpf.o in the package. */
  objectPath?: string;
  /** Count faults: the task iterator and the thread exit hook (no program per fault). Default: true. */
  countFaults?: boolean;
  /** With countFaults: the per-fault entry hook that settles faults into regions and counts access types. Default: true. */
  faultDetail?: boolean;
  /** Default: 'auto'. */
  faultHook?: FaultHook;
  /** OOM kills at oom/mark_victim, sent to onOomKill (--collector.oom). Default: true. */
  oom?: boolean;
  /** Threads whose records live in the thread_slots array (a power of two; the rest in task storage). Default: 16384. */
  threadSlots?: number;
  /** With countFaults: reclaim and compaction stalls by cgroup (--collector.stalls). Default: true. */
  stalls?: boolean;
  /** Which page faults to send to onPageFault as raw events, filtered in the kernel. Default: none. */
  trace?: TraceFilter;
  /**
   * The optional fields each raw page-fault event carries (the rest are 0):
   * the kernel skips what is not read (a timestamp, the instruction pointer
   * and the cgroups are ~180 ns of a traced fault's ~570). Default: all.
   */
  traceFields?: readonly TraceField[];
  /** The page-fault ring buffer's size in bytes (a power of two, whole pages). Default: the object's, 8 MiB. */
  faultRingBytes?: number;
  /** Default: 'auto'. */
  tracepoints?: TracepointMode;
}

/** Raw page-fault events: a fault is sent when it passes every filter given. */
export interface TraceFilter {
  /** These processes (tgids), at most 64. */
  readonly pids?: readonly number[];
  /** Threads with this comm (at most 15 bytes). */
  readonly comm?: string;
  /** This cgroup: a memory cgroup id (v1) when memcg, else a cgroup v2 id. */
  readonly cgroup?: { readonly id: bigint; readonly memcg: boolean };
  /** 1 in N of the faults that pass the filters (per CPU). Default 1: all. */
  readonly sampleEvery?: number;
}

/** Whether any filter is given, i.e. whether raw page-fault events flow at all. */
function tracesFaults(filter: TraceFilter | undefined): boolean {
  return (filter?.pids?.length ?? 0) > 0 || filter?.comm !== undefined || filter?.cgroup !== undefined;
}

function traceRodata(filter: TraceFilter | undefined, fields: readonly TraceField[]): Record<string, bigint | number | Buffer> {
  const pids = filter?.pids ?? [];
  const comm = Buffer.alloc(16);
  if (filter?.comm !== undefined) {
    if (Buffer.byteLength(filter.comm) > 15) throw new FaultlineError('BAD_FLAG', `comm ${JSON.stringify(filter.comm)} is longer than the kernel's 15 bytes`);
    comm.write(filter.comm);
  }
  return {
    trace_faults: tracesFaults(filter) ? 1 : 0,
    trace_by_pid: pids.length > 0 ? 1 : 0,
    trace_one_pid: pids.length === 1 ? pids[0]! : 0,
    trace_fields: traceFieldBits(fields),
    trace_by_comm: filter?.comm !== undefined ? 1 : 0,
    trace_comm: comm,
    trace_by_cgroup: filter?.cgroup ? 1 : 0,
    trace_cgroup_memcg: filter?.cgroup?.memcg ? 1 : 0,
    trace_cgroup_id: filter?.cgroup?.id ?? 0n,
    trace_sample_every: Math.max(1, filter?.sampleEvery ?? 1),
  };
}

/** Which program of each twin pair runs: the typed tp_btf one, or its classic tracepoint twin. */
export interface TracepointModes {
  /** The exceptions tracepoints (page_fault_user, page_fault_kernel). */
  readonly faults: 'tp_btf' | 'classic';
  /** oom/mark_victim. */
  readonly oom: 'tp_btf' | 'classic';
}

/** A tp_btf program this kernel refused (or could not attach), and its classic twin that runs instead. */
export interface ProgramFallback {
  readonly program: string;
  readonly instead: string;
  /** The load or attach error: the errno and, for a verifier refusal, its verdict. */
  readonly reason: string;
  /** What running the twin instead costs a user. */
  readonly cost: string;
}

export interface AttachedProgram {
  readonly program: string;
  readonly attachPoint: string;
  readonly links: number;
}

const MARK_VICTIM = { tp_btf: 'mark_victim_btf', classic: 'mark_victim_tp' } as const;
/** With mark_victim_tp (not when classic is forced): the victim's context, read at the SIGKILL the OOM killer sends it. */
const OOM_VICTIM_SIGNAL = 'oom_victim_signal';
/** The twin pair a tp_btf program belongs to. */
const TWIN_OF: Record<string, keyof TracepointModes> = {
  page_fault_user_btf: 'faults',
  page_fault_kernel_btf: 'faults',
  mark_victim_btf: 'oom',
};
/** Fault entry programs on the exceptions tracepoints: user-mode faults, then kernel-mode ones on user addresses. */
const FAULT_ENTRY = {
  tp_btf: ['page_fault_user_btf', 'page_fault_kernel_btf'],
  classic: ['page_fault_user_tp', 'page_fault_kernel_tp'],
} as const;
const ALL_ENTRY_PROGRAMS = [...FAULT_ENTRY.tp_btf, ...FAULT_ENTRY.classic, 'fault_entry_perf', 'count_major_fault'];
const COUNT_PROGRAMS = ['settle_exiting_thread', 'refresh_comm', 'read_threads'] as const;
/** Memory stall programs (begin/end pairs) and their tracepoints; each attaches where its tracepoint exists. */
export const STALL_TRACEPOINTS: Record<string, readonly [string, string]> = {
  direct_reclaim_begin: ['vmscan', 'mm_vmscan_direct_reclaim_begin'],
  direct_reclaim_end: ['vmscan', 'mm_vmscan_direct_reclaim_end'],
  memcg_reclaim_begin: ['vmscan', 'mm_vmscan_memcg_reclaim_begin'],
  memcg_reclaim_end: ['vmscan', 'mm_vmscan_memcg_reclaim_end'],
  compaction_begin: ['compaction', 'mm_compaction_begin'],
  compaction_end: ['compaction', 'mm_compaction_end'],
};
const ATTACH_POINTS: Record<string, string> = {
  ...Object.fromEntries(Object.entries(STALL_TRACEPOINTS).map(([prog, [, event]]) => [prog, `tp_btf/${event}`])),
  page_fault_user_btf: 'tp_btf/page_fault_user',
  page_fault_kernel_btf: 'tp_btf/page_fault_kernel',
  page_fault_user_tp: 'tracepoint/exceptions/page_fault_user',
  page_fault_kernel_tp: 'tracepoint/exceptions/page_fault_kernel',
  fault_entry_perf: 'perf_event/software/page-faults',
  count_major_fault: 'perf_event/software/major-faults',
  mark_victim_btf: 'tp_btf/mark_victim',
  mark_victim_tp: 'tracepoint/oom/mark_victim',
  oom_victim_signal: 'tp_btf/signal_generate',
  settle_exiting_thread: 'tp_btf/sched_process_exit',
  refresh_comm: 'tp_btf/sched_process_exec',
  read_threads: 'iter/task',
};

/** The fault hook to use here: the exceptions tracepoints where the kernel has them. */
function resolveFaultHook(requested: FaultHook): 'tracepoint' | 'perf-event' {
  if (requested !== 'auto') return requested;
  return tracepointExists('exceptions', 'page_fault_user') ? 'tracepoint' : 'perf-event';
}

let pageSizeBytes = 0;
function pageSize(): number {
  if (pageSizeBytes === 0) {
    try {
      pageSizeBytes = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;
    } catch {
      pageSizeBytes = 4096;
    }
  }
  return pageSizeBytes;
}

export function onlineCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
}

/** What running a classic twin instead of its tp_btf program costs a user. */
function fallbackCost(instead: string, victimSignal: boolean): string {
  if (instead === FAULT_ENTRY.classic[0]) {
    return "the same counts and fields, read from the tracepoint's record with probe reads instead of typed arguments (more BPF time per fault)";
  }
  return victimSignal
    ? `OOM kills keep the victim's context (cgroup, container, pod, comm, rss, oom_score_adj), read from its task at the SIGKILL the OOM killer sends it just before (${OOM_VICTIM_SIGNAL} on ${ATTACH_POINTS[OOM_VICTIM_SIGNAL]}: one more program at every signal on the host, a compare for all but the kernel's own SIGKILLs)`
    : "OOM kills carry no cgroup, container or pod (the classic tracepoint runs in the allocating task, not the victim) and only the fields this kernel's oom/mark_victim format has (before Linux 6.8: the pid alone)";
}

/** A fallback in one line: the refused program, why, what runs instead, and what that costs. */
export function describeFallback(f: ProgramFallback): string {
  return `${f.program}: ${f.reason}; ${f.instead} runs instead: ${f.cost}`;
}

/** The program a load or attach error names (libbpf: "prog 'NAME': failed to load"; ours: "cannot attach NAME"). */
export function refusedProgram(err: FaultlineError): string | null {
  for (const line of [...err.detail].reverse()) {
    const m = /prog '([A-Za-z0-9_]+)': (?:failed to load|BPF program load failed|relo #\d+: failed to relocate)/.exec(line);
    if (m) return m[1]!;
  }
  return /^cannot attach ([A-Za-z0-9_]+)/.exec(err.message)?.[1] ?? null;
}

export class Probe {
  readonly tracepointModes: TracepointModes;
  /** The tp_btf programs this kernel refused, each replaced by its classic twin ('auto' only). */
  fallbacks: readonly ProgramFallback[] = [];
  readonly faultHook: 'tracepoint' | 'perf-event';
  /** Whether the entry hook settles faults into regions (else every fault counts in region "other"). */
  readonly faultDetail: boolean;
  /** The programs that run per fault: the entry hook (detail, or raw events) and the major-fault typing. */
  private readonly entryPrograms: readonly string[];
  /** Of those, the ones that serve only the detail: detached while it is paused (setDetailPaused). */
  private readonly detailOnlyPrograms: readonly string[];
  /** Whether access types are counted: only the exceptions tracepoints carry the error code. */
  readonly accessTypes: boolean;
  private detailPaused = false;
  private readonly oom: boolean;
  /**
   * Whether the user-mode fault entry hook runs, so that a process can be watched live (the web page's process
   * view: live_pids) and fault_events is read. While the overhead governor pauses the fault detail with no trace
   * filter on, the hook is detached and a watched process's faults stop coming until it resumes.
   */
  readonly liveView: boolean;
  /** Whether oom_victim_signal runs (with mark_victim_tp, unless classic was asked for or the kernel refused it). */
  readonly victimSignal: boolean;
  private readonly entryLinks = new Map<string, BpfLink[]>();
  private readonly object: BpfObject;
  private threadsLink: BpfLink | null = null;
  private readonly links: BpfLink[] = [];
  private readonly attachedPrograms: AttachedProgram[] = [];
  private readonly rings: RingBuffer[] = [];
  private readonly maps = new Map<string, BpfMap>();
  /** Stall programs whose tracepoint exists here (compaction needs CONFIG_COMPACTION). */
  private readonly stallPrograms: string[] = [];

  private constructor(object: BpfObject, modes: TracepointModes, options: ProbeOptions, victimSignal: boolean) {
    this.object = object;
    this.tracepointModes = modes;
    const mode = modes.faults;
    this.faultHook = resolveFaultHook(options.faultHook ?? 'auto');
    this.faultDetail = (options.countFaults ?? true) && (options.faultDetail ?? true);
    const wanted = this.faultDetail || tracesFaults(options.trace);
    const entry: string[] = [];
    if (this.faultDetail) entry.push('count_major_fault');
    if (wanted && this.faultHook === 'perf-event') entry.push('fault_entry_perf');
    if (wanted && this.faultHook === 'tracepoint') entry.push(FAULT_ENTRY[mode][0]);
    if (this.faultDetail && this.faultHook === 'tracepoint') entry.push(FAULT_ENTRY[mode][1]);
    this.entryPrograms = entry;
    // The user-mode entry hook stays while raw events are asked for; it skips the detail while paused.
    this.detailOnlyPrograms = this.faultDetail ? entry.filter((p) => !(tracesFaults(options.trace) && (p === 'fault_entry_perf' || p === FAULT_ENTRY[mode][0]))) : [];
    this.accessTypes = this.faultDetail && this.faultHook === 'tracepoint';
    this.oom = options.oom ?? true;
    this.liveView = wanted;
    this.victimSignal = this.oom && modes.oom === 'classic' && victimSignal;
  }

  /** Opens, configures, loads and attaches; on any failure nothing stays attached. */
  static start(options: ProbeOptions = {}): Probe {
    const objectPath = options.objectPath ?? DEFAULT_OBJECT_PATH;
    if (!existsSync(objectPath)) {
      throw new FaultlineError('BPF_OBJECT_MISSING', `BPF object ${objectPath} not found; build it with \`npm run build\``);
    }
    if (!existsSync(VMLINUX_BTF)) {
      throw new FaultlineError(
        'NO_KERNEL_BTF',
        'this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): faultline\'s CO-RE programs need a kernel built with ' +
          'CONFIG_DEBUG_INFO_BTF=y (Linux >= 5.8; Debian 11+, Ubuntu 20.10+, RHEL 8.2+ ship it)',
      );
    }
    const requested = options.tracepoints ?? 'auto';
    // Classic asked for: no typed program at all, oom_victim_signal included.
    if (requested !== 'auto') return Probe.startWith(objectPath, { faults: requested, oom: requested }, options, false);
    // Per program: a tp_btf program the kernel refuses gives way to its classic twin, and the others stay typed.
    let modes: TracepointModes = { faults: 'tp_btf', oom: 'tp_btf' };
    let victimSignal = true;
    const fallbacks: Omit<ProgramFallback, 'cost'>[] = [];
    let first: unknown = null;
    for (;;) {
      try {
        const probe = Probe.startWith(objectPath, modes, options, victimSignal);
        probe.fallbacks = fallbacks.map((f) => ({ ...f, cost: fallbackCost(f.instead, probe.victimSignal) }));
        return probe;
      } catch (err) {
        if (!(err instanceof FaultlineError) || !['BPF_LOAD', 'BPF_ATTACH'].includes(err.code)) throw err;
        first ??= err;
        const reason = err.message;
        const program = refusedProgram(err);
        if (program === OOM_VICTIM_SIGNAL && victimSignal) {
          // mark_victim_tp runs alone.
          victimSignal = false;
          fallbacks.push({ program, instead: MARK_VICTIM.classic, reason });
          continue;
        }
        const twin = program === null ? undefined : TWIN_OF[program];
        const typed = (Object.keys(modes) as (keyof TracepointModes)[]).filter((k) => modes[k] === 'tp_btf');
        // A refused program with a twin: that pair only. Anything else (no program named, or one without a twin): every pair.
        const fallBack = twin !== undefined && modes[twin] === 'tp_btf' ? [twin] : typed;
        if (fallBack.length === 0) throw first;
        for (const pair of fallBack) {
          const [typedProgram, instead] = pair === 'oom' ? [MARK_VICTIM.tp_btf, MARK_VICTIM.classic] : [FAULT_ENTRY.tp_btf[0], FAULT_ENTRY.classic[0]];
          fallbacks.push({ program: program !== null && TWIN_OF[program] === pair ? program : typedProgram, instead, reason });
          modes = { ...modes, [pair]: 'classic' };
        }
      }
    }
  }

  /** 'tp_btf' or 'classic' when both pairs agree, else 'mixed' (the tracepoints label of faultline_build_info). */
  get tracepointMode(): 'tp_btf' | 'classic' | 'mixed' {
    return this.tracepointModes.faults === this.tracepointModes.oom ? this.tracepointModes.faults : 'mixed';
  }

  /** How the tracepoints attach, for a log line: "tp_btf", or each pair's mode. */
  describeTracepoints(): string {
    const m = this.tracepointModes;
    return m.faults === m.oom ? m.faults : `page faults ${m.faults}, OOM ${m.oom}`;
  }

  private static startWith(objectPath: string, modes: TracepointModes, options: ProbeOptions, victimSignal: boolean): Probe {
    const object = BpfObject.open(objectPath);
    const probe = new Probe(object, modes, options, victimSignal);
    try {
      probe.configure(modes, options);
      object.load();
      probe.attach(modes, options);
      return probe;
    } catch (err) {
      probe.close();
      throw err;
    }
  }

  private configure(modes: TracepointModes, options: ProbeOptions): void {
    const countFaults = options.countFaults ?? true;
    for (const [name, [keySize, valueSize]] of Object.entries(MAP_SIZES)) {
      const map = this.object.map(name);
      if (map.shape.keySize !== keySize || map.shape.valueSize !== valueSize) {
        throw new FaultlineError(
          'BPF_CONTRACT',
          `map ${name} has key/value sizes ${map.shape.keySize}/${map.shape.valueSize}, ` +
            `src/bpf/contract.ts expects ${keySize}/${valueSize}: rebuild with \`npm run build\` from one checkout`,
        );
      }
    }
    this.object.setAutoload(MARK_VICTIM[modes.oom === 'tp_btf' ? 'classic' : 'tp_btf'], false);
    if (!this.oom) this.object.setAutoload(MARK_VICTIM[modes.oom], false);
    if (!this.victimSignal) this.object.setAutoload(OOM_VICTIM_SIGNAL, false);
    for (const prog of ALL_ENTRY_PROGRAMS) if (!this.entryPrograms.includes(prog)) this.object.setAutoload(prog, false);
    if (!countFaults) for (const prog of COUNT_PROGRAMS) this.object.setAutoload(prog, false);
    for (const [prog, [category, event]] of Object.entries(STALL_TRACEPOINTS)) {
      if (countFaults && (options.stalls ?? true) && tracepointExists(category, event)) this.stallPrograms.push(prog);
      else this.object.setAutoload(prog, false);
    }

    const threadSlots = options.threadSlots ?? DEFAULT_THREAD_SLOTS;
    if (!Number.isInteger(threadSlots) || threadSlots < 1 || threadSlots > 1 << 22 || (threadSlots & (threadSlots - 1)) !== 0) {
      throw new FaultlineError('BAD_FLAG', `thread slots: ${threadSlots} is not a power of two from 1 to 4194304`);
    }
    this.object.setMaxEntries('thread_slots', threadSlots);
    if (options.faultRingBytes !== undefined) this.object.setMaxEntries('fault_events', options.faultRingBytes);
    const values: Record<string, bigint | number | Buffer> = {
      attach_ns: process.hrtime.bigint(),
      thread_slot_mask: threadSlots - 1,
      page_size: pageSize(),
      fault_detail: this.faultDetail ? 1 : 0,
      ...traceRodata(options.trace, options.traceFields ?? TRACE_FIELDS),
    };
    if (modes.oom === 'classic' || modes.faults === 'classic') {
      Object.assign(values, classicOffsets(this.entryPrograms.includes(FAULT_ENTRY.classic[0]), this.oom && modes.oom === 'classic'));
    }
    const layout = this.object.rodataLayout();
    this.object.writeRodata((rodata) => {
      for (const [name, value] of Object.entries(values)) {
        const v = layout.get(name);
        if (!v) throw new FaultlineError('BPF_CONTRACT', `.rodata has no variable ${name}: rebuild with \`npm run build\``);
        if (Buffer.isBuffer(value)) value.copy(rodata, v.offset, 0, v.size);
        else if (v.size === 8) rodata.writeBigUInt64LE(BigInt(value), v.offset);
        else if (v.size === 1) rodata.writeUInt8(Number(value), v.offset);
        else rodata.writeInt32LE(Number(value), v.offset);
      }
    });
  }

  private attach(modes: TracepointModes, options: ProbeOptions): void {
    // The filter is in place before any program runs.
    const pids = options.trace?.pids ?? [];
    if (pids.length > 64) throw new FaultlineError('BAD_FLAG', `at most 64 processes can be traced at once, not ${pids.length}`);
    const traced = this.map('trace_pids');
    for (const pid of pids) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(pid);
      traced.update(key, Buffer.from([1]));
    }
    // The signal first: mark_victim_tp looks for what it kept.
    if (this.victimSignal) this.attachOne(OOM_VICTIM_SIGNAL);
    if (this.oom) this.attachOne(MARK_VICTIM[modes.oom]);
    if (this.stallPrograms.length > 0) {
      // Where stalls of cgroups beyond the map's bound are counted.
      const stalls = this.map('stalls');
      for (const kind of STALL_KINDS) stalls.update(encodeStallKey(0n, 0n, kind), Buffer.alloc(STALL_HIST_SIZE));
      for (const prog of this.stallPrograms) this.attachOne(prog);
    }
    if (options.countFaults ?? true) {
      // Exits first, then one pass of the iterator (every older thread's baseline), then the entry hooks:
      // no thread is counted twice or from a baseline taken after its first settled fault.
      this.attachOne('settle_exiting_thread');
      this.attachOne('refresh_comm');
      this.threadsLink = this.object.attachIter('read_threads');
      this.links.push(this.threadsLink);
      this.attachedPrograms.push({ program: 'read_threads', attachPoint: ATTACH_POINTS.read_threads!, links: 1 });
      // This pass takes each older thread's baseline before any entry hook runs; the faults reader reads the next ones.
      this.threadsLink.readIter({ buffer: Buffer.allocUnsafe(1 << 16) });
    }
    for (const prog of this.entryPrograms) this.attachEntry(prog);
  }

  /**
   * Reads a ring buffer from now on: drain() passes each record to `onRecord`
   * where it lies in the ring (the bytes are valid during the call only; each
   * feature's decode.ts reads them). Records the programs wrote before this
   * call wait in the ring. No-op for a ring no loaded program writes.
   */
  readRing(ring: RingbufName, onRecord: RecordHandler): void {
    if (ring === 'oom_events' ? !this.oom : !this.liveView) return;
    this.rings.push(new RingBuffer(this.map(ring), onRecord, pageSize()));
  }

  private attachOne(program: string): void {
    this.links.push(this.object.attach(program));
    this.attachedPrograms.push({ program, attachPoint: ATTACH_POINTS[program]!, links: 1 });
  }

  /** A per-fault program: a tracepoint link, or one perf event link per online CPU. */
  private attachEntry(program: string): void {
    const perfConfig = program === 'count_major_fault' ? PERF_COUNT_SW_PAGE_FAULTS_MAJ : program === 'fault_entry_perf' ? PERF_COUNT_SW_PAGE_FAULTS : null;
    const links: BpfLink[] = [];
    try {
      if (perfConfig === null) links.push(this.object.attach(program));
      else for (const cpu of onlineCpus()) links.push(this.object.attachPerfEvent(program, openSoftwarePerfEvent(perfConfig, cpu)));
    } catch (err) {
      for (const link of links) link.destroy();
      throw err;
    }
    this.entryLinks.set(program, links);
    this.attachedPrograms.push({ program, attachPoint: ATTACH_POINTS[program]!, links: links.length });
  }

  private detachEntry(program: string): void {
    for (const link of this.entryLinks.get(program) ?? []) link.destroy();
    this.entryLinks.delete(program);
    const i = this.attachedPrograms.findIndex((p) => p.program === program);
    if (i >= 0) this.attachedPrograms.splice(i, 1);
  }

  /** Names of the programs that run per fault (the detail's cost; the overhead governor sheds those that serve only it). */
  get perFaultPrograms(): readonly string[] {
    return this.entryPrograms;
  }

  /**
   * Pauses or resumes the per-fault detail at run time (the overhead
   * governor): the switch the entry hooks read, and the links of the
   * programs that serve only detail. The counts stay exact either way; while
   * paused, faults settle into region "other". Attaching again can fail
   * (the kernel refuses): then the detail stays paused and the error is thrown.
   */
  setDetailPaused(paused: boolean): void {
    if (!this.faultDetail || paused === this.detailPaused) return;
    const key = Buffer.alloc(4);
    const flag = this.map('detail_paused');
    if (paused) {
      flag.update(key, Buffer.from([1, 0, 0, 0]));
      for (const prog of this.detailOnlyPrograms) this.detachEntry(prog);
      this.detailPaused = true;
      return;
    }
    try {
      for (const prog of this.detailOnlyPrograms) if (!this.entryLinks.has(prog)) this.attachEntry(prog);
    } catch (err) {
      for (const prog of this.detailOnlyPrograms) this.detachEntry(prog);
      throw err;
    }
    flag.update(key, Buffer.alloc(4));
    this.detailPaused = false;
  }

  /** A map of the loaded object, by name (each feature's reader reads its own: src/features/<feature>/reader.ts). */
  map(name: string): BpfMap {
    let map = this.maps.get(name);
    if (!map) {
      map = this.object.map(name);
      this.maps.set(name, map);
    }
    return map;
  }

  get programs(): readonly AttachedProgram[] {
    return this.attachedPrograms;
  }

  /** The task iterator's link, when faults are counted: the faults reader reads live threads through it. */
  get threadIterator(): BpfLink | null {
    return this.threadsLink;
  }

  /**
   * Reads the ring buffers now: at most `max` records from each, so that a
   * storm of records cannot hold the event loop. True when a ring stopped at
   * the bound (more are waiting: call again after yielding).
   */
  drain(max = Infinity): boolean {
    let more = false;
    for (const ring of this.rings) if (ring.consume(max) >= max) more = true;
    return more;
  }

  get ringCallbackErrors(): number {
    return this.rings.reduce((n, r) => n + r.callbackErrors, 0);
  }

  readLostRecords(): Record<RingbufName, bigint> {
    const sums = this.map('lost_records').sumCounters(RINGBUFS.length);
    return Object.fromEntries(RINGBUFS.map((name, i) => [name, sums[i]!])) as Record<RingbufName, bigint>;
  }

  /** Run time and count of every program in use, attached now or detached by the governor (the counters carry on). */
  runStats(): { program: string; stats: ProgramRunStats }[] {
    const out: { program: string; stats: ProgramRunStats }[] = [];
    for (const program of new Set([...this.attachedPrograms.map((p) => p.program), ...this.entryPrograms])) {
      const stats = this.object.runStats(program);
      if (stats) out.push({ program, stats });
    }
    return out;
  }

  /** Detaches everything, drains what is left, frees rings and callbacks, closes the object. */
  close(): void {
    this.threadsLink = null;
    for (const link of this.links.splice(0)) link.destroy();
    for (const links of this.entryLinks.values()) for (const link of links) link.destroy();
    this.entryLinks.clear();
    this.attachedPrograms.length = 0;
    try {
      this.drain();
    } catch {
      // Closing must finish even if a last read fails.
    }
    for (const ring of this.rings.splice(0)) ring.free();
    this.object.close();
  }
}

/** .rodata values for the classic tracepoint twins, read from this kernel's format files. */
function classicOffsets(faultEntry: boolean, oom: boolean): Record<string, number> {
  const need = (format: TracepointFormat, field: string, size?: number): number => {
    const off = fieldOffset(format, field, size);
    if (off < 0) {
      throw new FaultlineError('TRACEPOINT_FORMAT', `tracepoint ${format.name} has no field ${field} of the expected size on this kernel`);
    }
    return off;
  };
  const pfu: TracepointFormat | null = faultEntry ? readTracepointFormat('exceptions', 'page_fault_user') : null;
  const fault: Record<string, number> = pfu ? { pfu_address_off: need(pfu, 'address', 8), pfu_ip_off: fieldOffset(pfu, 'ip', 8), pfu_error_code_off: need(pfu, 'error_code', 8) } : {};
  if (!oom) return fault;
  const mv: TracepointFormat = readTracepointFormat('oom', 'mark_victim');
  return {
    ...fault,
    mv_pid_off: need(mv, 'pid', 4),
    mv_comm_off: fieldOffset(mv, 'comm'),
    mv_total_vm_off: fieldOffset(mv, 'total_vm', 8),
    mv_anon_rss_off: fieldOffset(mv, 'anon_rss', 8),
    mv_file_rss_off: fieldOffset(mv, 'file_rss', 8),
    mv_shmem_rss_off: fieldOffset(mv, 'shmem_rss', 8),
    mv_uid_off: fieldOffset(mv, 'uid', 4),
    mv_pgtables_off: fieldOffset(mv, 'pgtables', 8),
    mv_oom_score_adj_off: fieldOffset(mv, 'oom_score_adj', 2),
  };
}
