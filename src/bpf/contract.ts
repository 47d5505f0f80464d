/**
 * Mirror of bpf/faultline.h, the kernel/user contract. Every layout here must
 * match the header; the loader checks map key and value sizes at startup.
 */

export const TASK_COMM_LEN = 16;

/** enum fault_region, in order. */
export const REGIONS = ['heap', 'stack', 'anon', 'file', 'other'] as const;
export type FaultRegion = (typeof REGIONS)[number];

/** enum fault_type, in order. */
export const FAULT_TYPES = ['minor', 'major'] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

/** enum ringbuf_id, in order, named as the ring buffer maps are. */
export const RINGBUFS = ['fault_events', 'oom_events'] as const;
export type RingbufName = (typeof RINGBUFS)[number];

export const ACCESS_SLOTS = 8;

/** enum stall_kind, in order. */
export const STALL_KINDS = ['direct_reclaim', 'memcg_reclaim', 'compaction'] as const;
export type StallKind = (typeof STALL_KINDS)[number];
/** log2 buckets of a stall histogram: slot i counts stalls of [2^i, 2^(i+1)) ns, the last from 2^39 ns. */
export const STALL_SLOTS = 40;
export const STALL_KEY_SIZE = 24;
export const STALL_HIST_SIZE = STALL_SLOTS * 8 + 24;

/** enum trace_field, bit i for element i: a fault_event's optional fields, filled only when asked for (0 otherwise). */
export const TRACE_FIELDS = ['timestamp', 'ip', 'cgroups'] as const;
export type TraceField = (typeof TRACE_FIELDS)[number];

/** The trace_fields bitmask of `fields`. */
export function traceFieldBits(fields: readonly TraceField[]): number {
  return fields.reduce((bits, field) => bits | (1 << TRACE_FIELDS.indexOf(field)), 0);
}

export const FAULT_EVENT_SIZE = 88;
export const OOM_EVENT_SIZE = 120;

/** Map shapes the loader verifies: [key size, value size]. */
export const MAP_SIZES: Record<string, readonly [number, number]> = {
  process_slots: [4, 128],
  process_faults: [4, 128],
  unattributed_faults: [4, 8],
  fault_access: [4, 8],
  lost_records: [4, 8],
  detail_paused: [4, 4],
  thread_faults: [4, 160],
  thread_slots: [4, 168],
  stalls: [STALL_KEY_SIZE, STALL_HIST_SIZE],
  stall_start: [4, 24],
  stall_zero: [4, STALL_HIST_SIZE],
  oom_signalled: [4, OOM_EVENT_SIZE],
};

const EVENT_PAGE_FAULT = 1;
const EVENT_OOM_KILL = 2;

/** Fault counts of one process, indexed [region][type] as in the kernel. */
export type RegionTypeCounts = bigint[][];

export interface ProcessFaultsRecord {
  readonly pid: number;
  readonly comm: string;
  /** CLOCK_MONOTONIC ns of the last thread's exit; 0n while alive. */
  readonly exitNs: bigint;
  readonly faults: RegionTypeCounts;
  /** cgroup v2 id, and the memory controller's cgroup id (kernfs ids), at first fault or exec. */
  readonly cgroupId: bigint;
  readonly memcgId: bigint;
}

export interface PageFaultEvent {
  readonly kind: 'page_fault';
  readonly pid: number;
  readonly tid: number;
  readonly cpu: number;
  readonly timestampNs: bigint;
  readonly address: bigint;
  readonly ip: bigint;
  readonly errorCode: bigint;
  readonly comm: string;
  /** Decided at fault entry (a stack-growing fault is still below the stack VMA then). */
  readonly region: FaultRegion;
  /** The faulting thread's cgroup v2 id and memory cgroup id. */
  readonly cgroupId: bigint;
  readonly memcgId: bigint;
}

export interface OomKillEvent {
  readonly kind: 'oom_kill';
  readonly pid: number;
  readonly tid: number;
  readonly uid: number;
  readonly triggerPid: number;
  readonly triggerComm: string;
  readonly oomScoreAdj: number;
  readonly timestampNs: bigint;
  readonly totalVmBytes: bigint;
  readonly anonRssBytes: bigint;
  readonly fileRssBytes: bigint;
  readonly shmemRssBytes: bigint;
  readonly pgtablesBytes: bigint;
  readonly comm: string;
  /** The victim's cgroup v2 id and memory cgroup id; 0n where the kernel does not say. */
  readonly cgroupId: bigint;
  readonly memcgId: bigint;
}

/** One cgroup's stalls of one kind (struct stall_key + struct stall_hist). All-zero ids: cgroups beyond the map. */
export interface StallRecord {
  readonly cgroupId: bigint;
  readonly memcgId: bigint;
  readonly kind: StallKind;
  /** STALL_SLOTS log2 buckets of nanoseconds. */
  readonly slots: readonly bigint[];
  readonly count: bigint;
  readonly sumNs: bigint;
  /** Pages the reclaim freed (nr_reclaimed); 0 for compaction. */
  readonly reclaimedPages: bigint;
}

