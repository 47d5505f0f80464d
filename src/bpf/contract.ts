/**
 * Mirror of bpf/faultline.h, the kernel/user contract: its enums, and each
 * struct's offsets and size, declared once. Every layout here must match the
 * header (test/contract.test.ts compiles it); the loader checks map key and
 * value sizes at startup. Each feature decodes its own records from these
 * (src/features/<feature>/decode.ts).
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
  flags: 68,
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
/** struct live_watching: live_watching[0], how many processes live_pids holds and the one when there is one. */
export const LIVE_WATCHING = { count: 0, onePid: 4 } as const;
export const LIVE_WATCHING_SIZE = 8;

export const LAYOUTS: Readonly<Record<string, { readonly size: number; readonly offsets: Readonly<Record<string, number>> }>> = {
  fault_event: { size: FAULT_EVENT_SIZE, offsets: FAULT_EVENT },
  oom_event: { size: OOM_EVENT_SIZE, offsets: OOM_EVENT },
  process_faults: { size: PROCESS_FAULTS_SIZE, offsets: PROCESS_FAULTS },
  thread_record: { size: THREAD_RECORD_SIZE, offsets: THREAD_RECORD },
  stall_key: { size: STALL_KEY_SIZE, offsets: STALL_KEY },
  stall_hist: { size: STALL_HIST_SIZE, offsets: STALL_HIST },
  live_watching: { size: LIVE_WATCHING_SIZE, offsets: LIVE_WATCHING },
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
  live_pids: [4, 1],
  live_watching: [4, LIVE_WATCHING_SIZE],
};

/** enum event_kind: a ring record's first field. */
/** error_code of a fault seen by the perf-event hook, which has none (ERROR_CODE_UNKNOWN in bpf/trace.bpf.c). */
export const ERROR_CODE_UNKNOWN = 0xffffffffffffffffn;

/** The x86 page-fault error code's bits the programs read (arch/x86/include/asm/trap_pf.h). */
export const PF_ERROR = { present: 0x1, write: 0x2, exec: 0x10 } as const;

/** enum fault_event_flag: why a fault_event was sent. */
export const FAULT_EVENT_FLAG = { traced: 1 << 0, live: 1 << 1 } as const;

export const EVENT_PAGE_FAULT = 1;
export const EVENT_OOM_KILL = 2;

/** Fault counts of one process, indexed [region][type] as in the kernel. */
export type RegionTypeCounts = bigint[][];

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

/** struct stall_key for a cgroup and kind: user space writes it (the stalls map's catch-all entry) and deletes by it. */
export function encodeStallKey(cgroupId: bigint, memcgId: bigint, kind: StallKind): Buffer {
  const key = Buffer.alloc(STALL_KEY_SIZE);
  key.writeBigUInt64LE(cgroupId, STALL_KEY.cgroupId);
  key.writeBigUInt64LE(memcgId, STALL_KEY.memcgId);
  key.writeUInt32LE(STALL_KINDS.indexOf(kind), STALL_KEY.kind);
  return key;
}
