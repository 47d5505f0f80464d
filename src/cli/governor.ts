/**
 * The overhead governor at run time: every tick it reads faultline's
 * programs' run time (BPF stats, held on for faultline's lifetime) and the
 * host's fault counter, lets DetailGovernor decide, pauses or resumes the
 * per-fault detail, and says so on stderr.
 */
import { readFileSync } from 'node:fs';
import { DetailGovernor, parseVmstatFaults, type GovernorSample } from '../features/faults/detail-governor.js';
import type { Probe } from '../bpf/probe.js';

/** Twice a second: over the budget for a second (two ticks) turns the detail off; five seconds (ten) under half of it bring it back. */
export const GOVERNOR_TICK_MS = 500;
const OVER_TICKS = 2;
const UNDER_TICKS = 10;

function sample(probe: Probe): GovernorSample {
  // Every per-fault program: one that also serves raw events counts too (conservative when tracing).
  const detail = new Set(probe.perFaultPrograms);
  let runNs = 0n;
  let detailRunNs = 0n;
  for (const { program, stats } of probe.runStats()) {
    runNs += stats.runTimeNs;
    if (detail.has(program)) detailRunNs += stats.runTimeNs;
  }
  let hostFaults = 0n;
  try {
    hostFaults = parseVmstatFaults(readFileSync('/proc/vmstat', 'utf8')) ?? 0n;
  } catch {
    // No /proc/vmstat: the prediction falls back to the programs still attached.
  }
  return { nowNs: process.hrtime.bigint(), runNs, detailRunNs, hostFaults };
}

const cpu = (share: number): string => `${share.toPrecision(2)} CPU`;

/** Starts the governor's tick; the returned governor is what the metrics read. */
export function startGovernor(probe: Probe, budget: number, log: (line: string) => void): { governor: DetailGovernor; stop(): void } {
  const governor = new DetailGovernor({ budget, overTicks: OVER_TICKS, underTicks: UNDER_TICKS });
  governor.step(sample(probe));
  const timer = setInterval(() => {
    const change = governor.step(sample(probe));
    if (!change) return;
    const rate = `${Math.round(change.faultsPerSecond).toLocaleString('en-US')} faults/s on the host`;
    if (change.state === 'over_budget') {
      probe.setDetailPaused(true);
      log(
        `fault detail off: faultline's BPF programs used ${cpu(change.cpu)} (${rate}), over --bpf.cpu-budget=${budget}; ` +
          'the counts stay exact, new faults count in region "other" until it is back',
      );
      return;
    }
    try {
      probe.setDetailPaused(false);
      log(`fault detail back on: ${cpu(change.cpu)} predicted at ${rate}, under --bpf.cpu-budget=${budget}`);
    } catch (err) {
      governor.state = 'over_budget';
      log(`fault detail stays off: re-attaching its programs failed: ${(err as Error).message}`);
    }
  }, GOVERNOR_TICK_MS);
  timer.unref();
  return { governor, stop: () => clearInterval(timer) };
}