/** struct stall_key for a record's cgroups and kind. */
export function encodeStallKey(cgroupId: bigint, memcgId: bigint, kind: StallKind): Buffer {
  const key = Buffer.alloc(STALL_KEY_SIZE);
  key.writeBigUInt64LE(cgroupId, 0);
  key.writeBigUInt64LE(memcgId, 8);
  key.writeUInt32LE(STALL_KINDS.indexOf(kind), 16);
  return key;
}

/** A stalls map entry; null for a kind this build does not know. */
export function decodeStall(key: Buffer, keyOffset: number, value: Buffer, valueOffset: number): StallRecord | null {
  const kind = STALL_KINDS[key.readUInt32LE(keyOffset + 16)];
  if (!kind) return null;
  const slots: bigint[] = [];
  for (let i = 0; i < STALL_SLOTS; i++) slots.push(value.readBigUInt64LE(valueOffset + i * 8));
  const tail = valueOffset + STALL_SLOTS * 8;
  return {
    cgroupId: key.readBigUInt64LE(keyOffset),
    memcgId: key.readBigUInt64LE(keyOffset + 8),
    kind,
    slots,
    count: value.readBigUInt64LE(tail),
    sumNs: value.readBigUInt64LE(tail + 8),
    reclaimedPages: value.readBigUInt64LE(tail + 16),
  };
}

export type KernelEvent = PageFaultEvent | OomKillEvent;

/** The last comm decoded, by its 16 bytes: a stream of records mostly repeats one process's comm. */
const lastComm = { a: -1, b: -1, c: -1, d: -1, text: '' };

export function decodeComm(buf: Buffer, offset: number): string {
  const a = buf.readUInt32LE(offset);
  const b = buf.readUInt32LE(offset + 4);
  const c = buf.readUInt32LE(offset + 8);
  const d = buf.readUInt32LE(offset + 12);
  if (a === lastComm.a && b === lastComm.b && c === lastComm.c && d === lastComm.d) return lastComm.text;
  const nul = buf.indexOf(0, offset);
  const end = nul < 0 || nul > offset + TASK_COMM_LEN ? offset + TASK_COMM_LEN : nul;
  const text = buf.toString('utf8', offset, end);
  Object.assign(lastComm, { a, b, c, d, text });
  return text;
}

export function emptyCounts(): RegionTypeCounts {
  return REGIONS.map(() => FAULT_TYPES.map(() => 0n));
}

export const PROCESS_FAULTS_SIZE = 128;
const PROCESS_FAULTS_PID = 120;

/** The owning tgid of a process_faults value; 0 for a free slot. */
export function processFaultsPid(value: Buffer, offset = 0): number {
  return Number(value.readBigUInt64LE(offset + PROCESS_FAULTS_PID));
}

/** struct process_faults: faults[5][2] u64, exit_ns u64, comm[16], cgroup_id, memcg_id, pid u64. */
export function decodeProcessFaults(value: Buffer, offset = 0): ProcessFaultsRecord {
  // One 64-bit load per counter, so a value the kernel is incrementing never reads torn.
  const start = value.byteOffset + offset;
  const aligned = start % 8 === 0 ? value : Buffer.from(value.subarray(offset, offset + PROCESS_FAULTS_SIZE));
  const words = new BigUint64Array(aligned.buffer, aligned === value ? start : aligned.byteOffset, PROCESS_FAULTS_SIZE / 8);
  const faults: RegionTypeCounts = [];
  for (let r = 0; r < REGIONS.length; r++) {
    const row: bigint[] = [];
    for (let t = 0; t < FAULT_TYPES.length; t++) row.push(words[r * FAULT_TYPES.length + t]!);
    faults.push(row);
  }
  return {
    pid: Number(words[PROCESS_FAULTS_PID / 8]),
    faults,
    exitNs: words[10]!,
    comm: decodeComm(value, offset + 88),
    cgroupId: words[13]!,
    memcgId: words[14]!,
  };
}

/** struct fault_event: each field's byte offset. */
export const FAULT_EVENT = {
  kind: 0,
  pid: 4,
  tid: 8,
  cpu: 12,
  timestampNs: 16,
  address: 24,
  ip: 32,
  errorCode: 40,
  comm: 48,
  region: 64,
  cgroupId: 72,
  memcgId: 80,
} as const;

/** Whether the `length` bytes at `offset` of `buf` (a ring record) are a fault_event. */
export function isFaultEvent(buf: Buffer, offset: number, length: number): boolean {
  return length >= FAULT_EVENT_SIZE && buf.length - offset >= FAULT_EVENT_SIZE && buf.readUInt32LE(offset) === EVENT_PAGE_FAULT;
}

