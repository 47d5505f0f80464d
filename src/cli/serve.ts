/** `faultline serve`: the exporter. */
import { availableParallelism } from 'node:os';
import { CgroupNames } from '../aggregate/cgroups.js';
import { KubePods } from '../aggregate/kube-pods.js';
import { COLLECTORS, FaultlineState, packageVersion, type CollectorName } from '../aggregate/state.js';
import { FaultlineError } from '../bpf/errors.js';
import { KmsgOomReports } from '../bpf/kmsg.js';
import { adoptBpfStats, bpfStatsOnHostWide, enableBpfStats } from '../bpf/libbpf.js';
import { DEFAULT_THREAD_SLOTS, Probe } from '../bpf/probe.js';
import { DEFAULT_LIMITS, bind, createApp, parseListenAddress, webGuard } from '../expose/http.js';
import { createExposition, createFamilies } from '../expose/metrics.js';
import { OtlpConfigError, resolveOtlpConfig, type OtlpConfig } from '../expose/otlp-config.js';
import { BPF_FLAGS, DRAIN_BATCH, bpfFlags, onShutdown, reportFallbacks, startDraining } from './common.js';
import { EventLog } from '../deliver/event-log.js';
import { formatJson, oomKillExtras, pageFaultExtras } from '../deliver/trace-format.js';
import { byteSize, collectorOn, durationSeconds, flagHelp, fraction, oneOf, parseFlags, positiveInt, powerOfTwo, processId, wholeNumber, type FlagSpecs } from './flags.js';
import { startGovernor } from './governor.js';
import { dropCapabilities } from './least-privilege.js';
import { requireBpfCapabilities } from './preflight.js';

export const DEFAULT_PORT = 10190;

/** The most processes or groups a flag may ask for: beyond it a scrape would be hundreds of MB. */
const MAX_SERIES_BOUND = 1_000_000;

/** --event-log.max-size: 0 (never rotate) or at least 4 KiB, so that a file holds more than a record or two. */
function eventLogSize(bytes: number): number {
  if (bytes !== 0 && bytes < 4096) throw new FaultlineError('BAD_FLAG', `--event-log.max-size ${bytes} bytes is below 4KiB (0: never rotate)`);
  return bytes;
}

