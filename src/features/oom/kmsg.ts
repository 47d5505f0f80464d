/**
 * Reads the kernel log's OOM reports from /dev/kmsg. Every open of /dev/kmsg
 * has its own read position, so this disturbs no other reader (journald,
 * dmesg). Non-blocking: poll() reads what is there and returns.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { parseOomReport, type OomReport } from './oom-report.js';

export class KmsgOomReports {
  private fd: number | null;
  private readonly buf = Buffer.alloc(8192);
  private readonly byPid = new Map<number, OomReport>();
  /** Why /dev/kmsg cannot be read, or null. */
  readonly unavailable: string | null;

  /** Opens path, or reads from fd: /dev/kmsg opened earlier (before capabilities were dropped). */
  constructor(path = '/dev/kmsg', fd?: number) {
    try {
      this.fd = fd ?? openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      this.unavailable = null;
    } catch (err) {
      this.fd = null;
      this.unavailable = `${path}: ${(err as Error).message}`;
    }
    this.poll(true); // skip what was logged before we started
  }

  /** Reads every record available now; remembers the latest 100 OOM reports by victim pid. */
  poll(discard = false): void {
    if (this.fd === null) return;
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records were overwritten before we read them
        return; // EAGAIN: nothing more now
      }
      // /dev/kmsg gives one record a read and EAGAIN at the end; anything else (end of file) ends the poll too.
      if (n <= 0) return;
      if (discard) continue;
      const report = parseOomReport(this.buf.toString('utf8', 0, n));
      if (!report) continue;
      this.byPid.set(report.pid, report);
      if (this.byPid.size > 100) this.byPid.delete(this.byPid.keys().next().value!);
    }
  }

  /** The report for a victim; the kernel logs it before the victim is marked. */
  take(pid: number): OomReport | null {
    this.poll();
    const report = this.byPid.get(pid) ?? null;
    this.byPid.delete(pid);
    return report;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
