/*
 * A part of the refresh that fails (a map read refused) keeps its previous
 * values, the rest goes on, and /healthz and faultline_collector_success say
 * what failed until it works again.
 */
import t from 'tap';
import { FaultlineState, type KernelSource } from '../src/core/state.js';
import { CgroupNames, parseCgroupMounts } from '../src/readers/cgroups.js';
import { renderFamilies } from '../src/expose/exposition.js';
import { createFamilies } from '../src/expose/metrics.js';
import { exporterSelf, fakeKernelSource } from './helpers/fakes.js';

function source(fail: { processes?: string; stalls?: string }): KernelSource {
  return fakeKernelSource({
    readProcesses: () => {
      if (fail.processes) throw new Error(fail.processes);
      return [];
    },
    readStalls: () => {
      if (fail.stalls) throw new Error(fail.stalls);
      return [];
    },
  });
}

t.test('a failed map read: the rest goes on, health says what failed, until it works again', async (t) => {
  const fail: { processes?: string; stalls?: string } = { stalls: 'bpf(BPF_MAP_LOOKUP_BATCH): EPERM' };
  const state = new FaultlineState(source(fail), {}, () => 0n, () => true, new CgroupNames(parseCgroupMounts('')));
  t.doesNotThrow(() => state.refresh(), 'refresh does not throw');
  t.equal(state.health(), 'stalls: bpf(BPF_MAP_LOOKUP_BATCH): EPERM');
  const text = renderFamilies(createFamilies(state, exporterSelf()), false);
  t.match(text, /faultline_collector_success\{collector="counts"\} 1/);
  t.match(text, /faultline_collector_success\{collector="stalls"\} 0/);
  fail.stalls = undefined;
  fail.processes = 'iterator: ENOMEM';
  state.refresh();
  t.equal(state.health(), 'counts: iterator: ENOMEM', 'stalls recovered; counts failed');
  fail.processes = undefined;
  state.refresh();
  t.equal(state.health(), null, 'healthy again');
  state.attempt('oom', () => {
    throw new Error('decode');
  });
  t.equal(state.health(), 'oom: decode');
});

t.test('memory files are read once per refresh, on first use, and not at refreshes nothing renders', async (t) => {
  let cgroupReads = 0;
  let pressureReads = 0;
  const state = new FaultlineState(
    fakeKernelSource(),
    {
      readCgroupMemory: () => {
        cgroupReads++;
        return [];
      },
      readHostPressure: () => {
        pressureReads++;
        return null;
      },
    },
    () => 0n,
    () => true,
    new CgroupNames(parseCgroupMounts('')),
  );
  state.refresh();
  state.refresh();
  t.strictSame([cgroupReads, pressureReads], [0, 0], 'housekeeping refreshes read no files');
  state.cgroupMemory();
  state.cgroupMemory();
  state.hostPressure();
  t.strictSame([cgroupReads, pressureReads], [1, 1], 'one read each for a scrape');
  state.refresh();
  state.cgroupMemory();
  t.strictSame([cgroupReads, pressureReads], [2, 1], 'a new refresh, a new read');
  const without = new FaultlineState(fakeKernelSource(), {}, () => 0n, () => true, new CgroupNames(parseCgroupMounts('')));
  t.strictSame([without.cgroupMemory(), without.hostPressure()], [[], null], 'no reader: nothing');
});
