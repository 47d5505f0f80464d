/**
 * faultline's metric families, every value computed from FaultlineState when
 * scraped, rendered as Prometheus text or OpenMetrics; prom-client (private
 * registries) adds its process/nodejs runtime metrics. Names and help strings
 * are the reference for the README table.
 */
import { readFileSync } from 'node:fs';
import client from 'prom-client';
import { FAULT_TYPES, REGIONS, RINGBUFS, type RegionTypeCounts } from '../bpf/contract.js';
import { libbpfVersion } from '../bpf/libbpf.js';
import { workloadOf } from '../aggregate/container-of.js';
import { OTHER, RSS_BUCKETS } from '../aggregate/oom-kills.js';
import type { GroupTotals } from '../aggregate/process-table.js';
import { packageVersion, type FaultlineState } from '../aggregate/state.js';
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  escapeLabel,
  renderFamilies,
  type Family,
  type Labels,
  type Sample,
} from './exposition.js';

export interface Exposition {
  /** Renders every family: faultline's own from the state, then prom-client's process/nodejs metrics. */
  render(openMetrics: boolean): Promise<{ contentType: string; body: string }>;
}

/** `type="minor",region="anon"` for each [region][type] cell, rendered once. */
const CELL_LABELS = REGIONS.map((region) => FAULT_TYPES.map((type) => `type="${type}",region="${region}"`));

