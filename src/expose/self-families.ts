/** faultline's own health: programs, BPF run time, maps, ring buffers, the event log, scrapes, build. */
import type { DetailGovernor } from '../features/faults/detail-governor.js';
import { COLLECTORS, type CollectorName } from '../core/feature.js';
import type { FaultlineState } from '../core/state.js';
import { packageVersion } from '../version.js';
import { RINGBUFS } from '../bpf/contract.js';
import type { EventLogStats } from '../deliver/event-log.js';
import type { OtlpStats } from './otlp.js';
import { familyList, perRefresh, type Family } from '../metrics/family.js';

/**
 * What the exporter knows about itself beyond the kernel's state, handed to
 * its families explicitly by whoever wires it (serve). The counters are live
 * objects their owners update; the families read them when scraped.
 */
export interface ExporterSelf {
  readonly collectors: Readonly<Record<CollectorName, boolean>>;
  /** True while faultline holds BPF run-time statistics on (--bpf.stats or the governor); the sysctl does not show it. */
  readonly bpfStatsHeld: boolean;
  /** Whether kernel.bpf_stats_enabled is on host-wide (read when scraped). */
  readonly bpfStatsOnHostWide: () => boolean;
  readonly libbpfVersion: string;
  /** The overhead governor (--bpf.cpu-budget), or null when it is off. */
  readonly governor: DetailGovernor | null;
  /** The event log's counters (--event-log), or null. */
  readonly eventLog: EventLogStats | null;
  /** 1 in how many filtered page faults the event log takes; 0 when it logs no page faults. */
  readonly eventLogSampleEvery: number;
  /** OTLP export outcomes, or null when OTLP is off. */
  readonly otlp: OtlpStats | null;
}

