/**
 * A process's address space as the lab draws it: its mappings from
 * /proc/PID/maps, each in one of the groups the page shows (stack, anonymous
 * mmap, heap, file-backed, and the kernel's special mappings), highest
 * address first. Pure: text in, mappings out; a fault's address finds its
 * mapping by binary search.
 */

export const MAPPING_GROUPS = ['stack', 'anon', 'heap', 'file', 'special'] as const;
export type MappingGroup = (typeof MAPPING_GROUPS)[number];

export interface Mapping {
  readonly start: bigint;
  /** Exclusive. */
  readonly end: bigint;
  /** rwxp or rwxs. */
  readonly perms: string;
  readonly offset: bigint;
  /** The file, [heap], [stack], [vdso], [anon:NAME], or '' for anonymous memory. */
  readonly path: string;
  readonly group: MappingGroup;
}

export interface AddressSpace {
  /** Sorted by start address, lowest first. */
  readonly mappings: readonly Mapping[];
  /** Lines that were not a mapping (none from a real kernel), and mappings past the bound. */
  readonly skipped: number;
}

/** Mappings read at most: a process with more (the kernel allows 65,530 by default) shows its lowest this many. */
export const MAX_MAPPINGS = 8192;

const LINE = /^([0-9a-f]{1,16})-([0-9a-f]{1,16}) ([r-][w-][x-][ps]) ([0-9a-f]{1,16}) [0-9a-f]{1,8}:[0-9a-f]{1,8} \d{1,20}(?: +(.*))?$/;

/** The group a mapping's path puts it in. */
export function groupOf(path: string): MappingGroup {
  if (path === '') return 'anon';
  if (path === '[heap]') return 'heap';
  if (path === '[stack]' || path.startsWith('[stack:')) return 'stack';
  if (path.startsWith('[anon:') || path.startsWith('[anon_shmem:')) return 'anon';
  if (path.startsWith('[')) return 'special'; // [vdso], [vvar], [vsyscall], [uprobes]
  return 'file';
}

/** Parses /proc/PID/maps text; at most MAX_MAPPINGS mappings. */
export function parseMaps(text: string): AddressSpace {
  const mappings: Mapping[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m || mappings.length >= MAX_MAPPINGS) {
      skipped++;
      continue;
    }
    const start = BigInt(`0x${m[1]!}`);
    const end = BigInt(`0x${m[2]!}`);
    if (end <= start) {
      skipped++;
      continue;
    }
    const path = m[5] ?? '';
    mappings.push({ start, end, perms: m[3]!, offset: BigInt(`0x${m[4]!}`), path, group: groupOf(path) });
  }
  mappings.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return { mappings, skipped };
}

/** Sorted mappings' bounds as doubles (user addresses fit one exactly), for the per-fault search: no bigint per fault. */
export interface MappingBounds {
  readonly starts: Float64Array;
  readonly ends: Float64Array;
}

export function boundsOf(mappings: readonly Mapping[]): MappingBounds {
  return { starts: Float64Array.from(mappings, (m) => Number(m.start)), ends: Float64Array.from(mappings, (m) => Number(m.end)) };
}

/** The index of the mapping that holds `address`, or -1. */
export function mappingIndexOf(bounds: MappingBounds, address: number): number {
  let lo = 0;
  let hi = bounds.starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (address < bounds.starts[mid]!) hi = mid - 1;
    else if (address >= bounds.ends[mid]!) lo = mid + 1;
    else return mid;
  }
  return -1;
}
