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

/** enum trace_field, bit i for element i: a fault_event's optional fields, filled only when asked for (0 otherwise). */
export const TRACE_FIELDS = ['timestamp', 'ip', 'cgroups'] as const;
export type TraceField = (typeof TRACE_FIELDS)[number];

/** The trace_fields bitmask of `fields`. */
export function traceFieldBits(fields: readonly TraceField[]): number {
  return fields.reduce((bits, field) => bits | (1 << TRACE_FIELDS.indexOf(field)), 0);
}

/*
 * The structs of bpf/faultline.h that user space reads or writes: each
 * field's byte offset, under the C member's name in camelCase (timestampNs is
 * timestamp_ns), and each struct's size. The one place offsets are written:
 * test/contract.test.ts compiles the header and checks every entry with
 * offsetof() and sizeof().
 */
/** struct fault_event: a ring record of one page fault. */
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
export const FAULT_EVENT_SIZE = 88;

/** struct oom_event: a ring record of one OOM kill. */
export const OOM_EVENT = {
  kind: 0,
  pid: 4,
  tid: 8,
  uid: 12,
  triggerPid: 16,
  oomScoreAdj: 20,
  timestampNs: 24,
  totalVmBytes: 32,
  anonRssBytes: 40,
  fileRssBytes: 48,
  shmemRssBytes: 56,
  pgtablesBytes: 64,
  comm: 72,
  triggerComm: 88,
  cgroupId: 104,
  memcgId: 112,
} as const;
export const OOM_EVENT_SIZE = 120;

/** struct process_faults: faults[REGION_COUNT][FAULT_TYPE_COUNT] u64 from offset 0, then these. */
export const PROCESS_FAULTS = { faults: 0, exitNs: 80, comm: 88, cgroupId: 104, memcgId: 112, pid: 120 } as const;
export const PROCESS_FAULTS_SIZE = 128;

/** struct thread_record: the task iterator's output, one per live thread. */
export const THREAD_RECORD = { pid: 0, tid: 4, flags: 8, faults: 16, comm: 96, cgroupId: 112, memcgId: 120 } as const;
export const THREAD_RECORD_SIZE = 128;

/** struct stall_key: the stalls map's key. */
export const STALL_KEY = { cgroupId: 0, memcgId: 8, kind: 16 } as const;
export const STALL_KEY_SIZE = 24;

/** struct stall_hist: the stalls map's value, slots[STALL_SLOTS] u64 from offset 0, then these. */
export const STALL_HIST = { slots: 0, count: STALL_SLOTS * 8, sumNs: STALL_SLOTS * 8 + 8, reclaimedPages: STALL_SLOTS * 8 + 16 } as const;
export const STALL_HIST_SIZE = STALL_SLOTS * 8 + 24;

/** Every struct above by its C name, for the test that checks them against the header. */
export const LAYOUTS: Readonly<Record<string, { readonly size: number; readonly offsets: Readonly<Record<string, number>> }>> = {
  fault_event: { size: FAULT_EVENT_SIZE, offsets: FAULT_EVENT },
  oom_event: { size: OOM_EVENT_SIZE, offsets: OOM_EVENT },
  process_faults: { size: PROCESS_FAULTS_SIZE, offsets: PROCESS_FAULTS },
  thread_record: { size: THREAD_RECORD_SIZE, offsets: THREAD_RECORD },
  stall_key: { size: STALL_KEY_SIZE, offsets: STALL_KEY },
  stall_hist: { size: STALL_HIST_SIZE, offsets: STALL_HIST },
};

/** Map shapes the loader verifies: [key size, value size]. */
export const MAP_SIZES: Record<string, readonly [number, number]> = {
  process_slots: [4, PROCESS_FAULTS_SIZE],
  process_faults: [4, PROCESS_FAULTS_SIZE],
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
  key.writeBigUInt64LE(cgroupId, STALL_KEY.cgroupId);
  key.writeBigUInt64LE(memcgId, STALL_KEY.memcgId);
  key.writeUInt32LE(STALL_KINDS.indexOf(kind), STALL_KEY.kind);
  return key;
}

