/**
 * faultline's Grafana dashboard, as code: `npm run dashboard` writes
 * deploy/grafana/faultline.json (committed, importable from grafana.com or
 * Grafana's Import page). Panels are declared with a title, a description and
 * PromQL; test/dashboard.test.ts checks the JSON is this file's output, and
 * test/live-e2e.test.ts that every target returns data from a real Prometheus.
 */

/** Every selector carries these: the cluster, job, instance and node variables. */
const S = 'cluster=~"$cluster",job=~"$job",instance=~"$instance",node=~"$node"';
/** ... and cgroup-labelled families the cgroup variable. */
const SC = `${S},cgroup=~"$cgroup"`;
const RI = '$__rate_interval';
/** The namespace and pod variables, as matchers. */
const NP = 'namespace=~"$namespace",pod=~"$pod"';

/**
 * A per-cgroup expression (with instance and cgroup labels) kept to the selected namespaces and pods:
 * the cgroups faultline_cgroup_info names in them and, while both variables match any value (All), also
 * the cgroups that run no workload (no faultline_cgroup_info: system services, the root, "[other]").
 * The second branch's condition is a series with no pod or namespace label matching the variables,
 * which it does only when they match the empty value.
 */
export function workloads(expr: string): string {
  return (
    `(${expr} and on (instance, cgroup) faultline_cgroup_info{${S},${NP}})` +
    ` or (${expr} unless on (instance, cgroup) faultline_cgroup_info{${S}} and on () count(faultline_build_info{${S},${NP}}) > 0)`
  );
}

export interface Target {
  expr: string;
  legendFormat?: string;
  /** Instant (tables): the latest value of each series. */
  instant?: boolean;
}

interface PanelSpec {
  title: string;
  description: string;
  targets: Target[];
  type?: 'timeseries' | 'table';
  unit?: string;
  width?: number;
  stack?: boolean;
  /** A step line: for counts that only go up by whole events. */
  steps?: boolean;
}

type Json = Record<string, unknown>;

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

