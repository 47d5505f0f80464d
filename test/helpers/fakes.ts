/** Stand-ins for what serve wires in, for tests without root: a kernel source and the exporter's own statistics. */
import { COLLECTORS, type CollectorName, type KernelSource } from '../../src/aggregate/state.js';
import { emptyCounts } from '../../src/bpf/contract.js';
import type { ExporterSelf } from '../../src/expose/families/self.js';

/** A kernel source with nothing in it (no processes, faults, stalls or programs), unless overridden. */
export function fakeKernelSource(overrides: Partial<KernelSource> = {}): KernelSource {
  return {
    tracepointMode: 'tp_btf',
    fallbacks: [],
    processCapacity: 16,
    accessTypes: false,
    programs: [],
    ringCallbackErrors: 0,
    readProcesses: () => [],
    forgetProcesses: () => {},
    readUnattributed: () => emptyCounts(),
    readAccess: () => [],
    readLostRecords: () => ({ fault_events: 0n, oom_events: 0n }),
    readStalls: () => [],
    forgetStalls: () => {},
    runStats: () => [],
    ...overrides,
  };
}

/** The exporter's own statistics: every collector on, no governor, event log or OTLP, unless overridden. */
export function exporterSelf(overrides: Partial<ExporterSelf> = {}): ExporterSelf {
  return {
    collectors: Object.fromEntries(COLLECTORS.map((c) => [c, true])) as Record<CollectorName, boolean>,
    bpfStatsHeld: false,
    bpfStatsOnHostWide: () => false,
    libbpfVersion: '1.1.0',
    governor: null,
    eventLog: null,
    eventLogSampleEvery: 0,
    otlp: null,
    ...overrides,
  };
}
