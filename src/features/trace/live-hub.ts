/**
 * The web page's process view, fed from the fault_events ring: each open page
 * is a session on one process; the kernel sends that process's faults while
 * a session is open (LiveWatch), and each session counts them by mapping and
 * keeps them for drawing until the page takes its next batch. The counts are
 * exact (every record the kernel delivered); the faults kept for drawing are
 * bounded, and what is over the bound is counted, not kept.
 */
import { ERROR_CODE_UNKNOWN, FAULT_EVENT, PF_ERROR, REGIONS } from '../../bpf/contract.js';
import { boundsOf, mappingIndexOf, parseMaps, type Mapping, type MappingBounds } from './address-space.js';
import type { LiveWatch } from './live-watch.js';

/** Pages a session keeps for drawing between two batches (each page once, with its last fault's kind); faults on more are counted as not drawn. */
export const MAX_PENDING_FAULTS = 50_000;
/** A fault outside every known mapping re-reads the maps at most this often (a new mapping appears between reads). */
export const MAPS_REREAD_MS = 200;

/** A fault's kind for the page, in one small number: its region (REGIONS index) and its access bits. */
export const KIND = { present: 8, write: 16, exec: 32, unknownAccess: 64 } as const;

/** A kind from a region index and the error code's low bits; `unknown`: the hook gave no error code. */
export function kindOf(region: number, errorCode: number, unknown: boolean): number {
  let kind = region >= 0 && region < REGIONS.length ? region : REGIONS.length - 1;
  if (unknown) return kind | KIND.unknownAccess;
  if (errorCode & PF_ERROR.present) kind |= KIND.present;
  if (errorCode & PF_ERROR.write) kind |= KIND.write;
  if (errorCode & PF_ERROR.exec) kind |= KIND.exec;
  return kind;
}

/** ERROR_CODE_UNKNOWN in the two 32-bit words the fast path reads (no bigint per record). */
const UNKNOWN_LOW = Number(ERROR_CODE_UNKNOWN & 0xffffffffn);
const UNKNOWN_HIGH = Number(ERROR_CODE_UNKNOWN >> 32n);

/** A live record as the hub reads it: no comm, no bigints (user addresses fit a double exactly). */
export interface LiveFault {
  readonly pid: number;
  readonly address: number;
  readonly kind: number;
}

/** A fault_event's live fields, read where it lies in the ring (the fast path: a watched process may fault 250,000 times a second). */
export function liveFaultAt(ring: Buffer, offset: number): LiveFault {
  const low = ring.readUInt32LE(offset + FAULT_EVENT.errorCode);
  const high = ring.readUInt32LE(offset + FAULT_EVENT.errorCode + 4);
  return {
    pid: ring.readUInt32LE(offset + FAULT_EVENT.pid),
    address: ring.readUInt32LE(offset + FAULT_EVENT.address) + ring.readUInt32LE(offset + FAULT_EVENT.address + 4) * 2 ** 32,
    kind: kindOf(ring.readUInt32LE(offset + FAULT_EVENT.region), low, low === UNKNOWN_LOW && high === UNKNOWN_HIGH),
  };
}

/** What a page receives at each flush. */
export interface LiveBatch {
  /** Pages faulted since the last batch, flat: page address, kind of its last fault, … (user addresses fit a double exactly). */
  readonly faults: number[];
  /** Faults since the last batch that were counted but not kept for drawing (on pages past MAX_PENDING_FAULTS). */
  readonly notDrawn: number;
  /** Every fault since the session opened, by the start of its mapping (hex). */
  readonly counts: Record<string, number>;
  /** Faults since the session opened in no mapping the maps showed (a mapping made and gone between reads). */
  readonly outside: number;
  readonly total: number;
  /** The mappings, when they changed since the last batch. */
  readonly mappings?: readonly Mapping[];
}

export class LiveSession {
  readonly pid: number;
  private readonly readMaps: () => string | null;
  private readonly now: () => number;
  private mappingsNow: readonly Mapping[] = [];
  private bounds: MappingBounds = boundsOf([]);
  private mappingCounts = new Float64Array(0);
  private mappingsChanged = true;
  private mapsReadAt = -Infinity;
  /** Counts of mappings that are gone, by start: a mapping unmapped keeps what it counted. */
  private readonly goneCounts = new Map<bigint, number>();
  /** Pages faulted since the last batch and the kind of the last fault on each (a page faulted twice is drawn once). */
  private pending = new Map<number, number>();
  private notDrawn = 0;
  private outside = 0;
  private total = 0;

