/**
 * The NDJSON event log: one line per event, to a file (rotated by size) or
 * stdout. Writing never throws and never blocks the event loop: lines queue
 * in memory and go out one asynchronous write at a time. A backlog past its
 * bound, or a write error (disk full, permission, closed pipe), drops lines
 * and counts them; the error is reported once, with its cause.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, renameSync, rmSync, write } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Created for its owner only (the log holds fault addresses and instruction pointers: a process's memory layout), never through a symlink. */
const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
const FILE_MODE = 0o600;

export interface EventLogOptions {
  /** A file, or `-` for stdout. */
  path: string;
  /** Rotate when the file would pass this many bytes; 0: never. Default 100 MiB. */
  maxSizeBytes?: number;
  /** Keep this many files in all (path, path.1, …). Default 5. */
  maxFiles?: number;
  /** Lines waiting to be written may take at most this many bytes; more are dropped. Default 8 MiB. */
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
    this.maxBacklog = options.maxBacklogBytes ?? 8 * 2 ** 20;
    this.onError = options.onError ?? (() => {});
    if (this.path === '-') {
      process.stdout.on('error', (err: Error) => this.fail(err));
    } else {
      this.fd = openSync(this.path, OPEN_FLAGS, FILE_MODE); // a bad path (or a symlink) fails here, at startup, with its cause
      this.size = fstatSync(this.fd).size; // appending: what is there counts toward the limit
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
    this.writing = true;
    this.writeAll(chunk, 0);
  }

  /** How much of chunk (from offset) fits in the current file: whole lines, or all of it when rotation is off. */
  private fitting(chunk: Buffer, offset: number): number {
    const rest = chunk.length - offset;
    if (this.maxSize === 0 || this.size + rest <= this.maxSize) return rest;
    const room = this.maxSize - this.size;
    // The last newline within the room ends what fits; a line longer than a whole file goes alone into a fresh file.
    const end = room > 0 ? chunk.lastIndexOf(10, offset + room - 1) : -1;
    if (end >= offset) return end + 1 - offset;
    if (this.size > 0) return 0;
    const first = chunk.indexOf(10, offset);
    return first < 0 ? rest : first + 1 - offset;
  }

  private writeAll(chunk: Buffer, offset: number): void {
    let length = this.fitting(chunk, offset);
    if (length === 0) {
      this.rotate();
      if (this.broken) {
        this.writing = false;
        this.stats.droppedWriteError += this.inFlightLines;
        return this.settle();
      }
      length = this.fitting(chunk, offset);
    }
    write(this.fd!, chunk, offset, length, null, (err, n) => {
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

  /** PATH → PATH.1 → … → PATH.(maxFiles-1), the oldest removed; the directory is listed once, not probed index by index. */
  private rotate(): void {
    try {
      closeSync(this.fd!);
      const base = basename(this.path);
      const dir = dirname(this.path);
      const rotated = new Set<number>();
      for (const name of readdirSync(dir)) {
        const m = name.startsWith(`${base}.`) ? /^\d{1,4}$/.exec(name.slice(base.length + 1)) : null;
        if (m) rotated.add(Number(m[0]));
      }
      for (const i of [...rotated].filter((i) => i >= this.maxFiles - 1)) rmSync(join(dir, `${base}.${i}`), { force: true });
      for (const i of [...rotated].filter((i) => i >= 1 && i < this.maxFiles - 1).sort((a, b) => b - a)) {
        renameSync(join(dir, `${base}.${i}`), join(dir, `${base}.${i + 1}`));
      }
      if (this.maxFiles > 1) renameSync(this.path, `${this.path}.1`);
      else rmSync(this.path, { force: true });
      this.fd = openSync(this.path, OPEN_FLAGS, FILE_MODE);
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
