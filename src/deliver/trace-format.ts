/**
 * The live trace's lines, in the original lab tool's formats:
 *   [PAGE_FAULT] pid=5200 address=0x7f3a4c000000 comm=pagefault_demo
 *   [OOM_KILL] pid=6100 comm=stress-ng
 * or one JSON object per line with --format json.
 */
import type { KernelEvent } from '../bpf/contract.js';

export const TRACE_FORMATS = ['text', 'json'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

const hex = (n: bigint): string => `0x${n.toString(16)}`;

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

/** timestamp_ns is written digit for digit from the kernel's 64-bit value. */
export function formatJson(event: KernelEvent): string {
  const address = event.kind === 'page_fault' ? hex(event.address) : '0x0';
  return (
    `{"pid":${event.pid},"event_type":${JSON.stringify(event.kind)},"address":"${address}",` +
    `"timestamp_ns":${event.timestampNs.toString()},"comm":${JSON.stringify(event.comm)}}`
  );
}

export function formatEvent(event: KernelEvent, format: TraceFormat): string {
  return format === 'json' ? formatJson(event) : formatText(event);
}
