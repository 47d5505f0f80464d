/**
 * The core state every view reads: each feature's numbers (the fault counts,
 * OOM kills, stalls, memory headroom), refreshed from the kernel's maps by
 * each feature's reader, plus what they share (cgroup and pod names, the
 * clock, liveness of pids, the failures of each part). /metrics and OTLP
 * compute their values from it when read; each feature's families see it
 * through the narrow view they declare (src/features/<feature>/families.ts).
 */
import { accessOfSlot, type AccessCount } from '../features/faults/decode.js';
import type { FaultReader } from '../features/faults/reader.js';
import type { OomKillEvent } from '../features/oom/decode.js';
import type { RegionTypeCounts, RingbufName } from '../bpf/contract.js';
import type { StallReader } from '../features/stalls/reader.js';
import type { CgroupNames } from '../readers/cgroups.js';
import { workloadOf } from '../aggregate/container-of.js';
import type { PodNames } from '../readers/kube-pods.js';
import type { CgroupMemoryRow, Psi } from '../readers/memory-headroom.js';
import { OomKills, type OomKillsOptions, type RecentKill } from '../features/oom/oom-kills.js';
import { addCounts, sumCounts } from '../aggregate/counts.js';
import { ProcessTable, type ProcessTableOptions } from '../features/faults/process-table.js';
import { StallTable } from '../features/stalls/stall-table.js';
import { OomEtaTable } from '../features/oom-eta/estimator.js';

/** What the state shows of the loaded programs themselves (src/bpf/probe.ts provides it). */
export interface ProbeInfo {
  readonly tracepointMode: string;
  readonly programs: readonly { program: string; attachPoint: string; links: number }[];
  /** tp_btf programs the kernel refused, each replaced by its classic twin. */
  readonly fallbacks: readonly { program: string; instead: string; reason: string }[];
  readonly ringCallbackErrors: number;
  readLostRecords(): Record<RingbufName, bigint>;
  runStats(): { program: string; stats: { runTimeNs: bigint; runCount: bigint } }[];
}

/** The kernel side: the programs, and the reader of each feature that keeps its numbers in maps. */
export interface KernelSource {
  readonly probe: ProbeInfo;
  readonly faults: FaultReader;
  readonly stalls: StallReader;
}

export interface FaultlineStateOptions extends ProcessTableOptions, OomKillsOptions {
  /** Whether refresh() reads the stalls map (the stalls collector). Default true. */
  readStalls?: boolean;
  /** Pod, namespace and container names by pod UID and container id (the Kubernetes API), or null when unknown or off. */
  podNames?: (podUid: string, containerId: string) => PodNames | null;
  /** Reads the memory files of cgroups (paths as named); without it cgroupMemory() is empty. */
  readCgroupMemory?: (names: CgroupNames, cgroups: Iterable<string>) => readonly CgroupMemoryRow[];
  /** Reads the host's memory pressure; without it hostPressure() is null. */
  readHostPressure?: () => Psi | null;
}

export class FaultlineState {
  readonly processes: ProcessTable;
  readonly oomKills: OomKills;
  readonly stalls: StallTable;
  /** Time to OOM of each busy cgroup with a limit, filled by its sampler between refreshes (src/features/oom-eta/). */
  readonly oomEta = new OomEtaTable();
  readonly source: KernelSource;
  readonly cgroups: CgroupNames;
  private unattributed: RegionTypeCounts | null = null;
  private readonly now: () => bigint;
  private readonly isAlive: (pid: number) => boolean;
  private readonly readStalls: boolean;
  private readonly podNamesOf: (podUid: string, containerId: string) => PodNames | null;
  private readonly readCgroupMemory: ((names: CgroupNames, cgroups: Iterable<string>) => readonly CgroupMemoryRow[]) | null;
  private readonly readHostPressure: (() => Psi | null) | null;
  private cgroupMemoryRead: { refresh: number; rows: readonly CgroupMemoryRow[] } | null = null;
  private busyCgroupsRead: { refresh: number; labels: readonly string[] } | null = null;
  private hostPressureRead: { refresh: number; psi: Psi | null } | null = null;
  lastRefreshSeconds = 0;
  /** How many times refresh() ran: scrape-time readers memoize on it. */
  refreshes = 0;
  /** How long the previous scrape took to read the maps and render (this scrape cannot time itself). */
  lastScrapeSeconds = 0;

  /** Everything that reads the world comes in: the kernel source, the clock, whether a pid lives, cgroup names. */
  constructor(source: KernelSource, options: FaultlineStateOptions, clock: () => bigint, isAlive: (pid: number) => boolean, cgroups: CgroupNames) {
    this.source = source;
    this.cgroups = cgroups;
    this.processes = new ProcessTable({ ...options, cgroupKey: (r) => cgroups.idOf(r) });
    this.oomKills = new OomKills(options);
    this.stalls = new StallTable({ maxGroups: options.maxGroups, cgroupKey: (ids) => cgroups.idOf(ids) });
    this.now = clock;
    this.isAlive = isAlive;
    this.readStalls = options.readStalls ?? true;
    this.podNamesOf = options.podNames ?? (() => null);
    this.readCgroupMemory = options.readCgroupMemory ?? null;
    this.readHostPressure = options.readHostPressure ?? null;
  }

