/**
 * Raw page-fault events: each fault that passes the kernel's filters
 * (bpf/trace.bpf.c) through the fault_events ring, decoded (decode.ts) for
 * `faultline trace` and the event log. No metric families of its own (the
 * event log's and the rings' health are the exporter's).
 */
import type { Feature } from '../../core/feature.js';
import { Probe } from '../../bpf/probe.js';

export const trace: Feature<unknown> = {
  name: 'trace',
  collector: null,
  checks: [
    {
      label: 'ring buffer',
      required: true,
      run: (ctx) => {
        const probe = Probe.start({
          objectPath: ctx.objectPath,
          tracepoints: ctx.tracepoints,
          countFaults: false,
          trace: { pids: [process.pid] },
          faultRingBytes: ctx.faultRingBytes,
        });
        probe.readRing('fault_events', () => {});
        probe.readRing('oom_events', () => {});
        probe.drain();
        probe.close();
        return 'oom_events and fault_events ring buffers open and drain';
      },
    },
  ],
};
