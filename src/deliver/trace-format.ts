/**
 * The live trace's lines, in the original lab tool's formats:
 *   [PAGE_FAULT] pid=5200 address=0x7f3a4c000000 comm=pagefault_demo
 *   [OOM_KILL] pid=6100 comm=stress-ng
 * or one JSON object per line with --format json.
 */
import type { KernelEvent, OomKillEvent, PageFaultEvent } from '../bpf/contract.js';

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
export function formatJson(event: KernelEvent, extra?: Readonly<Record<string, string | number | bigint | boolean>>): string {
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
  return `${out}}`;
}

/** error_code of a fault seen by the perf-event hook, which has none (ERROR_CODE_UNKNOWN in the kernel programs). */
export const ERROR_CODE_UNKNOWN = 0xffffffffffffffffn;

/** The event log's extra fields of a page fault; `cgroup` is its path as /metrics names it. */
export function pageFaultExtras(event: PageFaultEvent, cgroup = ''): Record<string, string | number | boolean> {
  // The perf-event fault hook has no error code: access and present are unknown there.
  if (event.errorCode === ERROR_CODE_UNKNOWN) {
    return { tid: event.tid, cpu: event.cpu, ip: hex(event.ip), region: event.region, access: 'unknown', cgroup };
  }
  const code = Number(event.errorCode);
  const access = code & 0x10 ? 'exec' : code & 0x2 ? 'write' : 'read';
  return {
    tid: event.tid,
    cpu: event.cpu,
    ip: hex(event.ip),
    region: event.region,
    access,
    present: (code & 0x1) !== 0,
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
