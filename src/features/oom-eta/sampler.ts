/**
 * Reads each busy cgroup's usage, limit and file pages into the time-to-OOM
 * table; serve ticks it 4 times a second (SAMPLE_INTERVAL_MS), on its own
 * timer: an estimate must not wait for a scrape. The files of up to
 * MAX_OPEN cgroups stay open between ticks (a reading then costs ~22 µs, not
 * ~130 µs); cgroups without a limit are not kept.
 */
import type { CgroupNames } from '../../readers/cgroups.js';
import { LimitedMemoryFiles, type LimitedMemory } from '../../readers/memory-headroom.js';
import type { OomEtaTable } from './estimator.js';
import type { FlightRecorder } from './flight-recorder.js';

/** How often serve reads the memory files. */
export const SAMPLE_INTERVAL_MS = 250;
/** Cgroups whose three files stay open between ticks; the rest are opened at each tick. */
export const MAX_OPEN = 256;

/** What the sampler reads a cgroup through (LimitedMemoryFiles; tests give their own). */
export interface MemoryFiles {
  /** null: no limit. Throws when the cgroup is gone. */
  read(): LimitedMemory | null;
  close(): void;
}

export interface EtaSamplerOptions {
  readonly names: CgroupNames;
  /** The cgroups to read (paths in the naming hierarchy): those with live processes at the state's last refresh. */
  readonly watched: () => Iterable<string>;
  readonly table: OomEtaTable;
  /** Seconds on a monotonic clock. */
  readonly clock?: () => number;
  /** Where each reading also goes, one sample a second per cgroup (the OOM flight recorder). */
  readonly recorder?: FlightRecorder;
  /** Each cgroup's time in direct and memcg reclaim so far, seconds, by label: read once a second for the recorder. */
  readonly reclaimStalls?: () => ReadonlyMap<string, number>;
  /** Wall-clock Unix seconds, for the recorder's samples. */
  readonly unixClock?: () => number;
  /** Opens a cgroup's files; throws when it cannot. */
  readonly open?: (root: string, cgroupPath: string, v1: boolean) => MemoryFiles;
}

export class EtaSampler {
  private readonly options: EtaSamplerOptions;
  private readonly open: (root: string, cgroupPath: string, v1: boolean) => MemoryFiles;
  private readonly files = new Map<string, MemoryFiles>();
  private stalls: { seconds: number; byCgroup: ReadonlyMap<string, number> | null } | null = null;
  /** Readings taken. */
  readings = 0;

  constructor(options: EtaSamplerOptions) {
    this.options = options;
    this.open = options.open ?? ((root, path, v1) => new LimitedMemoryFiles(root, path, v1));
  }

  /** How many cgroups' files are open now. */
  get openFiles(): number {
    return this.files.size;
  }

  /** One tick: reads every watched cgroup and forgets the ones no longer watched, limited or there. */
  sample(): void {
    const { names, table } = this.options;
    const root = names.root;
    const now = (this.options.clock ?? (() => Number(process.hrtime.bigint()) / 1e9))();
    const seen = new Set<string>();
    const kept = new Set<string>();
    const recorder = this.options.recorder;
    const unixNow = (this.options.unixClock ?? (() => Date.now() / 1000))();
    if (root) {
      for (const cgroup of this.options.watched()) {
        if (!cgroup.startsWith('/') || seen.has(cgroup)) continue;
        seen.add(cgroup);
        const memory = this.read(root, cgroup, names.memoryOnV1);
        if (!memory) continue;
        kept.add(cgroup);
        const unreclaimableBytes = Math.max(0, memory.usageBytes - memory.fileBytes);
        const workingSetBytes = Math.max(0, memory.usageBytes - memory.inactiveFileBytes);
        table.add(cgroup, { seconds: now, unreclaimableBytes, limitBytes: memory.limitBytes, workingSetBytes });
        this.readings++;
        if (recorder) {
          const stalls = this.reclaimStallsAt(now);
          recorder.add(cgroup, {
            seconds: now,
            unixSeconds: unixNow,
            usageBytes: memory.usageBytes,
            workingSetBytes,
            unreclaimableBytes,
            faults: memory.faults,
            majorFaults: memory.majorFaults,
            reclaimStallSeconds: stalls === null ? null : (stalls.get(cgroup) ?? 0),
            pressureStallSeconds: memory.pressureSomeSeconds,
            etaSeconds: table.estimateOf(cgroup)?.seconds ?? null,
          });
        }
      }
    }
    table.retain(kept);
    recorder?.retain(kept, now);
    for (const [cgroup, files] of this.files) {
      if (seen.has(cgroup)) continue;
      files.close();
      this.files.delete(cgroup);
    }
  }

  /** Reclaim stall time by cgroup, read at most once a second (a batch read of the stalls map); null when not counted or unreadable. */
  private reclaimStallsAt(now: number): ReadonlyMap<string, number> | null {
    const read = this.options.reclaimStalls;
    if (!read) return null;
    if (!this.stalls || now - this.stalls.seconds >= 0.9) {
      let byCgroup: ReadonlyMap<string, number> | null = null;
      try {
        byCgroup = read();
      } catch {
        // The map read failed this time: the recorder's stall rate is null for this second.
      }
      this.stalls = { seconds: now, byCgroup };
    }
    return this.stalls.byCgroup;
  }

  /** A cgroup's files now: through its open files, or opened for this tick only past MAX_OPEN; null when unlimited or gone. */
  private read(root: string, cgroup: string, v1: boolean): LimitedMemory | null {
    let files = this.files.get(cgroup);
    let keep = true;
    try {
      if (!files) {
        files = this.open(root, cgroup, v1);
        keep = this.files.size < MAX_OPEN;
        if (keep) this.files.set(cgroup, files);
      }
      const memory = files.read();
      if (!keep) files.close();
      return memory;
    } catch {
      // Gone (removed between the refresh and this tick), or never had the files.
      files?.close();
      this.files.delete(cgroup);
      return null;
    }
  }

  /** Closes every open file. */
  close(): void {
    for (const files of this.files.values()) files.close();
    this.files.clear();
  }
}
