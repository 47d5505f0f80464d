/**
 * The overhead governor's decisions (--bpf.cpu-budget), pure: fed the
 * kernel's own run-time counters of faultline's programs (BPF stats) and the
 * host's fault counter (/proc/vmstat pgfault) once a tick, it says when the
 * per-fault detail goes off and when it comes back.
 *
 * Off: faultline's programs used more than the budget (a fraction of one
 * CPU) over `overTicks` ticks in a row. Back on: for `underTicks` ticks in a
 * row, what the programs still attached use plus what the detail would cost
 * at the host's present fault rate stays under `resumeShare` of the budget.
 * The detail's cost per host fault is measured while it runs (its programs'
 * run time over the host's faults in the same ticks); while it is off there
 * is nothing to measure, so the last measured cost stands in. The gap
 * between the two thresholds keeps a load near the budget from flapping.
 */

export interface GovernorSample {
  /** CLOCK_MONOTONIC, ns. */
  readonly nowNs: bigint;
  /** Run time of all of faultline's programs, cumulative, ns. */
  readonly runNs: bigint;
  /** Of that, the per-fault programs' (cumulative, ns). */
  readonly detailRunNs: bigint;
  /** The host's page faults, cumulative (/proc/vmstat pgfault). */
  readonly hostFaults: bigint;
}

export interface GovernorOptions {
  /** A fraction of one CPU (0.1: a tenth of a core). */
  readonly budget: number;
  /** Ticks over the budget in a row before the detail goes off. Default 2. */
  readonly overTicks?: number;
  /** Ticks under resumeShare × budget in a row before it comes back. Default 5. */
  readonly underTicks?: number;
  /** Default 0.5. */
  readonly resumeShare?: number;
}

export type DetailState = 'on' | 'over_budget';

export interface GovernorChange {
  readonly state: DetailState;
  /** The CPU share (of one CPU) behind the decision: measured when turning off, predicted when turning on. */
  readonly cpu: number;
  /** The host's fault rate over the last tick, per second. */
  readonly faultsPerSecond: number;
}

export class DetailGovernor {
  readonly budget: number;
  private readonly overTicks: number;
  private readonly underTicks: number;
  private readonly resumeShare: number;
  private last: GovernorSample | null = null;
  private streak = 0;
  /** Detail run time per host fault, ns, as last measured while the detail ran. */
  private detailNsPerFault: number | null = null;
  state: DetailState = 'on';
  /** Faultline's programs' CPU share over the last tick (fraction of one CPU). */
  usage = 0;
  /** While off: the predicted share with the detail back on. */
  predicted = 0;
  /** Time spent with the detail off, ns. */
  offNs = 0n;

  constructor(options: GovernorOptions) {
    if (!(options.budget > 0) || !Number.isFinite(options.budget)) throw new RangeError(`budget ${options.budget} must be a number > 0`);
    this.budget = options.budget;
    this.overTicks = options.overTicks ?? 2;
    this.underTicks = options.underTicks ?? 5;
    this.resumeShare = options.resumeShare ?? 0.5;
  }

  /** Takes one tick's counters; returns the change it decides, if any. */
  step(sample: GovernorSample): GovernorChange | null {
    const last = this.last;
    this.last = sample;
    if (!last) return null;
    const dt = Number(sample.nowNs - last.nowNs);
    // A counter that went back (a program reloaded, stats reset) or no time: skip the tick.
    if (!(dt > 0) || sample.runNs < last.runNs || sample.detailRunNs < last.detailRunNs || sample.hostFaults < last.hostFaults) return null;
    if (this.state !== 'on') this.offNs += sample.nowNs - last.nowNs;
    const ran = Number(sample.runNs - last.runNs);
    const detailRan = Number(sample.detailRunNs - last.detailRunNs);
    const faults = Number(sample.hostFaults - last.hostFaults);
    const faultsPerSecond = (faults * 1e9) / dt;
    this.usage = ran / dt;
    if (this.state === 'on') {
      if (faults > 0 && detailRan > 0) this.detailNsPerFault = detailRan / faults;
      this.streak = this.usage > this.budget ? this.streak + 1 : 0;
      if (this.streak < this.overTicks) return null;
      this.streak = 0;
      this.state = 'over_budget';
      return { state: this.state, cpu: this.usage, faultsPerSecond };
    }
    // Off: what stays attached, plus the detail at this fault rate and its last measured cost.
    this.predicted = this.usage + (faultsPerSecond * (this.detailNsPerFault ?? 0)) / 1e9;
    this.streak = this.predicted <= this.resumeShare * this.budget ? this.streak + 1 : 0;
    if (this.streak < this.underTicks) return null;
    this.streak = 0;
    this.state = 'on';
    return { state: this.state, cpu: this.predicted, faultsPerSecond };
  }
}

/** The cumulative pgfault of /proc/vmstat's text, or null when it has none. */
export function parseVmstatFaults(text: string): bigint | null {
  const m = /^pgfault (\d+)$/m.exec(text);
  return m ? BigInt(m[1]!) : null;
}
