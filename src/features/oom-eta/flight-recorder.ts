/**
 * The OOM flight recorder: each watched cgroup's last 30 s at 1 s
 * resolution, so that an OOM kill's record can say what led to it. Pure:
 * readings in (cumulative counters as the kernel keeps them), one sample a
 * second out, with rates over that second. Memory: at most `seconds` samples
 * per watched cgroup, plus those of up to `maxRetired` cgroups that stopped
 * being watched in the last `seconds` (a victim's cgroup empties as it dies,
 * before its kill is logged).
 */

/** What the sampler read of a cgroup at one tick. */
export interface RecorderReading {
  /** Seconds on a monotonic clock. */
  readonly seconds: number;
  /** Wall-clock time of the reading, Unix seconds. */
  readonly unixSeconds: number;
  readonly usageBytes: number;
  /** Usage less inactive file pages (the kubelet's working set). */
  readonly workingSetBytes: number;
  readonly unreclaimableBytes: number;
  /** The cgroup's page faults and major faults so far (memory.stat pgfault/pgmajfault; v1 total_*). */
  readonly faults: number;
  readonly majorFaults: number;
  /** Time its tasks stalled in direct and memcg reclaim so far (faultline's stall programs), seconds; null when not counted. */
  readonly reclaimStallSeconds: number | null;
  /** Time some of its tasks stalled on memory so far (v2 memory.pressure `some` total), seconds; null on v1. */
  readonly pressureStallSeconds: number | null;
  /** The time-to-OOM estimate at this reading: seconds, +Inf when not heading there, null before it has a window. */
  readonly etaSeconds: number | null;
}

/** One second of a cgroup's history, as the event log writes it (snake case; rates over the second before). */
export interface HistorySample {
  readonly time: number;
  readonly usage_bytes: number;
  readonly working_set_bytes: number;
  readonly unreclaimable_bytes: number;
  readonly faults_per_second: number;
  readonly major_faults_per_second: number;
  /** Share of the second its tasks spent in reclaim stalls (summed over tasks: 2 = two tasks stalled the whole second); null when not counted. */
  readonly reclaim_stall_seconds_per_second: number | null;
  /** Share of the second some task stalled on memory (PSI); null without cgroup PSI (v1). */
  readonly pressure_some_seconds_per_second: number | null;
  /** null when the estimate is +Inf (not heading for a kill) or not yet made. */
  readonly oom_eta_seconds: number | null;
}

interface Ring {
  /** The reading the last sample's rates were taken against. */
  last: RecorderReading | null;
  samples: HistorySample[];
}

export interface FlightRecorderOptions {
  /** Seconds of history kept. Default 30. */
  readonly seconds?: number;
  /** Cgroups no longer watched whose history is kept (for up to `seconds`). Default 64. */
  readonly maxRetired?: number;
}

const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;
const rate = (now: number | null, before: number | null, dt: number): number | null => (now === null || before === null ? null : round(Math.max(0, now - before) / dt, 4));

export class FlightRecorder {
  private readonly seconds: number;
  private readonly maxRetired: number;
  private readonly rings = new Map<string, Ring>();
  /** Cgroups no longer watched, with when they stopped being watched. */
  private readonly retired = new Map<string, { ring: Ring; since: number }>();

  constructor(options: FlightRecorderOptions = {}) {
    this.seconds = options.seconds ?? 30;
    this.maxRetired = options.maxRetired ?? 64;
  }

  /** A reading; it becomes a sample when a second or more has passed since the cgroup's last one. */
  add(cgroup: string, reading: RecorderReading): void {
    let ring = this.rings.get(cgroup);
    if (!ring) {
      ring = this.retired.get(cgroup)?.ring ?? { last: null, samples: [] };
      this.retired.delete(cgroup);
      this.rings.set(cgroup, ring);
    }
    const last = ring.last;
    if (last && reading.seconds < last.seconds) ring.last = null; // a clock that went back: start the rates over
    if (!ring.last) {
      ring.last = reading;
      return;
    }
    const dt = reading.seconds - ring.last.seconds;
    if (dt < 1) return;
    ring.samples.push({
      time: round(reading.unixSeconds, 3),
      usage_bytes: reading.usageBytes,
      working_set_bytes: reading.workingSetBytes,
      unreclaimable_bytes: reading.unreclaimableBytes,
      faults_per_second: round(Math.max(0, reading.faults - ring.last.faults) / dt, 1),
      major_faults_per_second: round(Math.max(0, reading.majorFaults - ring.last.majorFaults) / dt, 1),
      reclaim_stall_seconds_per_second: rate(reading.reclaimStallSeconds, ring.last.reclaimStallSeconds, dt),
      pressure_some_seconds_per_second: rate(reading.pressureStallSeconds, ring.last.pressureStallSeconds, dt),
      oom_eta_seconds: reading.etaSeconds === null || !Number.isFinite(reading.etaSeconds) ? null : round(reading.etaSeconds, 2),
    });
    if (ring.samples.length > this.seconds) ring.samples.splice(0, ring.samples.length - this.seconds);
    ring.last = reading;
  }

  /** Cgroups not in `watched` retire: their history stays for `seconds` (at most maxRetired of them), then goes. */
  retain(watched: ReadonlySet<string>, now: number): void {
    for (const [cgroup, ring] of this.rings) {
      if (watched.has(cgroup)) continue;
      this.rings.delete(cgroup);
      this.retired.delete(cgroup);
      this.retired.set(cgroup, { ring, since: now });
    }
    for (const [cgroup, { since }] of this.retired) {
      if (now - since > this.seconds || this.retired.size > this.maxRetired) this.retired.delete(cgroup);
    }
  }

  /** A cgroup's history, oldest first: at most `seconds` samples, each a second apart or more. */
  history(cgroup: string): readonly HistorySample[] {
    return [...((this.rings.get(cgroup) ?? this.retired.get(cgroup)?.ring)?.samples ?? [])];
  }

  get watched(): number {
    return this.rings.size;
  }

  get retiredCount(): number {
    return this.retired.size;
  }
}