export const SERVE_FLAGS: FlagSpecs = {
  'web.listen-address': { type: 'string', value: 'HOST:PORT', help: 'Address to serve metrics on', default: `0.0.0.0:${DEFAULT_PORT}` },
  'web.telemetry-path': { type: 'string', value: 'PATH', help: 'Path of the metrics page', default: '/metrics' },
  'web.config.file': {
    type: 'string',
    value: 'PATH',
    help: 'TLS and basic authentication, in the Prometheus exporter-toolkit web configuration format (re-read when it changes)',
  },
  'web.max-requests': { type: 'string', value: 'N', help: 'At most N scrapes in flight (they share one render); beyond, 503. 0: no limit', default: '256' },
  'web.max-connections': { type: 'string', value: 'N', help: 'At most N open connections; beyond, new ones are closed', default: String(DEFAULT_LIMITS.maxConnections) },
  'processes.max': { type: 'string', value: 'N', help: 'Export per-process series for at most N processes, the busiest by recent fault rate', default: '100' },
  'processes.exit-grace': { type: 'string', value: 'DURATION', help: 'Keep an exited process this long so its final count gets scraped', default: '60s' },
  'cgroups.hierarchy': {
    type: 'string',
    value: 'NAME',
    help: 'Name cgroups by the memory hierarchy (v1 memory where memory is on v1, else v2) or always by the unified (v2) one',
    default: 'memory',
  },
  'groups.max': { type: 'string', value: 'N', help: 'Keep exited processes\' counts for at most N comms and N cgroups; older ones fold into "[other]"', default: '1000' },
  'processes.rate-window': { type: 'string', value: 'DURATION', help: 'Time constant of the decayed fault rate that ranks processes', default: '2m' },
  'event-log': { type: 'string', value: 'PATH', help: 'Write OOM kills (always) and the page faults of --event-log.pid processes as NDJSON to PATH (- for stdout)' },
  'event-log.pid': { type: 'string', value: 'PID', multiple: true, help: 'Log the page faults of this process (filtered in the kernel; up to 64)' },
  'event-log.comm': { type: 'string', value: 'COMM', help: 'Log the page faults of threads with this comm (filtered in the kernel)' },
  'event-log.cgroup': { type: 'string', value: 'PATH', help: 'Log the page faults of processes in this cgroup (a path as /metrics names it; filtered in the kernel)' },
  'event-log.sample': { type: 'string', value: 'N', help: 'Log 1 in N of the page faults that pass the filters', default: '1' },
  'event-log.max-size': { type: 'string', value: 'SIZE', help: 'Rotate the event log file at this size (0: never)', default: '100MiB' },
  'event-log.max-files': { type: 'string', value: 'N', help: 'Keep this many event log files in all (PATH, PATH.1, …)', default: '5' },
  'kubernetes.enabled': { type: 'boolean', help: 'Name pods, namespaces and containers through the Kubernetes API (watches this node\'s pods)' },
  'kubernetes.node-name': { type: 'string', value: 'NAME', help: 'This node\'s name, for --kubernetes.enabled (default: $NODE_NAME)' },
  'kubernetes.kubeconfig': { type: 'string', value: 'PATH', help: 'A kubeconfig for --kubernetes.enabled (default: the in-cluster service account)' },
  'keep-capabilities': {
    type: 'boolean',
    help: 'Keep every capability it started with. By default it opens what needs more, then re-executes itself with CAP_BPF and CAP_PERFMON only, and no_new_privs',
  },
  'bpf.stats': { type: 'boolean', help: 'Turn on the kernel\'s BPF run-time statistics while faultline runs (costs ~20 ns per program run)' },
  'otlp.endpoint': { type: 'string', value: 'URL', help: 'Push metrics over OTLP to this base endpoint (…/v1/metrics is added for HTTP); default $OTEL_EXPORTER_OTLP_ENDPOINT. Off when neither this nor --otlp.metrics-endpoint is set' },
  'otlp.metrics-endpoint': { type: 'string', value: 'URL', help: 'Push metrics over OTLP to exactly this URL; default $OTEL_EXPORTER_OTLP_METRICS_ENDPOINT' },
  'otlp.protocol': { type: 'string', value: 'PROTOCOL', help: 'http/protobuf, http/json or grpc; default $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf' },
  'otlp.header': { type: 'string', value: 'KEY=VALUE', multiple: true, help: 'A header on every export (repeatable); added to $OTEL_EXPORTER_OTLP_HEADERS' },
  'otlp.interval': { type: 'string', value: 'DURATION', help: 'Export this often; default $OTEL_METRIC_EXPORT_INTERVAL (ms), else 60s' },
  'otlp.timeout': { type: 'string', value: 'DURATION', help: 'Give up on one export (retries included) after this; default $OTEL_EXPORTER_OTLP_TIMEOUT (ms), else 10s' },
  'otlp.temporality': { type: 'string', value: 'NAME', help: 'cumulative, delta or lowmemory; default $OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, else cumulative' },
  'otlp.resource-attribute': { type: 'string', value: 'KEY=VALUE', multiple: true, help: 'A resource attribute (repeatable); added to $OTEL_RESOURCE_ATTRIBUTES' },
  'otlp.service-name': { type: 'string', value: 'NAME', help: 'service.name; default $OTEL_SERVICE_NAME, else faultline' },
  ...collectorFlags({
    'fault-detail':
      'one program per fault entry settles each fault into its region (heap, stack, anon, file) and counts access types. ' +
      'Off: no program runs per fault; the counts stay exact, all in region "other"',
    processes: 'per-process series (faultline_process_page_faults_total); off is --processes.max=0. Comm, cgroup and host counts stay',
    oom: 'OOM kills (oom/mark_victim, and /dev/kmsg for the constraint): faultline_oom_kills_total and the victims\' details',
    stalls: 'reclaim and compaction stall histograms by cgroup (six vmscan/compaction tracepoints)',
    headroom: 'each busy cgroup\'s memory usage, limit, events and pressure, and the host\'s pressure (cgroup files read at each scrape)',
  }),
  'bpf.cpu-budget': {
    type: 'string',
    value: 'CPUS',
    help:
      'The overhead governor: when faultline\'s BPF programs use more than this fraction of one CPU (from the kernel\'s BPF run-time statistics, ' +
      'held on while faultline runs), the per-fault detail pauses until the host\'s fault rate would keep it under half the budget; the counts stay exact. 0: no governor',
    default: '0.1',
  },
  'bpf.thread-slots': {
    type: 'string',
    value: 'N',
    help: 'Threads whose fault records sit in a directly indexed kernel array (a power of two; 168 bytes each); threads beyond it use task storage, ~50 ns more per fault',
    default: String(DEFAULT_THREAD_SLOTS),
  },
  'maps.refresh-interval': { type: 'string', value: 'DURATION', help: 'Also read the kernel maps this often between scrapes, to fold exited processes', default: '10s' },
  ...BPF_FLAGS,
};

