/** The counting maps' records (struct process_faults, struct thread_record) and the access kinds of fault_access, decoded. */
import {
  PF_ERROR,
  FAULT_TYPES,
  PROCESS_FAULTS,
  PROCESS_FAULTS_SIZE,
  REGIONS,
  THREAD_RECORD,
  THREAD_RECORD_SIZE,
  decodeComm,
  type RegionTypeCounts,
} from '../../bpf/contract.js';

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

/** fault_access slot → access kind and whether the page was present (x86 error code). */
export interface AccessKind {
  readonly access: 'read' | 'write' | 'exec';
  readonly present: boolean;
}

/** Page faults of one access kind. */
export interface AccessCount extends AccessKind {
  readonly count: bigint;
}

/** A page fault's access and whether the page was present, from its x86 error code. */
export function accessOfErrorCode(code: number): AccessKind {
  return { access: code & PF_ERROR.exec ? 'exec' : code & PF_ERROR.write ? 'write' : 'read', present: (code & PF_ERROR.present) !== 0 };
}

/** A fault_access slot (present | write << 1 | exec << 2, as the programs fill it) → its access kind. */
export function accessOfSlot(slot: number): AccessKind {
  return accessOfErrorCode((slot & 1 ? PF_ERROR.present : 0) | (slot & 2 ? PF_ERROR.write : 0) | (slot & 4 ? PF_ERROR.exec : 0));
}
