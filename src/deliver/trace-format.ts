/**
 * The live trace's lines, in the original lab tool's formats:
 *   [PAGE_FAULT] pid=5200 address=0x7f3a4c000000 comm=pagefault_demo
 *   [OOM_KILL] pid=6100 comm=stress-ng
 * or one JSON object per line with --format json.
 */
import { ERROR_CODE_UNKNOWN, FAULT_EVENT, decodeComm } from '../bpf/contract.js';
import { accessOfErrorCode } from '../features/faults/decode.js';
import { isFaultEvent, type PageFaultEvent } from '../features/trace/decode.js';
import type { OomKillEvent } from '../features/oom/decode.js';

/** What the rings send: a page fault or an OOM kill. */
export type KernelEvent = PageFaultEvent | OomKillEvent;

export const TRACE_FORMATS = ['text', 'json'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

const hex = (n: bigint): string => `0x${n.toString(16)}`;

/** JSON string literals of the few strings a stream repeats (comms, regions, cgroup paths): cached, at most 1,024. */
const quoted = new Map<string, string>();
function quote(text: string): string {
  let q = quoted.get(text);
  if (q === undefined) {
    if (quoted.size >= 1024) quoted.clear();
    q = JSON.stringify(text);
    quoted.set(text, q);
  }
  return q;
}

export function formatText(event: KernelEvent): string {
  switch (event.kind) {
    case 'page_fault':
      return `[PAGE_FAULT] pid=${event.pid} address=${hex(event.address)} comm=${event.comm}`;
    case 'oom_kill':
      return `[OOM_KILL] pid=${event.pid} comm=${event.comm}`;
    default: {
      const never: never = event;
      throw new Error(`unknown event ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The lab's JSON object, then any `extra` fields (the event log's). 64-bit
 * values (timestamp_ns, bigint extras) are written digit for digit.
 */
/**
 * A JSON line of an event: its fields, then `extra`'s (scalars), then
 * `objects`' (each written as JSON: an OOM kill's history).
 */
export function formatJson(
  event: KernelEvent,
  extra?: Readonly<Record<string, string | number | bigint | boolean>>,
  objects?: Readonly<Record<string, unknown>>,
): string {
  const address = event.kind === 'page_fault' ? hex(event.address) : '0x0';
  let out =
    `{"pid":${event.pid},"event_type":"${event.kind}","address":"${address}",` +
    `"timestamp_ns":${event.timestampNs.toString()},"comm":${quote(event.comm)}`;
  if (extra) {
    for (const key in extra) {
      const value = extra[key]!;
      out += `,"${key}":${typeof value === 'string' ? quote(value) : String(value)}`;
    }
  }
  if (objects) for (const key in objects) out += `,"${key}":${JSON.stringify(objects[key])}`;
  return `${out}}`;
}


/** The event log's extra fields of a page fault; `cgroup` is its path as /metrics names it. */
export function pageFaultExtras(event: PageFaultEvent, cgroup = ''): Record<string, string | number | boolean> {
  // The perf-event fault hook has no error code: access and present are unknown there.
  if (event.errorCode === ERROR_CODE_UNKNOWN) {
    return { tid: event.tid, cpu: event.cpu, ip: hex(event.ip), region: event.region, access: 'unknown', cgroup };
  }
  const { access, present } = accessOfErrorCode(Number(event.errorCode));
  return {
    tid: event.tid,
    cpu: event.cpu,
    ip: hex(event.ip),
    region: event.region,
    access,
    present,
    error_code: hex(event.errorCode),
    cgroup,
  };
}

/** The event log's extra fields of an OOM kill: the victim, the trigger, and the labels it was counted under. */
export function oomKillExtras(event: OomKillEvent, context: Readonly<Record<string, string>>): Record<string, string | number | bigint> {
  return {
    tid: event.tid,
    uid: event.uid,
    oom_score_adj: event.oomScoreAdj,
    trigger_pid: event.triggerPid,
    trigger_comm: event.triggerComm,
    total_vm_bytes: event.totalVmBytes,
    anon_rss_bytes: event.anonRssBytes,
    file_rss_bytes: event.fileRssBytes,
    shmem_rss_bytes: event.shmemRssBytes,
    pgtables_bytes: event.pgtablesBytes,
    ...context,
  };
}

export function formatEvent(event: KernelEvent, format: TraceFormat): string {
  return format === 'json' ? formatJson(event) : formatText(event);
}

/** A text line's longest: the fixed parts, 10 pid digits, 16 address digits, and a comm of 16 bytes that may each decode to U+FFFD (3 bytes). */
const MAX_FAULT_LINE = '[PAGE_FAULT] pid= address=0x comm=\n'.length + 10 + 16 + 16 * 3;
const FAULT_PREFIX = Buffer.from('[PAGE_FAULT] pid=');
const ADDRESS_PREFIX = Buffer.from(' address=0x');
const HEX_DIGITS = Buffer.from('0123456789abcdef');

/**
 * Lines for stdout, in order, as bytes. A page fault's text line is written
 * straight from its ring record, the same bytes formatText() gives, with no
 * object, string or bigint made per fault: trace prints a storm's ~300,000
 * lines a second, and what it allocates per line is what its garbage
 * collector's helper threads spend, on the CPUs the traced process runs on.
 */
export class LineBuffer {
  private chunk: Buffer;
  private used = 0;
  private readonly done: Buffer[] = [];
  private comm: string | null = null;
  private commTail = Buffer.alloc(0);

  constructor(private readonly chunkBytes = 256 << 10) {
    this.chunk = Buffer.allocUnsafe(chunkBytes);
  }

  /** Bytes waiting for take(). */
  get length(): number {
    return this.done.reduce((n, b) => n + b.length, this.used);
  }

  /** A page fault's text line from a fault_event record in `ring`; false when the record is not one. */
  appendFaultText(ring: Buffer, offset: number, length: number): boolean {
    if (!isFaultEvent(ring, offset, length)) return false;
    this.reserve(MAX_FAULT_LINE);
    const out = this.chunk;
    let at = writeBytes(out, this.used, FAULT_PREFIX);
    at = writeDecimal(out, at, ring.readUInt32LE(offset + FAULT_EVENT.pid));
    at = writeBytes(out, at, ADDRESS_PREFIX);
    at = writeHex64(out, at, ring.readUInt32LE(offset + FAULT_EVENT.address + 4), ring.readUInt32LE(offset + FAULT_EVENT.address));
    this.used = writeBytes(out, at, this.commSuffix(ring, offset + FAULT_EVENT.comm));
    return true;
  }

  /** A line made elsewhere (an OOM kill, JSON); the newline is added. */
  appendLine(line: string): void {
    const bytes = Buffer.byteLength(line) + 1;
    this.reserve(bytes);
    this.used += this.chunk.write(line, this.used);
    this.chunk[this.used++] = 0x0a;
  }

  /** The bytes appended since the last take(), in order; the buffer starts empty again. */
  take(): Buffer[] {
    if (this.used > 0) this.seal(this.chunkBytes);
    return this.done.splice(0);
  }

  private reserve(bytes: number): void {
    if (this.chunk.length - this.used < bytes) this.seal(Math.max(this.chunkBytes, bytes));
  }

  /** Hands the filled part of the chunk on (its bytes are the caller's from now on) and starts a fresh one. */
  private seal(nextBytes: number): void {
    if (this.used > 0) this.done.push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(nextBytes);
    this.used = 0;
  }

  /**
   * " comm=<comm>\n" as bytes, remade only when the comm changes (a traced
   * process rarely renames itself); decodeComm returns its cached string
   * while the 16 bytes stay the same.
   */
  private commSuffix(ring: Buffer, at: number): Buffer {
    const comm = decodeComm(ring, at);
    if (comm !== this.comm) {
      this.comm = comm;
      this.commTail = Buffer.from(` comm=${comm}\n`);
    }
    return this.commTail;
  }
}

/** `bytes` at `at`; returns the end. A loop: Buffer.copy's native call costs more than a line's few bytes. */
function writeBytes(out: Buffer, at: number, bytes: Buffer): number {
  for (let i = 0; i < bytes.length; i++) out[at + i] = bytes[i]!;
  return at + bytes.length;
}

/** `n` (a u32) in decimal at `at`; returns the end. */
function writeDecimal(out: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
  for (let i = at + digits - 1; i >= at; i--) {
    out[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return at + digits;
}

/** The u64 hi:lo in lowercase hex without leading zeros (as BigInt's toString(16)) at `at`; returns the end. */
function writeHex64(out: Buffer, at: number, hi: number, lo: number): number {
  if (hi !== 0) {
    at = writeHex32(out, at, hi, false);
    return writeHex32(out, at, lo, true);
  }
  return writeHex32(out, at, lo, false);
}

function writeHex32(out: Buffer, at: number, n: number, pad: boolean): number {
  let digits = 8;
  if (!pad) while (digits > 1 && (n >>> ((digits - 1) * 4)) === 0) digits--;
  for (let i = digits - 1; i >= 0; i--) out[at++] = HEX_DIGITS[(n >>> (i * 4)) & 15]!;
  return at;
}