export function createExposition(state: FaultlineState): Exposition {
  const families: Family[] = [];
  const counter = (name: string, help: string, labelNames: string[], samples: () => Iterable<Sample>): void => {
    families.push({ name, help, type: 'counter', labelNames, samples });
  };
  const gauge = (name: string, help: string, labelNames: string[], samples: () => Iterable<Sample>): void => {
    families.push({ name, help, type: 'gauge', labelNames, samples });
  };

  counter(
    'faultline_page_faults_total',
    'Page faults the kernel accounted on this host since faultline started, by type (minor or major) and memory region; the sum over all labels is every fault.',
    ['type', 'region'],
    function* () {
      const totals = state.faultTotals();
      for (let r = 0; r < REGIONS.length; r++) {
        for (let t = 0; t < FAULT_TYPES.length; t++) {
          yield [{ type: FAULT_TYPES[t]!, region: REGIONS[r]! }, Number(totals[r]![t]!)];
        }
      }
    },
  );

  counter(
    'faultline_process_page_faults_total',
    'Page faults of the busiest processes (at most --processes.max, ranked by recent fault rate), by type and region; exited processes stay for --processes.exit-grace.',
    ['pid', 'comm', 'type', 'region'],
    function* () {
      for (const p of state.processes.busiest()) {
        const processLabels = `pid="${p.pid}",comm="${escapeLabel(p.comm)}",`;
        for (let r = 0; r < REGIONS.length; r++) {
          for (let t = 0; t < FAULT_TYPES.length; t++) {
            const n = p.faults[r]![t]!;
            if (n > 0n) yield [processLabels + CELL_LABELS[r]![t]!, Number(n)];
          }
        }
      }
    },
  );

  counter(
    'faultline_page_fault_access_total',
    'Page faults taken in user mode (exceptions/page_fault_user), by access (read, write, exec) and whether the page was present (a protection fault such as copy-on-write).',
    ['access', 'present'],
    function* () {
      const merged = new Map<string, Sample>();
      for (const a of state.accessCounts()) {
        const key = `${a.access}/${a.present}`;
        const prev = merged.get(key)?.[1] ?? 0;
        merged.set(key, [{ access: a.access, present: String(a.present) }, prev + Number(a.count)]);
      }
      yield* merged.values();
    },
  );

  counter(
    'faultline_oom_kills_total',
    'OOM kills, by the victim process comm, its memory cgroup (with the container and pod parsed from the path) and the constraint (memcg, global, cpuset, memory_policy; unknown without the kernel log).',
    ['comm', 'cgroup', 'container_id', 'pod_uid', 'constraint'],
    function* () {
      for (const { labels, count } of state.oomKills.counts()) yield [labels as unknown as Labels, count];
    },
  );

  const groupSamples = function* <K>(groups: GroupTotals<K>, label: (key: K) => string): Generator<Sample> {
    const cells = function* (key: string, counts: RegionTypeCounts): Generator<Sample> {
      const prefix = `${key},`;
      for (let r = 0; r < REGIONS.length; r++) {
        for (let t = 0; t < FAULT_TYPES.length; t++) {
          const n = counts[r]![t]!;
          if (n > 0n) yield [prefix + CELL_LABELS[r]![t]!, Number(n)];
        }
      }
    };
    for (const [key, counts] of groups.byKey) yield* cells(label(key), counts);
    yield* cells(label(null as K), groups.other);
  };
  counter(
    'faultline_comm_page_faults_total',
    'Page faults by process comm, of every process seen (live, and exited ones folded); comm "[other]" holds exited processes of comms pushed out by --groups.max. Sums to faultline_page_faults_total less unattributed faults.',
    ['comm', 'type', 'region'],
    () => groupSamples(state.processes.byComm(), (comm) => `comm="${escapeLabel(comm ?? OTHER)}"`),
  );
  counter(
    'faultline_cgroup_page_faults_total',
    'Page faults by memory cgroup (the v1 memory hierarchy where memory is on v1, else the unified hierarchy), of every process seen; cgroup "[other]" holds exited processes of cgroups pushed out by --groups.max.',
    ['cgroup', 'type', 'region'],
    () => groupSamples(state.processes.byCgroup(), (id) => `cgroup="${escapeLabel(id === null ? OTHER : state.cgroupLabel(id))}"`),
  );
  gauge(
    'faultline_cgroup_info',
    'What each cgroup in faultline_cgroup_page_faults_total runs, parsed from its path (container runtime and id, pod UID and QoS class, systemd unit) and, with --kubernetes.enabled, named by the API (pod, namespace, container). The value is 1.',
    ['cgroup', 'runtime', 'container_id', 'pod_uid', 'qos', 'unit', 'pod', 'namespace', 'container'],
    function* () {
      for (const id of state.processes.byCgroup().byKey.keys()) {
        const cgroup = state.cgroupLabel(id);
        const w = workloadOf(cgroup);
        if (!w.runtime && !w.containerId && !w.podUid && !w.unit) continue;
        const names = state.podNames(w.podUid, w.containerId);
        yield [{ cgroup, runtime: w.runtime, container_id: w.containerId, pod_uid: w.podUid, qos: w.qos, unit: w.unit, ...names }, 1];
      }
    },
  );

  const unixSeconds = (monotonicNs: bigint): number => Date.now() / 1000 - Number(process.hrtime.bigint() - monotonicNs) / 1e9;
  gauge(
    'faultline_oom_victim_info',
    'The latest OOM kill victims, one series each: the victim, the task whose allocation triggered the kill, the constraint and the cgroup; the value is the Unix time of the kill.',
    ['pid', 'comm', 'uid', 'oom_score_adj', 'trigger_pid', 'trigger_comm', 'constraint', 'cgroup', 'container_id', 'pod_uid', 'pod', 'namespace', 'container'],
    function* () {
      for (const { kill: k, labels, names } of state.oomKills.recent()) {
        yield [
          {
            pid: k.pid,
            comm: k.comm,
            uid: k.uid,
            oom_score_adj: k.oomScoreAdj,
            trigger_pid: k.triggerPid,
            trigger_comm: k.triggerComm,
            constraint: labels.constraint,
            cgroup: labels.cgroup,
            container_id: labels.container_id,
            pod_uid: labels.pod_uid,
            ...names,
          },
          Math.round(unixSeconds(k.timestampNs) * 1000) / 1000,
        ];
      }
    },
  );
  gauge(
    'faultline_oom_victim_memory_bytes',
    'Memory of the latest OOM kill victims when they were chosen, by kind (total_vm, anon_rss, file_rss, shmem_rss, pgtables).',
    ['pid', 'comm', 'memory'],
    function* () {
      for (const { kill: k } of state.oomKills.recent()) {
        const base = { pid: k.pid, comm: k.comm };
        yield [{ ...base, memory: 'total_vm' }, Number(k.totalVmBytes)];
        yield [{ ...base, memory: 'anon_rss' }, Number(k.anonRssBytes)];
        yield [{ ...base, memory: 'file_rss' }, Number(k.fileRssBytes)];
        yield [{ ...base, memory: 'shmem_rss' }, Number(k.shmemRssBytes)];
        yield [{ ...base, memory: 'pgtables' }, Number(k.pgtablesBytes)];
      }
    },
  );
  families.push({
    name: 'faultline_oom_victim_rss_bytes',
    help: 'Resident memory (anon + file + shmem) of OOM kill victims when they were chosen.',
    type: 'histogram',
    labelNames: [],
    *samples() {
      const kills = state.oomKills;
      for (let i = 0; i < RSS_BUCKETS.length; i++) yield [`le="${RSS_BUCKETS[i]}"`, kills.rssBuckets[i]!, '_bucket'];
      yield ['le="+Inf"', kills.rssBuckets[RSS_BUCKETS.length]!, '_bucket'];
      yield ['', kills.rssSum, '_sum'];
      yield ['', kills.total, '_count'];
    },
  });

  counter(
    'faultline_ringbuf_lost_records_total',
    'Records a BPF ring buffer could not take because it was full, by ring buffer.',
    ['ringbuf'],
    function* () {
      const lost = state.source.readLostRecords();
      for (const ringbuf of RINGBUFS) yield [{ ringbuf }, Number(lost[ringbuf])];
    },
  );
  counter(
    'faultline_event_callback_errors_total',
    'Ring-buffer records that user space failed to decode or deliver.',
    [],
    function* () {
      yield [{}, state.source.ringCallbackErrors];
    },
  );
  gauge(
    'faultline_bpf_programs_attached',
    'BPF programs faultline has attached, by program and attach point; the value is the number of links (one per CPU for perf events).',
    ['program', 'attach_point'],
    function* () {
      for (const p of state.source.programs) yield [{ program: p.program, attach_point: p.attachPoint }, p.links];
    },
  );
  counter(
    'faultline_bpf_program_run_seconds_total',
    'Time the kernel spent running each faultline BPF program; counts only while kernel.bpf_stats_enabled=1.',
    ['program'],
    function* () {
      for (const { program, stats } of state.source.runStats()) yield [{ program }, Number(stats.runTimeNs) / 1e9];
    },
  );
  counter(
    'faultline_bpf_program_runs_total',
    'Runs of each faultline BPF program; counts only while kernel.bpf_stats_enabled=1.',
    ['program'],
    function* () {
      for (const { program, stats } of state.source.runStats()) yield [{ program }, Number(stats.runCount)];
    },
  );
  gauge('faultline_processes_tracked', 'Processes with fault counts in the kernel map process_faults now.', [], function* () {
    yield [{}, state.processes.size];
  });
  gauge('faultline_processes_tracked_max', 'Capacity of the kernel map process_faults; faults of processes beyond it still count in faultline_page_faults_total.', [], function* () {
    yield [{}, state.source.processCapacity];
  });
  counter('faultline_event_log_records_total', 'Records written to the event log (--event-log).', [], function* () {
    if (state.eventLog) yield [{}, state.eventLog.records];
  });
  counter(
    'faultline_event_log_dropped_records_total',
    'Event log records user space dropped, by reason: backlog (the writer fell behind) or write_error (the file or pipe failed). Records the kernel could not take are in faultline_ringbuf_lost_records_total.',
    ['reason'],
    function* () {
      if (!state.eventLog) return;
      yield [{ reason: 'backlog' }, state.eventLog.droppedBacklog];
      yield [{ reason: 'write_error' }, state.eventLog.droppedWriteError];
    },
  );
  gauge(
    'faultline_event_log_sample_ratio',
    'The share of the page faults passing the event log filters that are logged (1/N with --event-log.sample N); absent when no page faults are logged.',
    [],
    function* () {
      if (state.eventLogSampleEvery > 0) yield [{}, 1 / state.eventLogSampleEvery];
    },
  );
  counter('faultline_event_log_write_errors_total', 'Failed writes to the event log; the first is reported on stderr with its cause.', [], function* () {
    if (state.eventLog) yield [{}, state.eventLog.writeErrors];
  });
  gauge(
    'faultline_processes_beyond_max',
    'Processes with counts now that faultline_process_page_faults_total leaves out (beyond --processes.max); their faults are in the comm and cgroup families.',
    [],
    function* () {
      yield [{}, Math.max(0, state.processes.size - state.processes.maxProcesses)];
    },
  );
  counter('faultline_processes_folded_total', 'Exited processes whose final counts were folded into the host totals and removed from the kernel map.', [], function* () {
    yield [{}, state.processes.foldedProcesses];
  });
  counter(
    'faultline_process_map_overflow_faults_total',
    'Page faults of processes that found both process maps full: in faultline_page_faults_total, but in no per-process, comm or cgroup family.',
    [],
    function* () {
      yield [{}, Number(state.overflowFaults())];
    },
  );
  counter(
    'faultline_group_evictions_total',
    'Comms and cgroups whose exited processes\' counts moved into "[other]" because --groups.max was reached, by group.',
    ['group'],
    function* () {
      yield [{ group: 'comm' }, state.processes.foldedByComm.evicted];
      yield [{ group: 'cgroup' }, state.processes.foldedByCgroup.evicted];
    },
  );
  gauge('faultline_bpf_stats_enabled', 'Whether the kernel counts BPF run time (kernel.bpf_stats_enabled, or faultline --bpf.stats).', [], function* () {
    let on = state.bpfStatsHeld ? 1 : 0;
    try {
      if (Number(readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim())) on = 1;
    } catch {
      // not readable: report off
    }
    yield [{}, on];
  });
  gauge('faultline_scrape_duration_seconds', 'How long the previous scrape of this endpoint took, from reading the kernel maps to the rendered page.', [], function* () {
    yield [{}, state.lastScrapeSeconds];
  });
  gauge('faultline_map_read_duration_seconds', 'Time the last scrape took to batch-read the kernel maps.', [], function* () {
    yield [{}, state.lastRefreshSeconds];
  });
  gauge(
    'faultline_build_info',
    'Build and runtime facts of this faultline; the value is 1.',
    ['version', 'nodejs_version', 'libbpf_version', 'tracepoints'],
    function* () {
      yield [
        { version: packageVersion(), nodejs_version: process.version, libbpf_version: libbpfVersion(), tracepoints: state.source.tracepointMode },
        1,
      ];
    },
  );

  // prom-client's runtime metrics; its registries render them (each has its own metric objects).
  const prometheus = new client.Registry();
  const openMetrics = new client.Registry<client.OpenMetricsContentType>();
  openMetrics.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
  for (const registry of [prometheus, openMetrics] as client.Registry[]) {
    client.collectDefaultMetrics({ register: registry });
    // prom-client names these gauges *_total, which promtool (rightly) rejects.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }
  return {
    async render(om) {
      const ours = renderFamilies(families, om);
      if (om) {
        const runtime = await openMetrics.metrics(); // ends with "# EOF"
        return { contentType: OPENMETRICS_CONTENT_TYPE, body: ours + runtime };
      }
      return { contentType: PROMETHEUS_CONTENT_TYPE, body: `${ours}\n${await prometheus.metrics()}` };
    },
  };
}
