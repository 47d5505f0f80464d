/**
 * How close a cgroup is to its memory limit, read when a scrape renders it, from the
 * cgroup's files: usage and limit (v2 memory.current/memory.max, v1
 * memory.usage_in_bytes/memory.limit_in_bytes), limit events (v2
 * memory.events; v1 memory.failcnt and memory.oom_control), and pressure
 * (PSI: /proc/pressure/memory, and the cgroup's memory.pressure on v2).
 * Parsers are pure; readCgroupMemory(), readCgroupMemoryRows() and readHostPressure() read the files.
 */
import { readFileSync } from 'node:fs';
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