  /** Whether the process was there when the session opened (its maps could be read). */
  readonly alive: boolean;

  constructor(pid: number, readMaps: () => string | null, now: () => number = () => performance.now()) {
    this.pid = pid;
    this.readMaps = readMaps;
    this.now = now;
    this.alive = this.rereadMaps();
  }

  get mappings(): readonly Mapping[] {
    return this.mappingsNow;
  }

  /** Reads the maps again; false when the process is gone. */
  rereadMaps(): boolean {
    this.mapsReadAt = this.now();
    const text = this.readMaps();
    if (text === null) return false;
    const { mappings } = parseMaps(text);
    if (!sameMappings(mappings, this.mappingsNow)) {
      const byStart = new Map<bigint, number>(this.goneCounts);
      this.mappingsNow.forEach((m, i) => byStart.set(m.start, this.mappingCounts[i]!));
      this.mappingsNow = mappings;
      this.bounds = boundsOf(mappings);
      this.mappingCounts = Float64Array.from(mappings, (m) => byStart.get(m.start) ?? 0);
      for (const m of mappings) byStart.delete(m.start);
      this.goneCounts.clear();
      for (const [start, n] of byStart) if (n > 0) this.goneCounts.set(start, n);
      this.mappingsChanged = true;
    }
    return true;
  }

  add(fault: LiveFault): void {
    this.total++;
    let i = mappingIndexOf(this.bounds, fault.address);
    if (i < 0 && this.now() - this.mapsReadAt >= MAPS_REREAD_MS) {
      this.rereadMaps();
      i = mappingIndexOf(this.bounds, fault.address);
    }
    if (i < 0) this.outside++;
    else this.mappingCounts[i]!++;
    const page = Math.floor(fault.address / 4096) * 4096;
    if (this.pending.size < MAX_PENDING_FAULTS || this.pending.has(page)) this.pending.set(page, fault.kind);
    else this.notDrawn++;
  }

  /** The batch since the last one. */
  take(): LiveBatch {
    const counts: Record<string, number> = {};
    for (const [start, n] of this.goneCounts) counts[start.toString(16)] = n;
    this.mappingsNow.forEach((m, i) => {
      if (this.mappingCounts[i]! > 0) counts[m.start.toString(16)] = this.mappingCounts[i]!;
    });
    const faults: number[] = [];
    for (const [page, kind] of this.pending) faults.push(page, kind);
    const batch: LiveBatch = {
      faults,
      notDrawn: this.notDrawn,
      counts,
      outside: this.outside,
      total: this.total,
      ...(this.mappingsChanged ? { mappings: this.mappingsNow } : {}),
    };
    this.pending = new Map();
    this.notDrawn = 0;
    this.mappingsChanged = false;
    return batch;
  }
}

function sameMappings(a: readonly Mapping[], b: readonly Mapping[]): boolean {
  return a.length === b.length && a.every((m, i) => m.start === b[i]!.start && m.end === b[i]!.end && m.perms === b[i]!.perms && m.path === b[i]!.path);
}

export class LiveHub {
  private readonly watch: LiveWatch;
  private readonly readMaps: (pid: number) => string | null;
  private readonly sessions = new Map<number, Set<LiveSession>>();

  constructor(watch: LiveWatch, readMaps: (pid: number) => string | null) {
    this.watch = watch;
    this.readMaps = readMaps;
  }

  /** Pages open now. */
  get size(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.size;
    return n;
  }

  /** A page on `pid` opens: the kernel starts sending its faults. Throws LIVE_FULL past the watch's bound. */
  open(pid: number): LiveSession {
    this.watch.add(pid);
    const session = new LiveSession(pid, () => this.readMaps(pid));
    let set = this.sessions.get(pid);
    if (!set) this.sessions.set(pid, (set = new Set()));
    set.add(session);
    return session;
  }

  close(session: LiveSession): void {
    const set = this.sessions.get(session.pid);
    if (!set?.delete(session)) return;
    if (set.size === 0) this.sessions.delete(session.pid);
    this.watch.remove(session.pid);
  }

  /** A record from the ring that its process's watch asked for, where it lies in the ring. */
  deliver(ring: Buffer, offset: number): void {
    const set = this.sessions.get(ring.readUInt32LE(offset + FAULT_EVENT.pid));
    if (!set) return;
    const fault = liveFaultAt(ring, offset);
    for (const session of set) session.add(fault);
  }
}
