/** Raw page-fault records (struct fault_event) from the fault_events ring, decoded. */
import type { RecordHandler } from '../../bpf/libbpf.js';
import { EVENT_PAGE_FAULT, FAULT_EVENT, FAULT_EVENT_FLAG, FAULT_EVENT_SIZE, REGIONS, decodeComm, type FaultRegion } from '../../bpf/contract.js';

export interface PageFaultEvent {
  readonly kind: 'page_fault';
  readonly pid: number;
  readonly tid: number;
  readonly cpu: number;
  readonly timestampNs: bigint;
  readonly address: bigint;
  readonly ip: bigint;
  readonly errorCode: bigint;
  readonly comm: string;
  /** Decided at fault entry (a stack-growing fault is still below the stack VMA then). */
  readonly region: FaultRegion;
  /** The faulting thread's cgroup v2 id and memory cgroup id. */
  readonly cgroupId: bigint;
  readonly memcgId: bigint;
  /** It passed the trace filters (trace's --pid, the event log's --event-log.* filters). */
  readonly traced: boolean;
  /** Its process is watched live (the web page's process view). */
  readonly live: boolean;
}

/** Whether the `length` bytes at `offset` of `buf` (a ring record) are a fault_event. */
export function isFaultEvent(buf: Buffer, offset: number, length: number): boolean {
  return length >= FAULT_EVENT_SIZE && buf.length - offset >= FAULT_EVENT_SIZE && buf.readUInt32LE(offset + FAULT_EVENT.kind) === EVENT_PAGE_FAULT;
}

/** A fault_event at `offset` of `buf` (a ring record: `length` bytes), or null when it is not one. */
export function decodeFaultEvent(buf: Buffer, offset = 0, length = buf.length - offset): PageFaultEvent | null {
  if (!isFaultEvent(buf, offset, length)) return null;
  const f = FAULT_EVENT;
  const flags = buf.readUInt32LE(offset + f.flags);
  return {
    kind: 'page_fault',
    pid: buf.readUInt32LE(offset + f.pid),
    tid: buf.readUInt32LE(offset + f.tid),
    cpu: buf.readUInt32LE(offset + f.cpu),
    timestampNs: buf.readBigUInt64LE(offset + f.timestampNs),
    address: buf.readBigUInt64LE(offset + f.address),
    ip: buf.readBigUInt64LE(offset + f.ip),
    errorCode: buf.readBigUInt64LE(offset + f.errorCode),
    comm: decodeComm(buf, offset + f.comm),
    region: REGIONS[buf.readUInt32LE(offset + f.region)] ?? 'other',
    cgroupId: buf.readBigUInt64LE(offset + f.cgroupId),
    memcgId: buf.readBigUInt64LE(offset + f.memcgId),
    traced: (flags & FAULT_EVENT_FLAG.traced) !== 0,
    live: (flags & FAULT_EVENT_FLAG.live) !== 0,
  };
}

/**
 * A ring reader for serve, by why each record was sent: `traced` gets the decoded event (the event log), `live`
 * the record where it lies (the web page's process view reads a few fields of many records, so it skips the
 * full decode).
 */
export function faultRecordsBy(handlers: { traced?: (event: PageFaultEvent) => void; live?: (ring: Buffer, offset: number) => void }): RecordHandler {
  return (ring, offset, length) => {
    if (!isFaultEvent(ring, offset, length)) return;
    const flags = ring.readUInt32LE(offset + FAULT_EVENT.flags);
    if (flags & FAULT_EVENT_FLAG.traced && handlers.traced) {
      const event = decodeFaultEvent(ring, offset, length);
      if (event) handlers.traced(event);
    }
    if (flags & FAULT_EVENT_FLAG.live) handlers.live?.(ring, offset);
  };
}

/** A ring reader that decodes each record and passes page faults on (skipping what is not one). */
export function faultRecords(onPageFault: (event: PageFaultEvent) => void): RecordHandler {
  return (ring, offset, length) => {
    const event = decodeFaultEvent(ring, offset, length);
    if (event) onPageFault(event);
  };
}
