/** /proc: whether a process still exists, its comm, its mappings. */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';

/** Bytes of /proc/PID/maps read at most (~100 bytes a line: ~40,000 mappings, past the 8,192 the page draws). */
export const MAX_MAPS_BYTES = 4 << 20;

/** True while /proc/PID exists (the process, or a zombie not yet reaped). */
export function processAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** /proc/PID/maps, at most MAX_MAPS_BYTES; null when the process is gone. */
export function readMaps(pid: number): string | null {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/maps`, 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(Math.min(MAX_MAPS_BYTES, 256 << 10));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, MAX_MAPS_BYTES - total), null);
      if (n <= 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      if (total >= MAX_MAPS_BYTES) break;
    }
    return Buffer.concat(chunks).toString('latin1');
  } catch {
    return null; // ESRCH: it exited while we read
  } finally {
    closeSync(fd);
  }
}

export function commOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'latin1').trim().slice(0, 15);
  } catch {
    return null;
  }
}
