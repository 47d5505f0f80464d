/** /proc: whether a process still exists. */
import { existsSync } from 'node:fs';

/** True while /proc/PID exists (the process, or a zombie not yet reaped). */
export function processAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}
