/**
 * How close a cgroup is to its memory limit, read when a scrape renders it (and, for time to OOM, several times a second through LimitedMemoryFiles), from the
 * cgroup's files: usage and limit (v2 memory.current/memory.max, v1
 * memory.usage_in_bytes/memory.limit_in_bytes), limit events (v2
 * memory.events; v1 memory.failcnt and memory.oom_control), and pressure
 * (PSI: /proc/pressure/memory, and the cgroup's memory.pressure on v2).
 * Parsers are pure; readCgroupMemory(), readCgroupMemoryRows() and readHostPressure() read the files.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupNames } from './cgroups.js';

export interface PsiLine {
  /** Share of wall time stalled over the last 10, 60 and 300 seconds (0..1). */
  readonly avg10: number;
  readonly avg60: number;
  readonly avg300: number;
  /** Total stall time, seconds. */
  readonly totalSeconds: number;
}

export interface Psi {
  readonly some: PsiLine;
  readonly full: PsiLine | null;
}

/** Parses a PSI file (`some avg10=0.12 avg60=… avg300=… total=<µs>`, then `full …`). */
export function parsePsi(text: string): Psi | null {
  const lines = new Map<string, PsiLine>();
  for (const line of text.split('\n')) {
    const m = /^(some|full) avg10=([\d.]+) avg60=([\d.]+) avg300=([\d.]+) total=(\d+)$/.exec(line.trim());
    if (m) {
      lines.set(m[1]!, {
        avg10: Number(m[2]) / 100,
        avg60: Number(m[3]) / 100,
        avg300: Number(m[4]) / 100,
        totalSeconds: Number(m[5]) / 1e6,
      });
    }
  }
  const some = lines.get('some');
  return some ? { some, full: lines.get('full') ?? null } : null;
}

/** `key value` lines (memory.events, memory.oom_control, memory.stat). */
export function parseKeyedValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/** A limit file: `max` (v2) or a v1 value near 2^63 (page-rounded LONG_MAX) means none. */
export function parseLimit(text: string): number | null {
  const t = text.trim();
  if (t === 'max') return null;
  const n = Number(t);
  if (!Number.isFinite(n) || n >= 2 ** 62) return null;
  return n;
}

export interface CgroupMemory {
  readonly usageBytes: number;
  /** null: no limit. */
  readonly limitBytes: number | null;
  /** Limit events by name: v2 low/high/max/oom/oom_kill; v1 max (failcnt) and oom_kill. */
  readonly events: ReadonlyMap<string, number>;
  readonly pressure: Psi | null;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Reads a cgroup's memory headroom; null when the cgroup is gone. */
export function readCgroupMemory(root: string, cgroupPath: string, v1: boolean): CgroupMemory | null {
  const dir = join(root, cgroupPath);
  if (v1) {
    const usage = read(join(dir, 'memory.usage_in_bytes'));
    if (usage === null) return null;
    const events = new Map<string, number>();
    const failcnt = read(join(dir, 'memory.failcnt'));
    if (failcnt !== null) events.set('max', Number(failcnt.trim()));
    const oomKill = parseKeyedValues(read(join(dir, 'memory.oom_control')) ?? '').get('oom_kill');
    if (oomKill !== undefined) events.set('oom_kill', oomKill);
    return { usageBytes: Number(usage.trim()), limitBytes: parseLimit(read(join(dir, 'memory.limit_in_bytes')) ?? 'max'), events, pressure: null };
  }
  const current = read(join(dir, 'memory.current'));
  if (current === null) return null;
  return {
    usageBytes: Number(current.trim()),
    limitBytes: parseLimit(read(join(dir, 'memory.max')) ?? 'max'),
    events: parseKeyedValues(read(join(dir, 'memory.events')) ?? ''),
    pressure: parsePsi(read(join(dir, 'memory.pressure')) ?? ''),
  };
}

/** A limited cgroup's usage, limit, and the file pages reclaim can free. */
export interface LimitedMemory {
  readonly usageBytes: number;
  readonly limitBytes: number;
  /** The active and inactive file LRU lists (memory.stat; v1: total_*, the cgroup and its children). */
  readonly fileBytes: number;
  /** Of those, the inactive list: usage less it is the kubelet's working set. */
  readonly inactiveFileBytes: number;
  /** Page faults and major faults charged to the cgroup so far (memory.stat pgfault, pgmajfault; v1 total_*). */
  readonly faults: number;
  readonly majorFaults: number;
  /** Time some task stalled on memory so far (v2 memory.pressure, `some` total); null on v1 or without PSI. */
  readonly pressureSomeSeconds: number | null;
}

/** One key's value in memory.stat text, or null when absent or not a count. */
export function statValue(text: string, key: string): number | null {
  let at: number;
  if (text.startsWith(`${key} `)) {
    at = 0;
  } else {
    const newline = text.indexOf(`\n${key} `);
    if (newline < 0) return null;
    at = newline + 1;
  }
  const start = at + key.length + 1;
  const end = text.indexOf('\n', start);
  const value = text.slice(start, end < 0 ? undefined : end).trim();
  return /^\d{1,19}$/.test(value) ? Number(value) : null;
}

/** The file LRU lists of a memory.stat (v2 active_file, inactive_file; v1 the hierarchical total_* pair); null when either is missing. */
function fileLists(stat: string, v1: boolean): { active: number; inactive: number } | null {
  const prefix = v1 ? 'total_' : '';
  const active = statValue(stat, `${prefix}active_file`);
  const inactive = statValue(stat, `${prefix}inactive_file`);
  return active === null || inactive === null ? null : { active, inactive };
}

/** The file pages of a memory.stat: both file LRU lists; null when either is missing. */
export function fileBytesOf(stat: string, v1: boolean): number | null {
  const lists = fileLists(stat, v1);
  return lists && lists.active + lists.inactive;
}

/** What the time-to-OOM sampler reads of a memory.stat; null when a key is missing. */
export function memoryStatOf(stat: string, v1: boolean): { fileBytes: number; inactiveFileBytes: number; faults: number; majorFaults: number } | null {
  const prefix = v1 ? 'total_' : '';
  const lists = fileLists(stat, v1);
  const faults = statValue(stat, `${prefix}pgfault`);
  const majorFaults = statValue(stat, `${prefix}pgmajfault`);
  if (lists === null || faults === null || majorFaults === null) return null;
  return { fileBytes: lists.active + lists.inactive, inactiveFileBytes: lists.inactive, faults, majorFaults };
}

/** Text of files a sampler re-reads, several times a second: kept open, read from offset 0 each time (a third of the cost of opening them again). */
const scratch = Buffer.alloc(64 * 1024);

/**
 * A cgroup's usage, limit and memory.stat, opened once and read again at each
 * call. The limit is read every `limitEvery` reads (limits seldom change).
 * close() when the cgroup is no longer watched.
 */
export class LimitedMemoryFiles {
  private readonly fds: number[] = [];
  private readonly usageFd: number;
  private readonly statFd: number;
  private readonly limitFd: number;
  /** v2 memory.pressure, where the kernel has PSI. */
  private readonly pressureFd: number | null = null;
  private readonly v1: boolean;
  private limitBytes: number | null = null;
  private reads = 0;

