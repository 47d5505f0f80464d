/** Stand-ins for what serve wires in, for tests without root: a kernel source and the exporter's own statistics. */
import { COLLECTORS, type CollectorName } from '../../src/core/feature.js';
import type { KernelSource, ProbeInfo } from '../../src/core/state.js';
import { emptyCounts } from '../../src/bpf/contract.js';
import type { ExporterSelf } from '../../src/expose/self-families.js';
import type { FaultReader } from '../../src/features/faults/reader.js';
import type { StallReader } from '../../src/features/stalls/reader.js';

/** A kernel source with nothing in it (no processes, faults, stalls or programs), unless overridden (by member, whichever reader it belongs to). */
export function fakeKernelSource(overrides: Partial<ProbeInfo & FaultReader & StallReader> = {}): KernelSource {
  const all: ProbeInfo & FaultReader & StallReader = {
    tracepointMode: 'tp_btf',
    fallbacks: [],
    capacity: 16,
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
  return { probe: all, faults: all, stalls: all };
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