const ROWS: [string, PanelSpec[]][] = [
  [
    'Page faults',
    [
      {
        title: 'Page faults by type',
        description: 'Page faults per second on the selected nodes, minor (the page was in memory or zero-filled) and major (it had to be read from disk). The kernel\'s own classification, counted where it accounts them (mm_account_fault).',
        targets: [{ expr: `sum by (type) (rate(faultline_page_faults_total{${S}}[${RI}]))`, legendFormat: '{{type}}' }],
        unit: 'ops',
        stack: true,
      },
      {
        title: 'Page faults by memory region',
        description: 'Page faults per second by where the address lies: heap (brk), stack (main thread), anon (mmap, large malloc, thread stacks), file (executables, libraries, mapped files), other (get_user_pages: execve, MAP_POPULATE).',
        targets: [{ expr: `sum by (region) (rate(faultline_page_faults_total{${S}}[${RI}]))`, legendFormat: '{{region}}' }],
        unit: 'ops',
        stack: true,
      },
      {
        title: 'Major faults by cgroup',
        description: 'Major faults per second in the 10 busiest cgroups: pages read back from disk. A sustained rate is thrashing (FaultlineMajorFaultStorm fires above 500/s).',
        targets: [{ expr: `topk(10, sum by (cgroup) (${workloads(`rate(faultline_cgroup_page_faults_total{${SC},type="major"}[${RI}])`)}))`, legendFormat: '{{cgroup}}' }],
        unit: 'ops',
      },
      {
        title: 'Access types',
        description: 'User-mode page faults per second by access (read, write, exec) and whether the page was present: present="true" is a protection fault such as copy-on-write (exceptions/page_fault_user, x86 error code).',
        targets: [{ expr: `sum by (access, present) (rate(faultline_page_fault_access_total{${S}}[${RI}]))`, legendFormat: '{{access}} present={{present}}' }],
        unit: 'ops',
        stack: true,
      },
      {
        title: 'Top processes',
        description: 'The 10 processes with the most page faults per second (of the --processes.max busiest each node exports), by node, pid and comm. Per-process series carry no cgroup, so the cgroup, namespace and pod variables do not narrow this panel: Top cgroups does.',
        targets: [{ expr: `topk(10, sum by (instance, pid, comm) (rate(faultline_process_page_faults_total{${S}}[${RI}])))`, legendFormat: '{{comm}} ({{pid}}) {{instance}}' }],
        unit: 'ops',
      },
      {
        title: 'Top cgroups',
        description: 'The 10 cgroups with the most page faults per second, every process in them counted (live and exited).',
        targets: [{ expr: `topk(10, sum by (cgroup) (${workloads(`rate(faultline_cgroup_page_faults_total{${SC}}[${RI}])`)}))`, legendFormat: '{{cgroup}}' }],
        unit: 'ops',
      },
    ],
  ],
  [
    'Before the OOM killer',
    [
      {
        title: 'Memory used of the limit, by cgroup',
        description: 'Each cgroup\'s memory usage as a share of its limit (v2 memory.current / memory.max, v1 usage / limit), for cgroups with a limit. At 100% the cgroup reclaims, then the OOM killer picks a victim in it.',
        targets: [
          {
            expr: workloads(`faultline_cgroup_memory_usage_bytes{${SC}} / on (instance, cgroup) faultline_cgroup_memory_limit_bytes{${SC}}`),
            legendFormat: '{{cgroup}}',
          },
        ],
        unit: 'percentunit',
      },
      {
        title: 'Limit events by cgroup',
        description: 'Memory limit events per second: v2 memory.events (high, max, oom, oom_kill), v1 max (charges that hit the limit) and oom_kill. "max" rising means the cgroup is reclaiming at its limit.',
        targets: [{ expr: `sum by (cgroup, event) (${workloads(`rate(faultline_cgroup_memory_events_total{${SC}}[${RI}])`)})`, legendFormat: '{{cgroup}} {{event}}' }],
        unit: 'ops',
      },
      {
        title: 'Reclaim latency p99',
        description: '99th percentile of the time a task waited in one reclaim, by cgroup and kind: memcg (a charge over its cgroup\'s limit) and direct (the host short of free memory). FaultlineReclaimLatencyHigh fires above 20 ms.',
        targets: [
          {
            expr:
              `label_replace(histogram_quantile(0.99, sum by (cgroup, le) (${workloads(`rate(faultline_memcg_reclaim_duration_seconds_bucket{${SC}}[${RI}])`)})), "reclaim", "memcg", "", "")` +
              ` or label_replace(histogram_quantile(0.99, sum by (cgroup, le) (${workloads(`rate(faultline_direct_reclaim_duration_seconds_bucket{${SC}}[${RI}])`)})), "reclaim", "direct", "", "")`,
            legendFormat: '{{cgroup}} {{reclaim}}',
          },
        ],
        unit: 's',
      },
      {
        title: 'Time stalled in reclaim and compaction',
        description: 'Seconds per second tasks of each cgroup spent in memcg reclaim, direct reclaim and compaction (1 = one task stalled all the time).',
        targets: [
          {
            expr:
              `label_replace(sum by (cgroup) (${workloads(`rate(faultline_memcg_reclaim_duration_seconds_sum{${SC}}[${RI}])`)}), "stall", "memcg reclaim", "", "")` +
              ` or label_replace(sum by (cgroup) (${workloads(`rate(faultline_direct_reclaim_duration_seconds_sum{${SC}}[${RI}])`)}), "stall", "direct reclaim", "", "")` +
              ` or label_replace(sum by (cgroup) (${workloads(`rate(faultline_compaction_stall_duration_seconds_sum{${SC}}[${RI}])`)}), "stall", "compaction", "", "")`,
            legendFormat: '{{cgroup}} {{stall}}',
          },
        ],
        unit: 's',
      },
      {
        title: 'Compaction stalls p99',
        description: '99th percentile of one compaction run by a task (not kcompactd), by cgroup: allocations of contiguous memory waiting for the kernel to move pages.',
        targets: [
          {
            expr: `histogram_quantile(0.99, sum by (cgroup, le) (${workloads(`rate(faultline_compaction_stall_duration_seconds_bucket{${SC}}[${RI}])`)}))`,
            legendFormat: '{{cgroup}}',
          },
        ],
        unit: 's',
      },
      {
        title: 'Pages reclaimed',
        description: 'Pages per second that memcg and direct reclaim freed, by cgroup of the reclaiming task. Reclaim that runs but frees nothing (anonymous memory without swap) is the last step before an OOM kill.',
        targets: [{ expr: `sum by (cgroup, reclaim) (${workloads(`rate(faultline_reclaimed_pages_total{${SC}}[${RI}])`)})`, legendFormat: '{{cgroup}} {{reclaim}}' }],
        unit: 'ops',
      },
      {
        title: 'Memory pressure (PSI full, 10 s)',
        description: 'Share of time all runnable tasks were stalled on memory: the host (/proc/pressure/memory) and, on cgroup v2, each cgroup (memory.pressure). systemd-oomd acts at 60% over 30 s; so does FaultlineMemoryPressureFull.',
        targets: [
          {
            expr:
              `label_replace(faultline_memory_pressure_ratio{${S},kind="full",window="10s"}, "cgroup", "host", "", "")` +
              ` or ${workloads(`faultline_cgroup_memory_pressure_ratio{${SC},kind="full",window="10s"}`)}`,
            legendFormat: '{{instance}} {{cgroup}}',
          },
        ],
        unit: 'percentunit',
      },
    ],
  ],
  [
    'OOM kills',
    [
      {
        title: 'Time to OOM, by cgroup',
        description:
          'The exporter\'s own estimate, read 4 times a second: seconds until the memory each cgroup cannot reclaim (usage less its page cache) reaches its limit, at that memory\'s growth over the last 2 s. ' +
          'Only the 10 soonest under 10 minutes are drawn: +Inf (not heading for a kill) is not. FaultlineCgroupOOMImminent fires under 25 s held for 5 s.',
        targets: [{ expr: `bottomk(10, ${workloads(`faultline_cgroup_oom_eta_seconds{${SC}}`)} < 600)`, legendFormat: '{{cgroup}}' }],
        unit: 's',
      },
      {
        title: 'Unreclaimable memory growth',
        description:
          'The rate the time to OOM extrapolates: growth of each cgroup\'s unreclaimable memory (usage less page cache) over the last 2 s, the 10 fastest. A page-cache fill does not show here: reclaim frees clean cache before the OOM killer runs.',
        targets: [{ expr: `topk(10, ${workloads(`faultline_cgroup_unreclaimable_memory_growth_bytes_per_second{${SC}}`)})`, legendFormat: '{{cgroup}}' }],
        unit: 'Bps',
      },
      {
        title: 'Unreclaimable memory and working set, of the limit',
        description:
          'What led to each kill (the annotations mark them): each cgroup\'s unreclaimable memory (what the time to OOM is based on) and working set (usage less inactive file, the kubelet\'s eviction signal) as a share of its limit. ' +
          'The event log\'s oom_kill record carries the victim cgroup\'s last 30 s of the same at 1 s resolution, with fault rates, reclaim stalls and pressure (its history field).',
        targets: [
          {
            expr: workloads(`faultline_cgroup_unreclaimable_memory_bytes{${SC}} / on (instance, cgroup) faultline_cgroup_memory_limit_bytes{${SC}}`),
            legendFormat: '{{cgroup}} unreclaimable',
          },
          {
            expr: workloads(`faultline_cgroup_memory_working_set_bytes{${SC}} / on (instance, cgroup) faultline_cgroup_memory_limit_bytes{${SC}}`),
            legendFormat: '{{cgroup}} working set',
          },
        ],
        unit: 'percentunit',
        width: 24,
      },
      {
        title: 'OOM kills so far',
        description: 'OOM kills since each node\'s exporter started, by victim comm, cgroup and constraint (memcg: a cgroup limit; global: the whole host); each step up is a kill, and the dashboard\'s annotations mark each one with its victim.',
        targets: [{ expr: `sum by (comm, cgroup, constraint) (${workloads(`faultline_oom_kills_total{${SC}}`)})`, legendFormat: '{{comm}} in {{cgroup}} ({{constraint}})' }],
        unit: 'short',
        steps: true,
      },
      {
        title: 'Latest OOM victims',
        description: 'The last 10 victims of each node: pid, comm, oom_score_adj, the task whose allocation triggered the kill, the constraint, the cgroup and, on Kubernetes, pod and container. Value: time of the kill.',
        type: 'table',
        targets: [{ expr: `faultline_oom_victim_info{${SC},${NP}} * 1000`, instant: true }],
        unit: 'dateTimeAsIso',
        width: 24,
      },
      {
        title: 'OOM victims\' memory',
        description: 'Memory of the latest victims when the kernel chose them: total_vm, anon_rss, file_rss, shmem_rss, pgtables.',
        type: 'table',
        targets: [{ expr: `faultline_oom_victim_memory_bytes{${S}} and on (instance, pid) faultline_oom_victim_info{${SC},${NP}}`, instant: true }],
        unit: 'bytes',
      },
      {
        title: 'What runs in each cgroup',
        description: 'Container runtime and id, pod UID and QoS class, systemd unit parsed from each cgroup\'s path and, with --kubernetes.enabled, pod, namespace and container names.',
        type: 'table',
        targets: [{ expr: `faultline_cgroup_info{${SC},${NP}}`, instant: true }],
        unit: 'short',
      },
    ],
  ],
  [
    'Exporter health',
    [
      {
        title: 'Lost records',
        description: 'Records per second the kernel could not put in a ring buffer (fault_events for trace and the event log, oom_events): anything above 0 means trace output or the event log has gaps.',
        targets: [{ expr: `sum by (instance, ringbuf) (rate(faultline_ringbuf_lost_records_total{${S}}[${RI}]))`, legendFormat: '{{instance}} {{ringbuf}}' }],
        unit: 'ops',
      },
      {
        title: 'BPF time per page fault',
        description: 'Nanoseconds of BPF program time per page fault (the per-fault detail programs over every fault), per node. Moves only while BPF stats are on (the overhead governor, --bpf.stats or kernel.bpf_stats_enabled=1).',
        targets: [
          {
            expr:
              `sum by (instance) (rate(faultline_bpf_program_run_seconds_total{${S},program=~"page_fault_.*|fault_entry_perf|count_major_fault"}[${RI}])) * 1e9` +
              ` / sum by (instance) (rate(faultline_page_faults_total{${S}}[${RI}]))`,
            legendFormat: '{{instance}}',
          },
        ],
        unit: 'ns',
      },
      {
        title: 'BPF CPU and the overhead governor',
        description:
          'The share of one CPU faultline\'s BPF programs used (the governor\'s last half-second tick) against --bpf.cpu-budget; "detail paused" is 1 while the governor keeps the per-fault detail off (new faults count in region "other").',
        targets: [
          { expr: `faultline_bpf_cpu_usage{${S}}`, legendFormat: '{{instance}} used' },
          { expr: `faultline_bpf_cpu_budget{${S}}`, legendFormat: '{{instance}} budget' },
          { expr: `faultline_fault_detail_state{${S},state="over_budget"}`, legendFormat: '{{instance}} detail paused' },
        ],
        unit: 'short',
      },
      {
        title: 'Scrape duration',
        description: 'How long the previous scrape took (kernel map read to rendered page), and the map read alone.',
        targets: [
          { expr: `faultline_scrape_duration_seconds{${S}}`, legendFormat: '{{instance}} scrape' },
          { expr: `faultline_map_read_duration_seconds{${S}}`, legendFormat: '{{instance}} map read' },
        ],
        unit: 's',
      },
      {
        title: 'Processes tracked',
        description: 'Processes with counts in the kernel maps, against the maps\' capacity: beyond it faults still count in the totals, not per process.',
        targets: [
          { expr: `faultline_processes_tracked{${S}}`, legendFormat: '{{instance}} tracked' },
          { expr: `faultline_processes_tracked_max{${S}}`, legendFormat: '{{instance}} capacity' },
        ],
        unit: 'short',
      },
    ],
  ],
];

