/**
 * Transparent huge pages: the host's mode, and what it does to the counts.
 * With "always" an anonymous mapping faults once per 2 MiB huge page where the
 * kernel can place one, so the lab's 100 MiB demo takes 50 to 560 faults, not 25,600.
 * faultline counts what the kernel counts either way; users should know why.
 */
import { readFileSync } from 'node:fs';
import { FaultlineError } from '../errors.js';

export const THP_ENABLED = '/sys/kernel/mm/transparent_hugepage/enabled';

export type ThpMode = 'always' | 'madvise' | 'never';

/** The bracketed choice of /sys/kernel/mm/transparent_hugepage/enabled ("always [madvise] never"). */
export function parseThpMode(text: string): ThpMode {
  const chosen = /\[([a-z]+)\]/.exec(text.slice(0, 256))?.[1];
  if (chosen === 'always' || chosen === 'madvise' || chosen === 'never') return chosen;
  throw new FaultlineError('BAD_KERNEL_TEXT', `${THP_ENABLED}: no [always], [madvise] or [never] in ${JSON.stringify(text.slice(0, 80))}`);
}

/** The host's mode, or null where the kernel has no transparent huge pages (or the file cannot be read). */
export function readThpMode(path = THP_ENABLED): ThpMode | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  return parseThpMode(text);
}

/** What the mode does to fault counts, in one line. */
export function describeThp(mode: ThpMode | null): string {
  switch (mode) {
    case null:
      return 'no transparent huge pages in this kernel: every anonymous fault maps 4 KiB';
    case 'never':
      return 'transparent huge pages never: every anonymous fault maps 4 KiB';
    case 'madvise':
      return 'transparent huge pages madvise: only mappings marked MADV_HUGEPAGE fault 2 MiB at a time, every other anonymous fault maps 4 KiB';
    case 'always':
      return (
        'transparent huge pages always: an anonymous mapping faults once per 2 MiB where the kernel can place a huge page ' +
        "(the lab's 100 MiB demo: 50 to 560 faults, not 25,600); faultline counts what the kernel counts. " +
        `For 4 KiB faults: echo madvise > ${THP_ENABLED}`
      );
  }
}
