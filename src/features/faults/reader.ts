/**
 * The fault counts as the kernel keeps them: exited threads' in the
 * process_slots array and the process_faults hash, live threads' through the
 * task iterator, faults that found both full in unattributed_faults, access
 * kinds in fault_access. One batch read per map per refresh.
 */
import { ACCESS_SLOTS, FAULT_TYPES, PROCESS_FAULTS_SIZE, REGIONS, emptyCounts, type RegionTypeCounts } from '../../bpf/contract.js';
import type { BpfLink, BpfMap } from '../../bpf/libbpf.js';
import { decodeProcessFaults, decodeThreadRecords, mergeProcessFaults, processFaultsPid, type ProcessFaultsRecord } from './decode.js';
import { mergeProcessSnapshot } from './process-snapshot.js';

/** What the state reads of the fault counts (FaultMaps reads the kernel's; tests give their own). */
export interface FaultReader {
  /** How many processes the kernel can count by pid (both process maps). */
  readonly capacity: number;
  /** Whether access types are counted (the exceptions tracepoints carry the x86 error code; the perf event does not). */
  readonly accessTypes: boolean;
  readProcesses(): ProcessFaultsRecord[];
  forgetProcesses(pids: Iterable<number>): void;
  /** Faults of processes that did not fit in process_faults. */
  readUnattributed(): RegionTypeCounts;
  /** Page faults by access slot (see accessOfSlot). */
  readAccess(): bigint[];
}

/** The maps and the iterator link a loaded probe holds (src/bpf/probe.ts). */
export interface FaultMapSource {
  map(name: string): BpfMap;
  readonly threadIterator: BpfLink | null;
  readonly accessTypes: boolean;
}

export class FaultMaps implements FaultReader {
  readonly accessTypes: boolean;
  private readonly slots: BpfMap;
  private readonly hash: BpfMap;
  private readonly unattributed: BpfMap;
  private readonly access: BpfMap;
  private readonly threads: BpfLink | null;
  private readonly iterBuffer = { buffer: Buffer.allocUnsafe(1 << 20) };
  /** The previous merge of maps and iterator: what a process read incompletely keeps. */
  private snapshot = new Map<number, ProcessFaultsRecord>();

  constructor(probe: FaultMapSource) {
    this.slots = probe.map('process_slots');
    this.hash = probe.map('process_faults');
    this.unattributed = probe.map('unattributed_faults');
    this.access = probe.map('fault_access');
    this.threads = probe.threadIterator;
    this.accessTypes = probe.accessTypes;
    // The first view, which a process read incompletely at the first refresh keeps.
    this.readProcesses();
  }

  get capacity(): number {
    return this.slots.shape.maxEntries + this.hash.shape.maxEntries;
  }

  /**
   * Every process's counts since attach: exited threads' from one batch read
   * of process_slots and one of process_faults, then live threads' from the
   * task iterator, merged (see process-snapshot.ts).
   */
  readProcesses(): ProcessFaultsRecord[] {
    const byPid = new Map<number, ProcessFaultsRecord>();
    for (const map of [this.slots, this.hash]) {
      const { values, count } = map.lookupAll();
      for (let i = 0; i < count; i++) {
        if (processFaultsPid(values, i * map.valueBytes) === 0) continue; // a free slot
        const record = decodeProcessFaults(values, i * map.valueBytes);
        const seen = byPid.get(record.pid);
        byPid.set(record.pid, seen ? mergeProcessFaults(seen, record) : record);
      }
    }
    const threads = this.threads ? decodeThreadRecords(this.threads.readIter(this.iterBuffer)) : [];
    this.snapshot = mergeProcessSnapshot([...byPid.values()], threads, this.snapshot);
    return [...this.snapshot.values()];
  }

  /** Frees processes whose final counts user space has taken: their slot (if theirs) and hash entry. */
  forgetProcesses(pids: Iterable<number>): void {
    const key = Buffer.alloc(4);
    const cleared = Buffer.alloc(PROCESS_FAULTS_SIZE);
    for (const pid of pids) {
      this.snapshot.delete(pid);
      key.writeUInt32LE(pid);
      this.hash.delete(key);
      key.writeUInt32LE(pid & (this.slots.shape.maxEntries - 1));
      const slot = this.slots.lookup(key);
      // One ascending copy: the counts are zero before `pid` (last) frees the slot.
      if (slot && processFaultsPid(slot) === pid) this.slots.update(key, cleared);
    }
  }

  readUnattributed(): RegionTypeCounts {
    const flat = this.unattributed.sumCounters(REGIONS.length * FAULT_TYPES.length);
    const counts = emptyCounts();
    flat.forEach((n, i) => (counts[Math.floor(i / FAULT_TYPES.length)]![i % FAULT_TYPES.length] = n));
    return counts;
  }

  readAccess(): bigint[] {
    return this.access.sumCounters(ACCESS_SLOTS);
  }
}