export function selfFamilies(state: FaultlineState, self: ExporterSelf): Family[] {
  const { families, counter, gauge } = familyList();
  // Run time and run count come from the same bpf_obj_get_info_by_fd calls.
  const runStats = perRefresh(state, () => state.source.probe.runStats());
  counter(
    'faultline_ringbuf_lost_records_total',
    ['faultline.ringbuf.lost_records', '{record}'],
    'Records a BPF ring buffer could not take because it was full, by ring buffer.',
    ['ringbuf'],
    function* () {
      const lost = state.source.probe.readLostRecords();
      for (const ringbuf of RINGBUFS) yield [{ ringbuf }, Number(lost[ringbuf])];
    },
  );
  counter(
    'faultline_event_callback_errors_total',
    ['faultline.event.callback_errors', '{error}'],
    'Ring-buffer records that user space failed to decode or deliver.',
    [],
    function* () {
      yield [{}, state.source.probe.ringCallbackErrors];
    },
  );
  gauge(
    'faultline_bpf_programs_attached',
    ['faultline.bpf.programs.attached', '{link}'],
    'BPF programs faultline has attached, by program and attach point; the value is the number of links (one per CPU for perf events).',
    ['program', 'attach_point'],
    function* () {
      for (const p of state.source.probe.programs) yield [{ program: p.program, attach_point: p.attachPoint }, p.links];
    },
  );
  gauge(
    'faultline_bpf_program_fallback',
    ['faultline.bpf.program.fallback', '1'],
    'A typed (tp_btf) program this kernel refused to load or attach, and the classic tracepoint twin that runs instead (1 each); docs/requirements.md says what each fallback loses.',
    ['program', 'instead'],
    function* () {
      for (const f of state.source.probe.fallbacks) yield [{ program: f.program, instead: f.instead }, 1];
    },
  );
  counter(
    'faultline_bpf_program_run_seconds_total',
    ['faultline.bpf.program.run_time', 's'],
    'Time the kernel spent running each faultline BPF program; counts only while kernel.bpf_stats_enabled=1.',
    ['program'],
    function* () {
      for (const { program, stats } of runStats()) yield [{ program }, Number(stats.runTimeNs) / 1e9];
    },
  );
  counter(
    'faultline_bpf_program_runs_total',
    ['faultline.bpf.program.runs', '{run}'],
    'Runs of each faultline BPF program; counts only while kernel.bpf_stats_enabled=1.',
    ['program'],
    function* () {
      for (const { program, stats } of runStats()) yield [{ program }, Number(stats.runCount)];
    },
  );
  gauge('faultline_processes_tracked', ['faultline.processes.tracked', '{process}'], 'Processes with fault counts in the kernel maps (process_slots and process_faults) now.', [], function* () {
    yield [{}, state.processes.size];
  });
  gauge('faultline_processes_tracked_max', ['faultline.processes.tracked.limit', '{process}'], 'Capacity of the kernel maps process_slots and process_faults; faults of processes beyond it still count in faultline_page_faults_total.', [], function* () {
    yield [{}, state.source.faults.capacity];
  });
  counter('faultline_event_log_records_total', ['faultline.event_log.records', '{record}'], 'Records written to the event log (--event-log).', [], function* () {
    if (self.eventLog) yield [{}, self.eventLog.records];
  });
  counter(
    'faultline_event_log_dropped_records_total',
    ['faultline.event_log.dropped_records', '{record}'],
    'Event log records user space dropped, by reason: backlog (the writer fell behind) or write_error (the file or pipe failed). Records the kernel could not take are in faultline_ringbuf_lost_records_total.',
    ['reason'],
    function* () {
      if (!self.eventLog) return;
      yield [{ reason: 'backlog' }, self.eventLog.droppedBacklog];
      yield [{ reason: 'write_error' }, self.eventLog.droppedWriteError];
    },
  );
  counter(
    'faultline_otlp_exports_total',
    ['faultline.otlp.exports', '{export}'],
    'OTLP metric exports (--otlp.* or OTEL_EXPORTER_OTLP_*), by result: success, or failure after the exporter\'s retries; absent when OTLP is off.',
    ['result'],
    function* () {
      if (!self.otlp) return;
      yield [{ result: 'success' }, self.otlp.success];
      yield [{ result: 'failure' }, self.otlp.failure];
    },
  );
  gauge(
    'faultline_event_log_sample_ratio',
    ['faultline.event_log.sample_ratio', '1'],
    'The share of the page faults passing the event log filters that are logged (1/N with --event-log.sample N); absent when no page faults are logged.',
    [],
    function* () {
      if (self.eventLogSampleEvery > 0) yield [{}, 1 / self.eventLogSampleEvery];
    },
  );
  counter('faultline_event_log_write_errors_total', ['faultline.event_log.write_errors', '{error}'], 'Failed writes to the event log; the first is reported on stderr with its cause.', [], function* () {
    if (self.eventLog) yield [{}, self.eventLog.writeErrors];
  });
  gauge(
    'faultline_processes_beyond_max',
    ['faultline.processes.beyond_max', '{process}'],
    'Processes with counts now that faultline_process_page_faults_total leaves out (beyond --processes.max); their faults are in the comm and cgroup families.',
    [],
    function* () {
      yield [{}, Math.max(0, state.processes.size - state.processes.maxProcesses)];
    },
  );
  counter('faultline_processes_folded_total', ['faultline.processes.folded', '{process}'], 'Exited processes whose final counts were folded into the host, comm and cgroup totals and removed from the kernel maps.', [], function* () {
    yield [{}, state.processes.foldedProcesses];
  });
  counter(
    'faultline_process_map_overflow_faults_total',
    ['faultline.process_map.overflow_faults', '{fault}'],
    'Page faults of processes that found both process maps full: in faultline_page_faults_total, but in no per-process, comm or cgroup family.',
    [],
    function* () {
      yield [{}, Number(state.overflowFaults())];
    },
  );
  counter(
    'faultline_group_evictions_total',
    ['faultline.group.evictions', '{group}'],
    'Comms and cgroups whose exited processes\' counts moved into "[other]" because --groups.max was reached, by group.',
    ['group'],
    function* () {
      yield [{ group: 'comm' }, state.processes.foldedByComm.evicted];
      yield [{ group: 'cgroup' }, state.processes.foldedByCgroup.evicted];
    },
  );
  gauge('faultline_bpf_stats_enabled', ['faultline.bpf.stats.enabled', '1'], 'Whether the kernel counts BPF run time (kernel.bpf_stats_enabled, or faultline --bpf.stats).', [], function* () {
    yield [{}, self.bpfStatsHeld || self.bpfStatsOnHostWide() ? 1 : 0];
  });
  gauge(
    'faultline_collector_success',
    ['faultline.collector.success', '1'],
    'Whether each part of faultline worked at its last attempt (counts: the process maps and the task iterator; stalls; oom: delivering OOM kills; oom-eta: reading the memory files); 1 yes, 0 no, and then /healthz answers 503 with the reason.',
    ['collector'],
    function* () {
      const parts = ['counts', ...(self.collectors.stalls ? ['stalls'] : []), ...(self.collectors.oom ? ['oom'] : []), ...(self.collectors['oom-eta'] ? ['oom-eta'] : [])];
      for (const part of parts) yield [{ collector: part }, state.failures.has(part) ? 0 : 1];
    },
  );
  gauge('faultline_collector_enabled', ['faultline.collector.enabled', '1'], 'Whether each collector runs (--[no-]collector.NAME); 1 on, 0 off.', ['collector'], function* () {
    for (const collector of COLLECTORS) yield [{ collector }, self.collectors[collector] ? 1 : 0];
  });
  gauge(
    'faultline_fault_detail_state',
    ['faultline.fault_detail.state', '1'],
    'The per-fault detail (regions and access types), one series per state, 1 for the current one: on; over_budget (paused by the ' +
      'overhead governor: faults count in region "other" and no access type until it is back); disabled (--no-collector.fault-detail).',
    ['state'],
    function* () {
      const now = !self.collectors['fault-detail'] ? 'disabled' : (self.governor?.state ?? 'on');
      for (const s of ['on', 'over_budget', 'disabled']) yield [{ state: s }, s === now ? 1 : 0];
    },
  );
  counter(
    'faultline_fault_detail_paused_seconds_total',
    ['faultline.fault_detail.paused_time', 's'],
    'Time the overhead governor has kept the per-fault detail off (over --bpf.cpu-budget); absent when the governor is off.',
    [],
    function* () {
      if (self.governor) yield [{}, Number(self.governor.offNs) / 1e9];
    },
  );
  gauge('faultline_bpf_cpu_budget', ['faultline.bpf.cpu.budget', '{cpu}'], 'The overhead governor\'s budget for faultline\'s BPF programs, as a fraction of one CPU (--bpf.cpu-budget); absent when off.', [], function* () {
    if (self.governor) yield [{}, self.governor.budget];
  });
  gauge(
    'faultline_bpf_cpu_usage',
    ['faultline.bpf.cpu.usage', '{cpu}'],
    'The CPU share (fraction of one CPU) faultline\'s BPF programs used over the governor\'s last half-second tick, from the kernel\'s BPF run-time statistics; absent when the governor is off.',
    [],
    function* () {
      if (self.governor) yield [{}, self.governor.usage];
    },
  );
  gauge('faultline_scrape_duration_seconds', ['faultline.scrape.duration', 's'], 'How long the previous scrape of this endpoint took, from reading the kernel maps to the rendered page.', [], function* () {
    yield [{}, state.lastScrapeSeconds];
  });
  gauge('faultline_map_read_duration_seconds', ['faultline.map_read.duration', 's'], 'Time the last scrape took to batch-read the kernel maps.', [], function* () {
    yield [{}, state.lastRefreshSeconds];
  });
  gauge(
    'faultline_build_info',
    ['faultline.build.info', '1'],
    'Build and runtime facts of this faultline; the value is 1.',
    ['version', 'nodejs_version', 'libbpf_version', 'tracepoints'],
    function* () {
      yield [
        { version: packageVersion(), nodejs_version: process.version, libbpf_version: self.libbpfVersion, tracepoints: state.source.probe.tracepointMode },
        1,
      ];
    },
  );

  return families;
}