  /** Throws when the files cannot be opened (the cgroup is gone, or has no memory controller). */
  constructor(root: string, cgroupPath: string, v1: boolean, private readonly limitEvery = 16) {
    const dir = join(root, cgroupPath);
    this.v1 = v1;
    try {
      this.usageFd = this.open(join(dir, v1 ? 'memory.usage_in_bytes' : 'memory.current'));
      this.statFd = this.open(join(dir, 'memory.stat'));
      this.limitFd = this.open(join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max'));
      if (!v1) {
        try {
          this.pressureFd = this.open(join(dir, 'memory.pressure'));
        } catch {
          // No PSI here: pressure is null.
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private open(path: string): number {
    const fd = openSync(path, 'r');
    this.fds.push(fd);
    return fd;
  }

  private text(fd: number): string {
    const n = readSync(fd, scratch, 0, scratch.length, 0);
    return scratch.toString('latin1', 0, n);
  }

  /** The files now; null when the cgroup has no limit. Throws when they cannot be read (the cgroup is gone). */
  read(): LimitedMemory | null {
    if (this.reads++ % this.limitEvery === 0) this.limitBytes = parseLimit(this.text(this.limitFd));
    if (this.limitBytes === null) return null;
    const usage = this.text(this.usageFd).trim();
    const stat = memoryStatOf(this.text(this.statFd), this.v1);
    if (!/^\d{1,19}$/.test(usage) || stat === null) throw new Error(`unexpected memory files (usage ${JSON.stringify(usage.slice(0, 40))})`);
    let pressureSomeSeconds: number | null = null;
    if (this.pressureFd !== null) {
      try {
        pressureSomeSeconds = parsePsi(this.text(this.pressureFd))?.some.totalSeconds ?? null;
      } catch {
        // PSI compiled in but off (psi=0): EOPNOTSUPP.
      }
    }
    return { usageBytes: Number(usage), limitBytes: this.limitBytes, ...stat, pressureSomeSeconds };
  }

  close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }
}

/** The host's memory pressure, /proc/pressure/memory; null without PSI (CONFIG_PSI, psi=1). */
export function readHostPressure(): Psi | null {
  return parsePsi(read('/proc/pressure/memory') ?? '');
}

/** One cgroup's memory files, by its path in the naming hierarchy. */
export interface CgroupMemoryRow {
  readonly cgroup: string;
  readonly memory: CgroupMemory;
}

/** Reads the memory files of these cgroups (paths in the naming hierarchy); cgroups without them are left out. */
export function readCgroupMemoryRows(names: CgroupNames, cgroups: Iterable<string>): CgroupMemoryRow[] {
  const rows: CgroupMemoryRow[] = [];
  const root = names.root;
  const v1 = names.memoryOnV1;
  if (root) {
    for (const cgroup of cgroups) {
      if (!cgroup.startsWith('/')) continue;
      const memory = readCgroupMemory(root, cgroup, v1);
      if (memory) rows.push({ cgroup, memory });
    }
  }
  return rows;
}
