/** Finds tracefs (mounting it when root) and reads tracepoint format files. */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { FaultlineError } from '../errors.js';
import { parseTracepointFormat, type TracepointFormat } from './tracepoint-format.js';

const TRACEFS_PATHS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/**
 * Whether path exists, as this process sees it. Not existsSync: access(2)
 * judges by the real uid with capabilities set aside, so a non-root faultline
 * given CAP_DAC_READ_SEARCH would find no tracefs (mode 0700) at all.
 */
function exists(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false }) !== undefined;
}

function isTracefs(path: string): boolean {
  try {
    return exists(`${path}/events`);
  } catch {
    return false; // EACCES: not reachable, which is what the error below reports
  }
}

/** The tracefs root; mounts it at /sys/kernel/tracing when missing and we are root. */
export function tracefsRoot(): string {
  const found = TRACEFS_PATHS.find(isTracefs);
  if (found) return found;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS_PATHS[0]!], { stdio: 'pipe' });
    } catch (err) {
      throw new FaultlineError(
        'TRACEFS_MOUNT',
        `tracefs is not mounted and mounting it failed (${(err as Error).message.trim()}); ` +
          'mount it: mount -t tracefs tracefs /sys/kernel/tracing',
      );
    }
    if (isTracefs(TRACEFS_PATHS[0]!)) return TRACEFS_PATHS[0]!;
  }
  throw new FaultlineError(
    'TRACEFS_MISSING',
    'tracefs is not mounted at /sys/kernel/tracing; as root run: mount -t tracefs tracefs /sys/kernel/tracing',
  );
}

export function tracepointExists(category: string, event: string): boolean {
  return exists(`${tracefsRoot()}/events/${category}/${event}`);
}

export function readTracepointFormat(category: string, event: string): TracepointFormat {
  const path = `${tracefsRoot()}/events/${category}/${event}/format`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FaultlineError(
      'TRACEPOINT_MISSING',
      code === 'ENOENT'
        ? `tracepoint ${category}/${event} does not exist on this kernel (${path} missing)` +
            (category === 'exceptions' ? '; it exists on x86 only' : '')
        : `cannot read ${path}: ${(err as Error).message}`,
    );
  }
  return parseTracepointFormat(text);
}