/** A fault_event at `offset` of `buf` (a ring record: `length` bytes), or null when it is not one. */
export function decodeFaultEvent(buf: Buffer, offset = 0, length = buf.length - offset): PageFaultEvent | null {
  if (!isFaultEvent(buf, offset, length)) return null;
  const f = FAULT_EVENT;
  return {
    kind: 'page_fault',
    pid: buf.readUInt32LE(offset + f.pid),
    tid: buf.readUInt32LE(offset + f.tid),
    cpu: buf.readUInt32LE(offset + f.cpu),
    timestampNs: buf.readBigUInt64LE(offset + f.timestampNs),
    address: buf.readBigUInt64LE(offset + f.address),
    ip: buf.readBigUInt64LE(offset + f.ip),
    errorCode: buf.readBigUInt64LE(offset + f.errorCode),
    comm: decodeComm(buf, offset + f.comm),
    region: REGIONS[buf.readUInt32LE(offset + f.region)] ?? 'other',
    cgroupId: buf.readBigUInt64LE(offset + f.cgroupId),
    memcgId: buf.readBigUInt64LE(offset + f.memcgId),
  };
}

export function decodeOomEvent(buf: Buffer, offset = 0, length = buf.length - offset): OomKillEvent | null {
  if (length < OOM_EVENT_SIZE || buf.length - offset < OOM_EVENT_SIZE || buf.readUInt32LE(offset) !== EVENT_OOM_KILL) return null;
  if (offset !== 0) buf = buf.subarray(offset, offset + OOM_EVENT_SIZE);
  return {
    kind: 'oom_kill',
    pid: buf.readUInt32LE(4),
    tid: buf.readUInt32LE(8),
    uid: buf.readUInt32LE(12),
    triggerPid: buf.readUInt32LE(16),
    oomScoreAdj: buf.readInt32LE(20),
    timestampNs: buf.readBigUInt64LE(24),
    totalVmBytes: buf.readBigUInt64LE(32),
    anonRssBytes: buf.readBigUInt64LE(40),
    fileRssBytes: buf.readBigUInt64LE(48),
    shmemRssBytes: buf.readBigUInt64LE(56),
    pgtablesBytes: buf.readBigUInt64LE(64),
    comm: decodeComm(buf, 72),
    triggerComm: decodeComm(buf, 88),
    cgroupId: buf.readBigUInt64LE(104),
    memcgId: buf.readBigUInt64LE(112),
  };
}

/** fault_access slot → access kind and whether the page was present (x86 error code). */
export interface AccessKind {
  readonly access: 'read' | 'write' | 'exec';
  readonly present: boolean;
}

export function accessOfSlot(slot: number): AccessKind {
  const present = (slot & 1) !== 0;
  if (slot & 4) return { access: 'exec', present };
  return { access: slot & 2 ? 'write' : 'read', present };
}

export const THREAD_RECORD_SIZE = 128;
/** struct thread_record flags. */
export const THREAD_INCOMPLETE = 1;
export const THREAD_EXITED = 2;

/** A live thread's counts since attach, as the task iterator writes them (struct thread_record). */
export interface ThreadRecord {
  readonly pid: number;
  readonly tid: number;
  readonly flags: number;
  readonly faults: RegionTypeCounts;
  /** The group leader's comm. */
  readonly comm: string;
  readonly cgroupId: bigint;
  readonly memcgId: bigint;
}

/** The task iterator's output: whole struct thread_records; a torn tail (never written by the kernel) is ignored. */
export function decodeThreadRecords(buf: Buffer): ThreadRecord[] {
  const out: ThreadRecord[] = [];
  for (let off = 0; off + THREAD_RECORD_SIZE <= buf.length; off += THREAD_RECORD_SIZE) {
    const faults: RegionTypeCounts = [];
    for (let r = 0; r < REGIONS.length; r++) {
      const row: bigint[] = [];
      for (let t = 0; t < FAULT_TYPES.length; t++) row.push(buf.readBigUInt64LE(off + 16 + (r * FAULT_TYPES.length + t) * 8));
      faults.push(row);
    }
    out.push({
      pid: buf.readUInt32LE(off),
      tid: buf.readUInt32LE(off + 4),
      flags: buf.readUInt32LE(off + 8),
      faults,
      comm: decodeComm(buf, off + 96),
      cgroupId: buf.readBigUInt64LE(off + 112),
      memcgId: buf.readBigUInt64LE(off + 120),
    });
  }
  return out;
}

/** One process counted in both its slot and the overflow hash (it held each at some time). */
export function mergeProcessFaults(a: ProcessFaultsRecord, b: ProcessFaultsRecord): ProcessFaultsRecord {
  const faults = a.faults.map((row, r) => row.map((n, t) => n + b.faults[r]![t]!));
  return {
    pid: a.pid,
    comm: a.comm || b.comm,
    exitNs: a.exitNs > b.exitNs ? a.exitNs : b.exitNs,
    faults,
    cgroupId: a.cgroupId || b.cgroupId,
    memcgId: a.memcgId || b.memcgId,
  };
}