function variable(name: string, label: string, query: string): Json {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    query: { query, refId: `${name}-var` },
    definition: query,
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
  };
}

function panel(spec: PanelSpec, id: number, x: number, y: number): Json {
  const type = spec.type ?? 'timeseries';
  const custom: Json =
    type === 'timeseries'
      ? {
          drawStyle: 'line',
          lineInterpolation: spec.steps ? 'stepAfter' : 'linear',
          lineWidth: 1,
          fillOpacity: spec.stack ? 40 : 10,
          showPoints: 'never',
          stacking: { mode: spec.stack ? 'normal' : 'none', group: 'A' },
        }
      : {};
  return {
    id,
    type,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { h: 8, w: spec.width ?? 12, x, y },
    fieldConfig: { defaults: { unit: spec.unit ?? 'short', custom }, overrides: [] },
    options:
      type === 'timeseries'
        ? { legend: { displayMode: 'table', placement: 'bottom', calcs: ['mean', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } }
        : { showHeader: true },
    ...(type === 'table' ? { transformations: [{ id: 'labelsToFields', options: {} }] } : {}),
    targets: spec.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: t.expr,
      legendFormat: t.legendFormat ?? '__auto',
      range: !t.instant,
      instant: Boolean(t.instant),
      format: t.instant ? 'table' : 'time_series',
    })),
  };
}

