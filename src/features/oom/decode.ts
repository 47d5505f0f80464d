/** OOM kill records (struct oom_event) from the oom_events ring, decoded. */
import type { RecordHandler } from '../../bpf/libbpf.js';
import { EVENT_OOM_KILL, OOM_EVENT, OOM_EVENT_SIZE, decodeComm } from '../../bpf/contract.js';

export interface OomKillEvent {
  readonly kind: 'oom_kill';
  readonly pid: number;
  readonly tid: number;
  readonly uid: number;
  readonly triggerPid: number;
  readonly triggerComm: string;
  readonly oomScoreAdj: number;
  readonly timestampNs: bigint;
  readonly totalVmBytes: bigint;
  readonly anonRssBytes: bigint;
  readonly fileRssBytes: bigint;
  readonly shmemRssBytes: bigint;
  readonly pgtablesBytes: bigint;
  readonly comm: string;
  /** The victim's cgroup v2 id and memory cgroup id; 0n where the kernel does not say. */
  readonly cgroupId: bigint;
  readonly memcgId: bigint;
}

export function decodeOomEvent(buf: Buffer, offset = 0, length = buf.length - offset): OomKillEvent | null {
  const o = OOM_EVENT;
  if (length < OOM_EVENT_SIZE || buf.length - offset < OOM_EVENT_SIZE || buf.readUInt32LE(offset + o.kind) !== EVENT_OOM_KILL) return null;
  if (offset !== 0) buf = buf.subarray(offset, offset + OOM_EVENT_SIZE);
  return {
    kind: 'oom_kill',
    pid: buf.readUInt32LE(o.pid),
    tid: buf.readUInt32LE(o.tid),
    uid: buf.readUInt32LE(o.uid),
    triggerPid: buf.readUInt32LE(o.triggerPid),
    oomScoreAdj: buf.readInt32LE(o.oomScoreAdj),
    timestampNs: buf.readBigUInt64LE(o.timestampNs),
    totalVmBytes: buf.readBigUInt64LE(o.totalVmBytes),
    anonRssBytes: buf.readBigUInt64LE(o.anonRssBytes),
    fileRssBytes: buf.readBigUInt64LE(o.fileRssBytes),
    shmemRssBytes: buf.readBigUInt64LE(o.shmemRssBytes),
    pgtablesBytes: buf.readBigUInt64LE(o.pgtablesBytes),
    comm: decodeComm(buf, o.comm),
    triggerComm: decodeComm(buf, o.triggerComm),
    cgroupId: buf.readBigUInt64LE(o.cgroupId),
    memcgId: buf.readBigUInt64LE(o.memcgId),
  };
}

/** A ring reader that decodes each record and passes OOM kills on (skipping what is not one). */
export function oomRecords(onOomKill: (event: OomKillEvent) => void): RecordHandler {
  return (ring, offset, length) => {
    const event = decodeOomEvent(ring, offset, length);
    if (event) onOomKill(event);
  };
}
