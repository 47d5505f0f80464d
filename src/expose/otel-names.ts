/**
 * OpenTelemetry names and units of faultline's metric families: dotted
 * names, UCUM units ("By", "s", "1") and annotations in braces for counts
 * ("{fault}"). Attributes keep the Prometheus label names. The README's
 * mapping table is this table (test/otlp.test.ts checks).
 */

export interface OtelName {
  readonly name: string;
  readonly unit: string;
}

export const OTEL_NAMES: Readonly<Record<string, OtelName>> = {
  faultline_page_faults_total: { name: 'faultline.page_faults', unit: '{fault}' },
  faultline_process_page_faults_total: { name: 'faultline.process.page_faults', unit: '{fault}' },
  faultline_page_fault_access_total: { name: 'faultline.page_fault.accesses', unit: '{fault}' },
  faultline_comm_page_faults_total: { name: 'faultline.comm.page_faults', unit: '{fault}' },
  faultline_cgroup_page_faults_total: { name: 'faultline.cgroup.page_faults', unit: '{fault}' },
  faultline_cgroup_info: { name: 'faultline.cgroup.info', unit: '1' },
  faultline_cgroup_memory_usage_bytes: { name: 'faultline.cgroup.memory.usage', unit: 'By' },
  faultline_cgroup_memory_limit_bytes: { name: 'faultline.cgroup.memory.limit', unit: 'By' },
  faultline_cgroup_memory_events_total: { name: 'faultline.cgroup.memory.events', unit: '{event}' },
  faultline_cgroup_memory_pressure_ratio: { name: 'faultline.cgroup.memory.pressure', unit: '1' },
  faultline_memory_pressure_ratio: { name: 'faultline.memory.pressure', unit: '1' },
  faultline_memory_pressure_seconds_total: { name: 'faultline.memory.pressure.time', unit: 's' },
  faultline_direct_reclaim_duration_seconds: { name: 'faultline.direct_reclaim.duration', unit: 's' },
  faultline_memcg_reclaim_duration_seconds: { name: 'faultline.memcg_reclaim.duration', unit: 's' },
  faultline_compaction_stall_duration_seconds: { name: 'faultline.compaction_stall.duration', unit: 's' },
  faultline_reclaimed_pages_total: { name: 'faultline.reclaimed_pages', unit: '{page}' },
  faultline_oom_kills_total: { name: 'faultline.oom.kills', unit: '{kill}' },
  faultline_oom_victim_info: { name: 'faultline.oom.victim.time', unit: 's' },
  faultline_oom_victim_memory_bytes: { name: 'faultline.oom.victim.memory', unit: 'By' },
  faultline_oom_victim_rss_bytes: { name: 'faultline.oom.victim.rss', unit: 'By' },
  faultline_ringbuf_lost_records_total: { name: 'faultline.ringbuf.lost_records', unit: '{record}' },
  faultline_event_callback_errors_total: { name: 'faultline.event.callback_errors', unit: '{error}' },
  faultline_event_log_records_total: { name: 'faultline.event_log.records', unit: '{record}' },
  faultline_event_log_dropped_records_total: { name: 'faultline.event_log.dropped_records', unit: '{record}' },
  faultline_event_log_write_errors_total: { name: 'faultline.event_log.write_errors', unit: '{error}' },
  faultline_event_log_sample_ratio: { name: 'faultline.event_log.sample_ratio', unit: '1' },
  faultline_bpf_programs_attached: { name: 'faultline.bpf.programs.attached', unit: '{link}' },
  faultline_bpf_program_fallback: { name: 'faultline.bpf.program.fallback', unit: '1' },
  faultline_bpf_program_run_seconds_total: { name: 'faultline.bpf.program.run_time', unit: 's' },
  faultline_bpf_program_runs_total: { name: 'faultline.bpf.program.runs', unit: '{run}' },
  faultline_bpf_stats_enabled: { name: 'faultline.bpf.stats.enabled', unit: '1' },
  faultline_collector_enabled: { name: 'faultline.collector.enabled', unit: '1' },
  faultline_collector_success: { name: 'faultline.collector.success', unit: '1' },
  faultline_fault_detail_state: { name: 'faultline.fault_detail.state', unit: '1' },
  faultline_fault_detail_paused_seconds_total: { name: 'faultline.fault_detail.paused_time', unit: 's' },
  faultline_bpf_cpu_budget: { name: 'faultline.bpf.cpu.budget', unit: '{cpu}' },
  faultline_bpf_cpu_usage: { name: 'faultline.bpf.cpu.usage', unit: '{cpu}' },
  faultline_process_map_overflow_faults_total: { name: 'faultline.process_map.overflow_faults', unit: '{fault}' },
  faultline_group_evictions_total: { name: 'faultline.group.evictions', unit: '{group}' },
  faultline_scrape_duration_seconds: { name: 'faultline.scrape.duration', unit: 's' },
  faultline_map_read_duration_seconds: { name: 'faultline.map_read.duration', unit: 's' },
  faultline_processes_tracked: { name: 'faultline.processes.tracked', unit: '{process}' },
  faultline_processes_tracked_max: { name: 'faultline.processes.tracked.limit', unit: '{process}' },
  faultline_processes_folded_total: { name: 'faultline.processes.folded', unit: '{process}' },
  faultline_processes_beyond_max: { name: 'faultline.processes.beyond_max', unit: '{process}' },
  faultline_otlp_exports_total: { name: 'faultline.otlp.exports', unit: '{export}' },
  faultline_build_info: { name: 'faultline.build.info', unit: '1' },
};

/** The OpenTelemetry name of a family; a family missing from the table is a bug the tests catch. */
export function otelName(prometheusName: string): OtelName {
  const known = OTEL_NAMES[prometheusName];
  if (known) return known;
  return { name: prometheusName.replace(/_total$/, '').replace(/^faultline_/, 'faultline.'), unit: '1' };
}
