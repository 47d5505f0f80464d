/**
 * Which processes the kernel sends live fault records for (the web page's
 * process view): live_pids, and in live_watching[0] how many it holds and the
 * one when there is one, so that with no page open each fault costs the
 * kernel one array load and with one process watched a compare. A process is
 * watched while at least one page watches it.
 */
import type { BpfMap } from '../../bpf/libbpf.js';
import { LIVE_WATCHING, LIVE_WATCHING_SIZE } from '../../bpf/contract.js';
import { FaultlineError } from '../../errors.js';

/** live_pids' capacity (MAX_TRACED_PIDS in bpf/trace.bpf.c). */
export const MAX_LIVE_PIDS = 64;

/** The two maps, as the probe gives them (tests give their own). */
export interface LiveMaps {
  readonly pids: Pick<BpfMap, 'update' | 'delete'>;
  readonly watching: Pick<BpfMap, 'update'>;
}

export class LiveWatch {
  private readonly maps: LiveMaps;
  /** Pages watching each process. */
  private readonly watchers = new Map<number, number>();

  constructor(maps: LiveMaps) {
    this.maps = maps;
  }

  /** Processes watched now. */
  get size(): number {
    return this.watchers.size;
  }

  has(pid: number): boolean {
    return this.watchers.has(pid);
  }

  /** One more page watches `pid`. Throws LIVE_FULL when MAX_LIVE_PIDS other processes are watched. */
  add(pid: number): void {
    const n = this.watchers.get(pid) ?? 0;
    if (n === 0) {
      if (this.watchers.size >= MAX_LIVE_PIDS) {
        throw new FaultlineError('LIVE_FULL', `${MAX_LIVE_PIDS} processes are watched live already; close a process page and try again`);
      }
      // The pid before the count: the kernel never sees a count that names a pid it cannot find.
      this.maps.pids.update(key(pid), Buffer.from([1]));
      this.watchers.set(pid, 1);
      this.writeCount();
      return;
    }
    this.watchers.set(pid, n + 1);
  }

  /** One page less watches `pid`; the last one stops the kernel sending its faults. */
  remove(pid: number): void {
    const n = this.watchers.get(pid) ?? 0;
    if (n > 1) {
      this.watchers.set(pid, n - 1);
      return;
    }
    if (n === 0) return;
    this.watchers.delete(pid);
    this.writeCount();
    this.maps.pids.delete(key(pid));
  }

  private writeCount(): void {
    const value = Buffer.alloc(LIVE_WATCHING_SIZE);
    value.writeUInt32LE(this.watchers.size, LIVE_WATCHING.count);
    if (this.watchers.size === 1) value.writeUInt32LE(this.watchers.keys().next().value!, LIVE_WATCHING.onePid);
    this.maps.watching.update(Buffer.alloc(4), value);
  }
}

function key(pid: number): Buffer {
  const k = Buffer.alloc(4);
  k.writeUInt32LE(pid);
  return k;
}
