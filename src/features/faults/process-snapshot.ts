/**
 * One consistent, never-decreasing view of every process's fault counts,
 * from two reads of the kernel: the process maps (threads that exited, read
 * first) and the task iterator (threads alive, read second). A thread that
 * exits between the two reads is in neither, never in both; a process read
 * incompletely keeps its previous view until the next refresh. Pure.
 */
import {
  FAULT_TYPES,
  REGIONS,
  emptyCounts,
  type RegionTypeCounts,
} from '../../bpf/contract.js';
import {
  THREAD_EXITED,
  THREAD_INCOMPLETE,
  type ProcessFaultsRecord,
  type ThreadRecord,
} from './decode.js';

interface LiveProcess {
  faults: RegionTypeCounts;
  first: ThreadRecord;
  counting: number;
  incomplete: boolean;
}

function groupThreads(threads: readonly ThreadRecord[]): Map<number, LiveProcess> {
  const live = new Map<number, LiveProcess>();
  for (const thread of threads) {
    let p = live.get(thread.pid);
    if (!p) live.set(thread.pid, (p = { faults: emptyCounts(), first: thread, counting: 0, incomplete: false }));
    if (thread.flags & THREAD_INCOMPLETE) p.incomplete = true;
    if (thread.flags & THREAD_EXITED) continue; // its counts are in the process's record
    p.counting++;
    if (thread.tid === thread.pid) p.first = thread; // the leader names the process
    for (let r = 0; r < REGIONS.length; r++) for (let t = 0; t < FAULT_TYPES.length; t++) p.faults[r]![t]! += thread.faults[r]![t]!;
  }
  return live;
}

/**
 * `next` where no count went down since `previous`; otherwise, type by type,
 * the previous counts plus the type's growth given to the regions that grew.
 * A fault whose region was settled differently between two reads (rare: it
 * takes a failed fault and a get_user_pages fault between two entries) so
 * moves one read later, and each type's total stays the kernel's.
 */
export function monotoneCounts(previous: RegionTypeCounts, next: RegionTypeCounts): RegionTypeCounts {
  const out = emptyCounts();
  for (let t = 0; t < FAULT_TYPES.length; t++) {
    let prevTotal = 0n;
    let nextTotal = 0n;
    let shrank = false;
    for (let r = 0; r < REGIONS.length; r++) {
      prevTotal += previous[r]![t]!;
      nextTotal += next[r]![t]!;
      if (next[r]![t]! < previous[r]![t]!) shrank = true;
    }
    let budget = nextTotal - prevTotal;
    for (let r = 0; r < REGIONS.length; r++) {
      const prev = previous[r]![t]!;
      if (!shrank) out[r]![t] = next[r]![t]!;
      else if (budget <= 0n) out[r]![t] = prev;
      else {
        const grew = next[r]![t]! > prev ? next[r]![t]! - prev : 0n;
        const given = grew < budget ? grew : budget;
        out[r]![t] = prev + given;
        budget -= given;
      }
    }
  }
  return out;
}

function sameCounts(a: RegionTypeCounts, b: RegionTypeCounts): boolean {
  return a.every((row, r) => row.every((n, t) => n === b[r]![t]));
}

/** Merges the two reads into one record per process, against the previous merge. */
export function mergeProcessSnapshot(
  mapped: readonly ProcessFaultsRecord[],
  threads: readonly ThreadRecord[],
  previous: ReadonlyMap<number, ProcessFaultsRecord>,
): Map<number, ProcessFaultsRecord> {
  const live = groupThreads(threads);
  const byPid = new Map<number, ProcessFaultsRecord>();
  for (const record of mapped) byPid.set(record.pid, record);
  const out = new Map<number, ProcessFaultsRecord>();
  const pids = new Set([...byPid.keys(), ...live.keys()]);
  for (const pid of pids) {
    const exited = byPid.get(pid);
    const alive = live.get(pid);
    const prev = previous.get(pid);
    let merged: ProcessFaultsRecord | undefined;
    const exitedBetween = alive ? alive.counting === 0 && !exited : exited !== undefined && exited.exitNs === 0n;
    if (alive?.incomplete || (exitedBetween && prev)) {
      // A thread was mid-exit or mid-update, or the last one exited between the two reads: next time.
      merged = prev;
    } else if (alive && (alive.counting > 0 || exited)) {
      const faults = exited ? exited.faults.map((row, r) => row.map((n, t) => n + alive.faults[r]![t]!)) : alive.faults;
      merged = {
        pid,
        comm: alive.first.comm,
        exitNs: exited?.exitNs ?? 0n,
        faults,
        cgroupId: alive.first.cgroupId,
        memcgId: alive.first.memcgId,
      };
    } else {
      merged = exited;
    }
    if (!merged) continue;
    if (prev && merged !== prev) {
      const faults = monotoneCounts(prev.faults, merged.faults);
      if (!sameCounts(faults, merged.faults)) merged = { ...merged, faults };
    }
    out.set(pid, merged);
  }
  return out;
}