/** Every panel's targets, for tests. */
export function allTargets(): { panel: string; target: Target }[] {
  return ROWS.flatMap(([, panels]) => panels.flatMap((p) => p.targets.map((target) => ({ panel: p.title, target }))));
}

export function dashboard(): Json {
  const panels: Json[] = [];
  let id = 1;
  let y = 0;
  for (const [title, specs] of ROWS) {
    panels.push({ id: id++, type: 'row', title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y: y++ }, panels: [] });
    let x = 0;
    for (const spec of specs) {
      const w = spec.width ?? 12;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      panels.push(panel(spec, id++, x, y));
      x += w;
    }
    y += 8;
  }
  return {
    __inputs: [{ name: 'DS_PROMETHEUS', label: 'Prometheus', description: 'The Prometheus that scrapes faultline', type: 'datasource', pluginId: 'prometheus', pluginName: 'Prometheus' }],
    __elements: {},
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
      { type: 'panel', id: 'timeseries', name: 'Time series', version: '' },
      { type: 'panel', id: 'table', name: 'Table', version: '' },
    ],
    uid: 'faultline',
    title: 'faultline: page faults, memory stalls and OOM kills',
    description: `Demand paging and the OOM killer as they happen, from faultline (eBPF). Page faults by type, region, process and cgroup; reclaim and compaction stalls, headroom and PSI before the OOM killer; OOM kills with their victims; the exporter's own health.`,
    tags: ['faultline', 'ebpf', 'memory', 'oom'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    timezone: '',
    links: [],
    annotations: {
      list: [
        {
          // One annotation per victim at its kill time: the series' value is the kill's Unix time.
          name: 'OOM kills',
          enable: true,
          iconColor: 'red',
          datasource: DATASOURCE,
          expr: `faultline_oom_victim_info{${S}} * 1000`,
          useValueForTime: true,
          titleFormat: 'OOM kill: {{comm}} (pid {{pid}})',
          textFormat: 'in {{cgroup}} ({{constraint}}), triggered by {{trigger_comm}} (pid {{trigger_pid}})',
          tagKeys: 'comm,constraint',
          step: '30s',
        },
      ],
    },
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: { selected: false, text: '${DS_PROMETHEUS}', value: '${DS_PROMETHEUS}' },
          hide: 0,
          refresh: 1,
        },
        // cluster: the label a multi-cluster Prometheus (or its remote-write receiver) adds; matches everything where there is none.
        variable('cluster', 'Cluster', 'label_values(faultline_build_info, cluster)'),
        variable('job', 'Job', 'label_values(faultline_build_info{cluster=~"$cluster"}, job)'),
        variable('instance', 'Instance', 'label_values(faultline_build_info{cluster=~"$cluster",job=~"$job"}, instance)'),
        variable('node', 'Node', 'label_values(faultline_build_info{cluster=~"$cluster",job=~"$job",instance=~"$instance"}, node)'),
        variable('namespace', 'Namespace', 'label_values(faultline_cgroup_info{cluster=~"$cluster",job=~"$job",instance=~"$instance"}, namespace)'),
        variable('pod', 'Pod', 'label_values(faultline_cgroup_info{cluster=~"$cluster",job=~"$job",instance=~"$instance",namespace=~"$namespace"}, pod)'),
        variable('cgroup', 'Cgroup', 'label_values(faultline_cgroup_page_faults_total{cluster=~"$cluster",job=~"$job",instance=~"$instance"}, cgroup)'),
      ],
    },
    panels,
  };
}