/** --collector.NAME and --no-collector.NAME for each collector, on by default. */
function collectorFlags(help: Record<CollectorName, string>): FlagSpecs {
  const out: FlagSpecs = {};
  for (const name of COLLECTORS) {
    out[`collector.${name}`] = { type: 'boolean', help: `On by default: ${help[name]}` };
    out[`no-collector.${name}`] = { type: 'boolean', help: `Turn the ${name} collector off` };
  }
  return out;
}

export const SERVE_HELP = `Usage: faultline [serve] [flags]

Loads faultline's BPF programs and serves page-fault and OOM-kill metrics
for Prometheus. Needs root (or CAP_BPF and CAP_PERFMON).

Flags:
${flagHelp(SERVE_FLAGS)}
`;

/** Resource attributes of the pod faultline runs in, from the downward API's variables (the Helm chart sets them). */
function kubernetesResource(nodeFlag: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const node = nodeFlag ?? process.env.NODE_NAME;
  if (node) out['k8s.node.name'] = node;
  if (process.env.POD_NAME) out['k8s.pod.name'] = process.env.POD_NAME;
  if (process.env.POD_NAMESPACE) out['k8s.namespace.name'] = process.env.POD_NAMESPACE;
  if (process.env.POD_UID) out['k8s.pod.uid'] = process.env.POD_UID;
  if (process.env.POD_NAME) out['service.instance.id'] = process.env.POD_NAME;
  return out;
}