/** A stalls map entry; null for a kind this build does not know. */
export function decodeStall(key: Buffer, keyOffset: number, value: Buffer, valueOffset: number): StallRecord | null {
  const kind = STALL_KINDS[key.readUInt32LE(keyOffset + STALL_KEY.kind)];
  if (!kind) return null;
  const slots: bigint[] = [];
  for (let i = 0; i < STALL_SLOTS; i++) slots.push(value.readBigUInt64LE(valueOffset + STALL_HIST.slots + i * 8));
  return {
    cgroupId: key.readBigUInt64LE(keyOffset + STALL_KEY.cgroupId),
    memcgId: key.readBigUInt64LE(keyOffset + STALL_KEY.memcgId),
    kind,
    slots,
    count: value.readBigUInt64LE(valueOffset + STALL_HIST.count),
    sumNs: value.readBigUInt64LE(valueOffset + STALL_HIST.sumNs),
    reclaimedPages: value.readBigUInt64LE(valueOffset + STALL_HIST.reclaimedPages),
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

/** The owning tgid of a process_faults value; 0 for a free slot. */
export function processFaultsPid(value: Buffer, offset = 0): number {
  return Number(value.readBigUInt64LE(offset + PROCESS_FAULTS.pid));
}

/** A struct process_faults value. */
export function decodeProcessFaults(value: Buffer, offset = 0): ProcessFaultsRecord {
  // One 64-bit load per counter, so a value the kernel is incrementing never reads torn.
  const start = value.byteOffset + offset;
  const aligned = start % 8 === 0 ? value : Buffer.from(value.subarray(offset, offset + PROCESS_FAULTS_SIZE));
  const words = new BigUint64Array(aligned.buffer, aligned === value ? start : aligned.byteOffset, PROCESS_FAULTS_SIZE / 8);
  const faults: RegionTypeCounts = [];
  for (let r = 0; r < REGIONS.length; r++) {
    const row: bigint[] = [];
    for (let t = 0; t < FAULT_TYPES.length; t++) row.push(words[PROCESS_FAULTS.faults / 8 + r * FAULT_TYPES.length + t]!);
    faults.push(row);
  }
  return {
    pid: Number(words[PROCESS_FAULTS.pid / 8]),
    faults,
    exitNs: words[PROCESS_FAULTS.exitNs / 8]!,
    comm: decodeComm(value, offset + PROCESS_FAULTS.comm),
    cgroupId: words[PROCESS_FAULTS.cgroupId / 8]!,
    memcgId: words[PROCESS_FAULTS.memcgId / 8]!,
  };
}

/** Whether the `length` bytes at `offset` of `buf` (a ring record) are a fault_event. */
export function isFaultEvent(buf: Buffer, offset: number, length: number): boolean {
  return length >= FAULT_EVENT_SIZE && buf.length - offset >= FAULT_EVENT_SIZE && buf.readUInt32LE(offset + FAULT_EVENT.kind) === EVENT_PAGE_FAULT;
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
  const o = OOM_EVENT;
  if (length < OOM_EVENT_SIZE || buf.length - offset < OOM_EVENT_SIZE || buf.readUInt32LE(offset + o.kind) !== EVENT_OOM_KILL) return null;
  if (offset !== 0) buf = buf.subarray(offset, offset + OOM_EVENT_SIZE);
  return {
    kind: 'oom_kill',
    pid: buf.readUInt32LE(o.pid),
    tid: buf.readUInt32LE(o.tid),
    uid: buf.readUInt32LE(o.uid),
    triggerPid: buf.readUInt32LE(o.triggerPid),
    oomScoreAdj: buf.readInt32LE(o.oomScoreAdj),
    timestampNs: buf.readBigUInt64LE(o.timestampNs),
    totalVmBytes: buf.readBigUInt64LE(o.totalVmBytes),
    anonRssBytes: buf.readBigUInt64LE(o.anonRssBytes),
    fileRssBytes: buf.readBigUInt64LE(o.fileRssBytes),
    shmemRssBytes: buf.readBigUInt64LE(o.shmemRssBytes),
    pgtablesBytes: buf.readBigUInt64LE(o.pgtablesBytes),
    comm: decodeComm(buf, o.comm),
    triggerComm: decodeComm(buf, o.triggerComm),
    cgroupId: buf.readBigUInt64LE(o.cgroupId),
    memcgId: buf.readBigUInt64LE(o.memcgId),
  };
}

/** fault_access slot → access kind and whether the page was present (x86 error code). */
export interface AccessKind {
  readonly access: 'read' | 'write' | 'exec';
  readonly present: boolean;
}

/** The x86 page-fault error code's bits the programs read (arch/x86/include/asm/trap_pf.h). */
export const PF_ERROR = { present: 0x1, write: 0x2, exec: 0x10 } as const;

/** A page fault's access and whether the page was present, from its x86 error code. */
export function accessOfErrorCode(code: number): AccessKind {
  return { access: code & PF_ERROR.exec ? 'exec' : code & PF_ERROR.write ? 'write' : 'read', present: (code & PF_ERROR.present) !== 0 };
}

/** A fault_access slot (present | write << 1 | exec << 2, as the programs fill it) → its access kind. */
export function accessOfSlot(slot: number): AccessKind {
  return accessOfErrorCode((slot & 1 ? PF_ERROR.present : 0) | (slot & 2 ? PF_ERROR.write : 0) | (slot & 4 ? PF_ERROR.exec : 0));
}

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
      for (let t = 0; t < FAULT_TYPES.length; t++) row.push(buf.readBigUInt64LE(off + THREAD_RECORD.faults + (r * FAULT_TYPES.length + t) * 8));
      faults.push(row);
    }
    out.push({
      pid: buf.readUInt32LE(off + THREAD_RECORD.pid),
      tid: buf.readUInt32LE(off + THREAD_RECORD.tid),
      flags: buf.readUInt32LE(off + THREAD_RECORD.flags),
      faults,
      comm: decodeComm(buf, off + THREAD_RECORD.comm),
      cgroupId: buf.readBigUInt64LE(off + THREAD_RECORD.cgroupId),
      memcgId: buf.readBigUInt64LE(off + THREAD_RECORD.memcgId),
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
