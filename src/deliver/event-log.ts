/**
 * The NDJSON event log: one line per event, to a file (rotated by size) or
 * stdout. Writing never throws and never blocks the event loop: lines queue
 * in memory and go out one asynchronous write at a time. A backlog past its
 * bound, or a write error (disk full, permission, closed pipe), drops lines
 * and counts them; the error is reported once, with its cause.
 */
import { closeSync, existsSync, openSync, renameSync, rmSync, write } from 'node:fs';

export interface EventLogOptions {
  /** A file, or `-` for stdout. */
  path: string;
  /** Rotate when the file would pass this many bytes; 0: never. Default 100 MiB. */
  maxSizeBytes?: number;
  /** Keep this many files in all (path, path.1, …). Default 5. */
  maxFiles?: number;
  /** Lines waiting to be written may take at most this many bytes; more are dropped. Default 64 MiB. */
  maxBacklogBytes?: number;
  /** Told once when writing fails, with the cause. */
  onError?: (message: string) => void;
}

export interface EventLogStats {
  records: number;
  droppedBacklog: number;
  droppedWriteError: number;
  writeErrors: number;
  lastError: string | null;
}

export class EventLog {
  readonly path: string;
  /** records: lines written; dropped*: lines lost, by cause. */
  readonly stats: EventLogStats = { records: 0, droppedBacklog: 0, droppedWriteError: 0, writeErrors: 0, lastError: null };
  private readonly maxSize: number;
  private readonly maxFiles: number;
  private readonly maxBacklog: number;
  private readonly onError: (message: string) => void;
  private fd: number | null = null;
  private size = 0;
  private queue: string[] = [];
  private queuedBytes = 0;
  private inFlightLines = 0;
  private writing = false;
  private broken = false;
  private drained: (() => void)[] = [];

  constructor(options: EventLogOptions) {
    this.path = options.path;
    this.maxSize = options.maxSizeBytes ?? 100 * 2 ** 20;
    this.maxFiles = Math.max(1, options.maxFiles ?? 5);
    this.maxBacklog = options.maxBacklogBytes ?? 64 * 2 ** 20;
    this.onError = options.onError ?? (() => {});
    if (this.path === '-') {
      process.stdout.on('error', (err) => this.fail(err));
    } else {
      this.fd = openSync(this.path, 'a'); // a bad path fails here, at startup, with its cause
    }
  }

  write(line: string): void {
    if (this.broken) {
      this.stats.droppedWriteError++;
      return;
    }
    if (this.queuedBytes + this.pendingStdout() > this.maxBacklog) {
      this.stats.droppedBacklog++;
      return;
    }
    this.queue.push(`${line}\n`);
    this.queuedBytes += line.length + 1;
  }

  /** Starts writing what is queued; call after a batch of write()s. */
  flush(): void {
    if (this.writing || this.queue.length === 0 || this.broken) return this.settle();
    const chunk = Buffer.from(this.queue.join(''));
    this.inFlightLines = this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    if (this.path === '-') {
      process.stdout.write(chunk);
      this.stats.records += this.inFlightLines;
      return this.settle();
    }
    if (this.maxSize > 0 && this.size > 0 && this.size + chunk.length > this.maxSize) this.rotate();
    this.writing = true;
    this.writeAll(chunk, 0);
  }

  private writeAll(chunk: Buffer, offset: number): void {
    write(this.fd!, chunk, offset, chunk.length - offset, null, (err, n) => {
      if (err) {
        this.writing = false;
        this.stats.droppedWriteError += this.inFlightLines;
        this.fail(err);
        return this.settle();
      }
      this.size += n;
      if (offset + n < chunk.length) return this.writeAll(chunk, offset + n);
      this.writing = false;
      this.stats.records += this.inFlightLines;
      this.flush();
    });
  }

  private rotate(): void {
    try {
      closeSync(this.fd!);
      for (let i = this.maxFiles - 1; i >= 1; i--) {
        const from = i === 1 ? this.path : `${this.path}.${i - 1}`;
        if (i === this.maxFiles - 1 && existsSync(`${this.path}.${i}`)) rmSync(`${this.path}.${i}`);
        if (existsSync(from)) renameSync(from, `${this.path}.${i}`);
      }
      if (this.maxFiles === 1) rmSync(this.path, { force: true });
      this.fd = openSync(this.path, 'a');
      this.size = 0;
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private pendingStdout(): number {
    return this.path === '-' ? process.stdout.writableLength : 0;
  }

  private fail(err: Error): void {
    this.stats.writeErrors++;
    this.stats.droppedWriteError += this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    if (this.broken) return;
    this.broken = true;
    this.stats.lastError = err.message;
    this.onError(
      `event log ${this.path === '-' ? 'stdout' : this.path}: write failed (${err.message}); ` +
        'further records are dropped and counted in faultline_event_log_dropped_records_total',
    );
  }

  private settle(): void {
    if (this.writing || (this.queue.length > 0 && !this.broken)) return;
    for (const resolve of this.drained.splice(0)) resolve();
  }

  /** Writes everything queued, then closes the file. */
  async close(timeoutMs = 5000): Promise<void> {
    this.flush();
    await Promise.race([
      new Promise<void>((resolve) => {
        this.drained.push(resolve);
        this.settle();
      }),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
    if (this.path === '-' && process.stdout.writableLength > 0) {
      await new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()));
    }
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