  /**
   * Reads the counting maps once and folds processes whose grace period
   * ended. A part that fails (a map read refused, say) keeps its previous
   * values and is reported by health() and faultline_collector_success; the
   * other parts go on.
   */
  refresh(): void {
    const started = process.hrtime.bigint();
    this.refreshes++;
    this.attempt('counts', () => {
      const snapshot = this.source.faults.readProcesses();
      const forget = this.processes.update(snapshot, this.now(), this.isAlive);
      if (forget.length > 0) this.source.faults.forgetProcesses(forget);
      this.unattributed = this.source.faults.readUnattributed();
    });
    if (this.readStalls) {
      this.attempt('stalls', () => {
        const removed = this.stalls.update(this.source.stalls.readStalls(), this.now(), (ids) => !this.cgroups.exists(ids));
        if (removed.length > 0) this.source.stalls.forgetStalls(removed);
      });
    }
    this.lastRefreshSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  }

  /**
   * The memory files of each cgroup with live processes, as of this refresh:
   * read on first use after a refresh (by the families of a scrape), so that
   * refreshes nothing renders (--maps.refresh-interval) read no files.
   */
  cgroupMemory(): readonly CgroupMemoryRow[] {
    if (!this.readCgroupMemory) return [];
    if (this.cgroupMemoryRead?.refresh !== this.refreshes) {
      this.cgroupMemoryRead = { refresh: this.refreshes, rows: this.readCgroupMemory(this.cgroups, this.busyCgroups()) };
    }
    return this.cgroupMemoryRead.rows;
  }

  /** The cgroups with live processes at the last refresh, by label (path, or `id:N` when unnamed). */
  busyCgroups(): readonly string[] {
    if (this.busyCgroupsRead?.refresh !== this.refreshes) {
      this.busyCgroupsRead = { refresh: this.refreshes, labels: [...this.processes.liveCgroupKeys()].map((key) => this.cgroupLabel(key)) };
    }
    return this.busyCgroupsRead.labels;
  }

  /** The host's memory pressure as of this refresh, read on first use after it; null without PSI. */
  hostPressure(): Psi | null {
    if (!this.readHostPressure) return null;
    if (this.hostPressureRead?.refresh !== this.refreshes) this.hostPressureRead = { refresh: this.refreshes, psi: this.readHostPressure() };
    return this.hostPressureRead.psi;
  }

  /** The last failure of each part that failed at its last attempt (counts, stalls, oom, …). */
  readonly failures = new Map<string, string>();

  /** Runs one part of a refresh (or of event delivery), remembering whether it worked. */
  attempt(part: string, run: () => void): void {
    try {
      run();
      this.failures.delete(part);
    } catch (err) {
      this.failures.set(part, (err as Error).message);
    }
  }

  /** null when every part worked at its last attempt; else what failed, one line each (for /healthz). */
  health(): string | null {
    if (this.failures.size === 0) return null;
    return [...this.failures].map(([part, why]) => `${part}: ${why}`).join('\n');
  }

  /** Counts a kill, naming its cgroup now, while it still exists; constraint from the kernel log. Returns what it recorded. */
  recordOomKill(kill: OomKillEvent, constraint = 'unknown'): RecentKill {
    const cgroup = this.cgroups.pathOf(kill, true);
    const workload = workloadOf(cgroup);
    return this.oomKills.record(
      kill,
      { comm: kill.comm, cgroup, container_id: workload.containerId, pod_uid: workload.podUid, constraint },
      this.podNames(workload.podUid, workload.containerId),
    );
  }

  /** Pod, namespace and container names, or empty strings when unknown or not enabled. */
  podNames(podUid: string, containerId: string): PodNames {
    return this.podNamesOf(podUid, containerId) ?? { pod: '', namespace: '', container: '' };
  }

  /** The label of a cgroup key: its path, or `id:N` when no path is known. */
  /** The cgroup label of a tracked process ('' when it is not tracked): what its faults count under in faultline_cgroup_page_faults_total. */
  cgroupOfProcess(pid: number): string {
    const key = this.processes.cgroupKeyOf(pid);
    return key === null ? '' : this.cgroupLabel(key);
  }

  cgroupLabel(id: bigint): string {
    const path = this.cgroups.pathOf({ cgroupId: id, memcgId: id });
    return path || (id === 0n ? '' : `id:${id}`);
  }

  /** Faults of processes that found both process maps full (counted, but not by process). */
  overflowFaults(): bigint {
    return this.unattributed ? sumCounts(this.unattributed) : 0n;
  }

  /** Every fault seen, by region and type: processes plus faults that found the map full. */
  faultTotals(): RegionTypeCounts {
    const totals = this.processes.totals();
    if (this.unattributed) addCounts(totals, this.unattributed);
    return totals;
  }

  accessCounts(): AccessCount[] {
    if (!this.source.faults.accessTypes) return [];
    return this.source.faults.readAccess().map((count, slot) => ({ ...accessOfSlot(slot), count }));
  }
}
