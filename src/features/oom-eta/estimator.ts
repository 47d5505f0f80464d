/**
 * Time to OOM, per memory cgroup with a limit: how long until the memory it
 * cannot reclaim reaches its limit, at the rate that memory grew over the
 * last few seconds. Pure: samples in, estimates out.
 *
 * The memory a cgroup cannot reclaim is its usage less its file pages (the
 * active and inactive file LRU lists): page cache, clean or once written
 * back, is what reclaim frees before the OOM killer runs, so a cgroup
 * filling its cache toward the limit is not heading for a kill. What is left
 * is anonymous memory (with no swap, nothing frees it), shared memory, and
 * the kernel's own charges. The rate is the least-squares slope of that
 * memory over the window (the readings of its last 2 s and the last one
 * before them, so that a late tick cannot leave it too few); the estimate is the headroom (limit less that
 * memory) over the rate, +Inf when it is not growing: growth under
 * MIN_GROWTH (64 KiB/s) is not extrapolated, as over a 2 s window it cannot
 * be told from the kernel's own churn of a few pages (at 64 KiB/s a 1 GiB
 * headroom lasts 4.5 hours; slow leaks are the forecast alert's).
 *
 * Where it is wrong: dirty file pages count as reclaimable though writeback
 * must finish first; with swap, anonymous memory can be reclaimed after all
 * (the estimate is then early); a process that grows in bursts shows a short
 * estimate during each burst; and a cgroup's growth that will stop (a
 * sawtooth, a cache that fills to a bound) is extrapolated as if it would not.
 */

/** Growth below this (bytes per second) counts as none. */
export const MIN_GROWTH = 64 * 1024;

/** One reading of a cgroup's memory files. */
export interface MemorySample {
  /** When it was read, in seconds on a monotonic clock. */
  readonly seconds: number;
  /** Usage less file pages: what reclaim cannot free. */
  readonly unreclaimableBytes: number;
  readonly limitBytes: number;
  /** Usage less inactive file pages (the kubelet's working set): shown beside the estimate, not used by it. */
  readonly workingSetBytes?: number;
}

export interface OomEta {
  /** Seconds until the unreclaimable memory reaches the limit; 0 at or past it; +Inf when not growing (under MIN_GROWTH). */
  readonly seconds: number;
  /** The unreclaimable memory's growth over the window, bytes per second (negative when it shrinks). */
  readonly growthBytesPerSecond: number;
  readonly unreclaimableBytes: number;
  readonly limitBytes: number;
  /** As of the last reading; null when it did not say. */
  readonly workingSetBytes: number | null;
}

export interface OomEtaOptions {
  /** The rate is taken over this many seconds of samples. Default 2. */
  readonly windowSeconds?: number;
  /** Samples a cgroup keeps at most (a bound whatever the sampling rate). Default 64. */
  readonly maxSamples?: number;
}

/** Least-squares slope of value over time, or 0 with fewer than two distinct times. */
export function slope(samples: readonly MemorySample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  let meanT = 0;
  let meanV = 0;
  for (const s of samples) {
    meanT += s.seconds / n;
    meanV += s.unreclaimableBytes / n;
  }
  let cov = 0;
  let varT = 0;
  for (const s of samples) {
    const dt = s.seconds - meanT;
    cov += dt * (s.unreclaimableBytes - meanV);
    varT += dt * dt;
  }
  return varT > 0 ? cov / varT : 0;
}

/** The estimate from a cgroup's samples (oldest first); null before the window holds half its span. */
export function estimate(samples: readonly MemorySample[], windowSeconds: number): OomEta | null {
  const last = samples.at(-1);
  const first = samples[0];
  if (!last || !first || last.seconds - first.seconds < windowSeconds / 2) return null;
  const growth = slope(samples);
  const headroom = last.limitBytes - last.unreclaimableBytes;
  const seconds = headroom <= 0 ? 0 : growth >= MIN_GROWTH ? headroom / growth : Infinity;
  return { seconds, growthBytesPerSecond: growth, unreclaimableBytes: last.unreclaimableBytes, limitBytes: last.limitBytes, workingSetBytes: last.workingSetBytes ?? null };
}

/** Each watched cgroup's recent samples, and its estimate from them. Memory: at most maxSamples per cgroup watched. */
export class OomEtaTable {
  private readonly windowSeconds: number;
  private readonly maxSamples: number;
  private readonly samples = new Map<string, MemorySample[]>();

  constructor(options: OomEtaOptions = {}) {
    this.windowSeconds = options.windowSeconds ?? 2;
    this.maxSamples = options.maxSamples ?? 64;
  }

  /** Adds a reading; samples older than the window (and past the bound) go. */
  add(cgroup: string, sample: MemorySample): void {
    let list = this.samples.get(cgroup);
    if (!list) this.samples.set(cgroup, (list = []));
    const last = list.at(-1);
    // A reading from before the last one (a clock that went back) starts the cgroup over; one at the same
    // time (a coarse clock, as under emulation, or two ticks run back to back) replaces it.
    if (last && sample.seconds < last.seconds) list.length = 0;
    if (last && sample.seconds === last.seconds) list[list.length - 1] = sample;
    else list.push(sample);
    // Readings from before the window go, all but the newest of them: the readings always reach back to the
    // window's start, so after a gap in the ticks (an event loop held by a slow scrape) the estimate is the growth
    // over the gap, not none until half a window of new readings has come. The two newest always stay.
    const start = sample.seconds - this.windowSeconds;
    let drop = 0;
    while (drop < list.length - 2 && (list[drop + 1]!.seconds <= start || list.length - drop > this.maxSamples)) drop++;
    if (drop > 0) list.splice(0, drop);
  }

  /** Forgets every cgroup not in `watched` (gone, unlimited, or no longer busy). */
  retain(watched: ReadonlySet<string>): void {
    for (const cgroup of this.samples.keys()) if (!watched.has(cgroup)) this.samples.delete(cgroup);
  }

  get size(): number {
    return this.samples.size;
  }

  /** One cgroup's estimate; null before it has half a window of readings. */
  estimateOf(cgroup: string): OomEta | null {
    const list = this.samples.get(cgroup);
    return list ? estimate(list, this.windowSeconds) : null;
  }

  /** Every watched cgroup's estimate (those with enough samples). */
  *estimates(): Generator<[string, OomEta]> {
    for (const [cgroup, list] of this.samples) {
      const eta = estimate(list, this.windowSeconds);
      if (eta) yield [cgroup, eta];
    }
  }
}