export async function serve(argv: string[]): Promise<void> {
  const flags = parseFlags('serve', SERVE_FLAGS, argv);
  if (flags.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  const address = parseListenAddress(String(flags['web.listen-address']));
  const telemetryPath = String(flags['web.telemetry-path']);
  if (!/^\/[A-Za-z0-9._~/-]{1,200}$/.test(telemetryPath) || telemetryPath === '/healthz') {
    throw new FaultlineError('BAD_FLAG', `--web.telemetry-path ${JSON.stringify(telemetryPath)} must be a path such as /metrics (letters, digits, . _ ~ - /), not / or /healthz`);
  }
  const collectors = Object.fromEntries(COLLECTORS.map((c) => [c, collectorOn(flags, c)])) as Record<CollectorName, boolean>;
  const faultDetail = collectors['fault-detail'];
  const cpuBudget = fraction('bpf.cpu-budget', flags['bpf.cpu-budget'], availableParallelism());
  const threadSlots = powerOfTwo('bpf.thread-slots', flags['bpf.thread-slots'], 1 << 22);
  const options = {
    maxProcesses: collectors.processes ? wholeNumber('processes.max', flags['processes.max'], MAX_SERIES_BOUND) : 0,
    maxGroups: positiveInt('groups.max', flags['groups.max'], 'a whole number', MAX_SERIES_BOUND),
    cgroupHierarchy: oneOf('cgroups.hierarchy', flags['cgroups.hierarchy'], ['memory', 'unified'] as const),
    exitGraceNs: BigInt(Math.round(durationSeconds('processes.exit-grace', flags['processes.exit-grace'], 0) * 1e9)),
    rateWindowNs: BigInt(Math.round(durationSeconds('processes.rate-window', flags['processes.rate-window'], 1) * 1e9)),
  };
  // A floor of 100 ms: each refresh reads every kernel map and walks every thread (~15 ms on a small host).
  const refreshMs = durationSeconds('maps.refresh-interval', flags['maps.refresh-interval'], 0.1) * 1000;
  const bpf = bpfFlags(flags);
  const eventLogPath = flags['event-log'] === undefined ? null : String(flags['event-log']);
  const loggedPids = ((flags['event-log.pid'] as string[] | undefined) ?? []).map((p) => processId('event-log.pid', p));
  const loggedComm = flags['event-log.comm'] === undefined ? undefined : String(flags['event-log.comm']);
  const loggedCgroup = flags['event-log.cgroup'] === undefined ? undefined : String(flags['event-log.cgroup']);
  const sampleEvery = positiveInt('event-log.sample', flags['event-log.sample']);
  const logsFaults = loggedPids.length > 0 || loggedComm !== undefined || loggedCgroup !== undefined;
  if (logsFaults && eventLogPath === null) {
    throw new FaultlineError('BAD_FLAG', '--event-log.pid, .comm and .cgroup need --event-log PATH (or - for stdout)');
  }
  if (loggedComm !== undefined && (loggedComm === '' || Buffer.byteLength(loggedComm) > 15)) {
    throw new FaultlineError('BAD_FLAG', `--event-log.comm ${JSON.stringify(loggedComm)} must be 1 to 15 bytes, as the kernel keeps comms`);
  }
  let cgroupFilter: { id: bigint; memcg: boolean } | undefined;
  if (loggedCgroup !== undefined) {
    try {
      cgroupFilter = new CgroupNames(undefined, options.cgroupHierarchy).idOfPath(loggedCgroup);
    } catch (err) {
      throw new FaultlineError('BAD_FLAG', `--event-log.cgroup: ${(err as Error).message}`);
    }
  }
  const logOptions = {
    maxSizeBytes: eventLogSize(byteSize('event-log.max-size', flags['event-log.max-size'])),
    maxFiles: positiveInt('event-log.max-files', flags['event-log.max-files'], 'a whole number', 1000),
  };
  let otlpConfig: OtlpConfig | null;
  try {
    otlpConfig = resolveOtlpConfig(
      {
        endpoint: flags['otlp.endpoint'] as string | undefined,
        metricsEndpoint: flags['otlp.metrics-endpoint'] as string | undefined,
        protocol: flags['otlp.protocol'] as string | undefined,
        headers: flags['otlp.header'] as string[] | undefined,
        intervalSeconds: flags['otlp.interval'] === undefined ? undefined : durationSeconds('otlp.interval', flags['otlp.interval'], 1),
        timeoutSeconds: flags['otlp.timeout'] === undefined ? undefined : durationSeconds('otlp.timeout', flags['otlp.timeout'], 0.1),
        temporality: flags['otlp.temporality'] as string | undefined,
        resourceAttributes: flags['otlp.resource-attribute'] as string[] | undefined,
        serviceName: flags['otlp.service-name'] as string | undefined,
      },
      process.env,
    );
  } catch (err) {
    if (err instanceof OtlpConfigError) throw new FaultlineError('BAD_FLAG', err.message);
    throw err;
  }
  const maxRequests = wholeNumber('web.max-requests', flags['web.max-requests'], 10_000);
  const maxConnections = positiveInt('web.max-connections', flags['web.max-connections'], 'a whole number', 100_000);
  requireBpfCapabilities();
  const guard = webGuard(flags['web.config.file'] === undefined ? null : String(flags['web.config.file']), (line) => process.stderr.write(`faultline: ${line}\n`));
  let governs = faultDetail && cpuBudget > 0;
  // Everything it needs beyond CAP_BPF and CAP_PERFMON is a descriptor opened here; then it runs without it.
  const inherited = dropCapabilities({
    keepAll: flags['keep-capabilities'] === true,
    port: address.port,
    readsTracefs: !(bpf.tracepoints === 'tp_btf' && bpf.faultHook === 'perf-event' && !collectors.stalls),
    kmsg: collectors.oom,
    bpfStats: flags['bpf.stats'] === true || governs,
    log: (line) => process.stderr.write(`faultline: ${line}\n`),
  });
  // The port first: one in use is found before anything is loaded into the kernel.
  const bound = await bind(address, { ...DEFAULT_LIMITS, maxConnections }, guard);

  // The governor measures the programs' own run time: the statistics stay on while faultline runs.
  let bpfStats = inherited['bpf-stats'] !== undefined ? adoptBpfStats(inherited['bpf-stats']) : flags['bpf.stats'] ? enableBpfStats() : null;
  if (governs && !bpfStats) {
    try {
      bpfStats = enableBpfStats();
    } catch (err) {
      // Without CAP_SYS_ADMIN the statistics cannot be held; they may be on host-wide already.
      if (!bpfStatsOnHostWide()) {
        governs = false;
        process.stderr.write(
          `faultline: the overhead governor is off: ${(err as Error).message}; grant CAP_SYS_ADMIN, set kernel.bpf_stats_enabled=1, or pass --bpf.cpu-budget=0 to silence this\n`,
        );
      }
    }
  }
  let state: FaultlineState | null = null;
  let eventLog: EventLog | null = null;
  if (eventLogPath !== null) {
    try {
      eventLog = new EventLog({ path: eventLogPath, ...logOptions, onError: (m) => process.stderr.write(`faultline: ${m}\n`) });
    } catch (err) {
      throw new FaultlineError('EVENT_LOG', `cannot open the event log ${eventLogPath}: ${(err as Error).message}`);
    }
  }
  const kmsg = collectors.oom ? new KmsgOomReports(undefined, inherited.kmsg) : null;
  if (kmsg?.unavailable) process.stderr.write(`faultline: cannot read the kernel log (${kmsg.unavailable}): OOM kills will have constraint="unknown"\n`);
  const probe = Probe.start({
    objectPath: bpf.objectPath,
    tracepoints: bpf.tracepoints,
    faultHook: bpf.faultHook,
    faultRingBytes: bpf.faultRingBytes,
    countFaults: true,
    faultDetail,
    oom: collectors.oom,
    stalls: collectors.stalls,
    threadSlots,
    trace: {
      pids: loggedPids,
      ...(loggedComm !== undefined ? { comm: loggedComm } : {}),
      ...(cgroupFilter ? { cgroup: cgroupFilter } : {}),
      sampleEvery,
    },
    onOomKill: (kill) => {
      const s = state;
      if (!s) return;
      s.attempt('oom', () => {
        s.recordOomKill(kill, kmsg?.take(kill.pid)?.constraint);
        const recorded = s.oomKills.recent().at(-1)!;
        eventLog?.write(formatJson(kill, oomKillExtras(kill, { ...recorded.labels, ...recorded.names })));
      });
    },
    onPageFault: (fault) => eventLog?.write(formatJson(fault, pageFaultExtras(fault, state?.cgroups.pathOf(fault)))),
  });
  state = new FaultlineState(probe, options);
  state.bpfStatsHeld = bpfStats !== null;
  state.collectors = collectors;
  const governor = governs ? startGovernor(probe, cpuBudget, (line) => process.stderr.write(`faultline: ${line}\n`)) : null;
  state.governor = governor?.governor ?? null;
  state.eventLog = eventLog?.stats ?? null;
  state.eventLogSampleEvery = logsFaults ? sampleEvery : 0;
  if (flags['kubernetes.enabled']) {
    try {
      state.pods = await KubePods.start({
        nodeName: String(flags['kubernetes.node-name'] ?? process.env.NODE_NAME ?? ''),
        ...(flags['kubernetes.kubeconfig'] ? { kubeconfig: String(flags['kubernetes.kubeconfig']) } : {}),
      });
    } catch (err) {
      governor?.stop();
      probe.close();
      if (err instanceof FaultlineError) throw err;
      throw new FaultlineError('KUBERNETES', `cannot watch this node's pods: ${(err as Error).message}; check --kubernetes.kubeconfig and the service account`);
    }
  }
  const liveState = state;
  const families = createFamilies(liveState);
  const app = createApp(
    createExposition(liveState, families),
    {
      telemetryPath,
      beforeScrape: () => {
        probe.drain(DRAIN_BATCH); // OOM kills up to now; page-fault records are the drain loop's
        liveState.refresh();
      },
      afterScrape: (seconds) => (liveState.lastScrapeSeconds = seconds),
      maxRequests,
      health: () => liveState.health(),
    },
    packageVersion(),
    guard,
  );
  bound.use(app);
  const server = bound.server;
  // Page-fault logging drains often (the ring holds ~43,000 records); OOM kills alone, 10 times a second.
  const stopDraining = startDraining((max) => probe.drain(max), () => eventLog?.flush(), logsFaults ? 5 : 100);
  const housekeeping = setInterval(() => liveState.refresh(), refreshMs);
  housekeeping.unref();
  let otlp: { shutdown(): Promise<void> } | null = null;
  if (otlpConfig) {
    const { OtlpPush } = await import('../expose/otlp.js');
    liveState.otlp = { success: 0, failure: 0 };
    try {
      otlp = new OtlpPush({
        config: otlpConfig,
        families,
        refresh: () => {
          probe.drain(DRAIN_BATCH);
          liveState.refresh();
        },
        stats: liveState.otlp,
        version: packageVersion(),
        detected: kubernetesResource(flags['kubernetes.node-name'] as string | undefined),
      });
    } catch (err) {
      throw new FaultlineError('OTLP', `cannot set up the OTLP exporter: ${(err as Error).message}; check the --otlp.* flags and OTEL_* variables`);
    }
    process.stderr.write(
      `faultline: pushing metrics over OTLP (${otlpConfig.protocol}, ${otlpConfig.temporality}) to ${otlpConfig.url} every ${otlpConfig.intervalMs / 1000} s\n`,
    );
  }
  reportFallbacks(probe.fallbacks);
  const programs = probe.programs.map((p) => p.attachPoint).join(', ');
  const local = server.address();
  const port = typeof local === 'object' && local ? local.port : address.port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  process.stderr.write(
    `faultline: serving ${bound.tls ? 'https' : 'http'}://${host}:${port}${telemetryPath} (${probe.describeTracepoints()}, fault hook ${probe.faultHook}` +
      `${probe.faultDetail ? (governor ? `, fault detail governed by --bpf.cpu-budget=${cpuBudget}` : '') : ', fault-detail off'}; attached ${programs})\n`,
  );
  const listening = server;
  onShutdown(async () => {
    clearInterval(housekeeping);
    stopDraining();
    governor?.stop();
    // A last export, bounded: a receiver that is down must not hold shutdown open.
    if (otlp) await Promise.race([otlp.shutdown().catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
    const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
    // Connections kept alive by scrapers must not hold shutdown open.
    listening.closeAllConnections();
    await closed;
    const lost = probe.readLostRecords();
    probe.close(); // drains what is left
    kmsg?.close();
    bpfStats?.close();
    await liveState.pods?.stop();
    if (eventLog) {
      await eventLog.close();
      const s = eventLog.stats;
      process.stderr.write(
        `faultline: event log: ${s.records} records written; dropped ${s.droppedBacklog} (writer behind) and ${s.droppedWriteError} (write errors); ` +
          `the kernel could not take ${lost.fault_events} page-fault and ${lost.oom_events} OOM records\n`,
      );
    }
  });
}
