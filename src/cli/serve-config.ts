/**
 * `faultline serve`'s configuration: its flags, declared once with type,
 * default and help, parsed and validated into one typed object. Every check
 * that can fail on what a user typed runs here, before anything is loaded.
 */
import { availableParallelism } from 'node:os';
import { CgroupNames, type CgroupHierarchy } from '../readers/cgroups.js';
import { COLLECTORS, type CollectorName } from '../core/feature.js';
import { FaultlineError } from '../errors.js';
import { DEFAULT_THREAD_SLOTS } from '../bpf/probe.js';
import { DEFAULT_LIMITS, parseListenAddress, type ListenAddress } from '../expose/http.js';
import { OtlpConfigError, resolveOtlpConfig, type OtlpConfig } from '../expose/otlp-config.js';
import { BPF_FLAGS, GENERAL_FLAGS, bpfFlags, type BpfFlags } from './common.js';
import {
  booleanFlag,
  byteSize,
  collectorOn,
  durationSeconds,
  flagHelp,
  fraction,
  listFlag,
  oneOf,
  parseFlags,
  positiveInt,
  powerOfTwo,
  processId,
  stringFlag,
  wholeNumber,
  type FlagSpecs, type ParsedFlags } from './flags.js';

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
    'oom-eta': 'time to OOM for each busy cgroup with a memory limit (its usage, limit and file pages read 4 times a second)',
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
  ...GENERAL_FLAGS,
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

${flagHelp(SERVE_FLAGS)}
`;

/** What --event-log and its filters ask for. */
export interface EventLogConfig {
  readonly path: string;
  readonly maxSizeBytes: number;
  readonly maxFiles: number;
  /** Processes whose page faults are logged (filtered in the kernel). */
  readonly pids: readonly number[];
  readonly comm?: string;
  readonly cgroup?: { readonly id: bigint; readonly memcg: boolean };
  /** 1 in how many of the faults that pass the filters. */
  readonly sampleEvery: number;
  /** Whether any page faults are logged (else OOM kills only). */
  readonly logsFaults: boolean;
}

export interface ServeConfig {
  readonly address: ListenAddress;
  readonly telemetryPath: string;
  readonly webConfigFile: string | null;
  readonly maxRequests: number;
  readonly maxConnections: number;
  readonly collectors: Readonly<Record<CollectorName, boolean>>;
  /** --bpf.cpu-budget, a fraction of one CPU; 0: no governor. */
  readonly cpuBudget: number;
  readonly threadSlots: number;
  readonly state: {
    readonly maxProcesses: number;
    readonly maxGroups: number;
    readonly cgroupHierarchy: CgroupHierarchy;
    readonly exitGraceNs: bigint;
    readonly rateWindowNs: bigint;
  };
  readonly refreshMs: number;
  readonly bpf: BpfFlags;
  /** --bpf.stats: hold the kernel's BPF run-time statistics on. */
  readonly bpfStats: boolean;
  readonly keepCapabilities: boolean;
  /** null: no --event-log. */
  readonly eventLog: EventLogConfig | null;
  /** null: no OTLP push. */
  readonly otlp: OtlpConfig | null;
  /** null: --kubernetes.enabled is off. */
  readonly kubernetes: { readonly nodeName: string; readonly kubeconfig?: string } | null;
  /** This node's name (--kubernetes.node-name, else $NODE_NAME), for OTLP's resource. */
  readonly nodeName: string | undefined;
}

/** The configuration `argv` asks for, or null for --help. Throws FaultlineError('BAD_FLAG') with one line on bad input. */
export function parseServeConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig | null {
  const flags = parseFlags('serve', SERVE_FLAGS, argv);
  return flags.help || flags.version ? null : serveConfigOf(flags, env);
}

/** The configuration the parsed flags ask for (--help and --version already handled). */
export function serveConfigOf(flags: ParsedFlags, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const address = parseListenAddress(stringFlag(flags, 'web.listen-address') ?? '');
  const telemetryPath = stringFlag(flags, 'web.telemetry-path') ?? '';
  if (!/^\/[A-Za-z0-9._~/-]{1,200}$/.test(telemetryPath) || telemetryPath === '/healthz') {
    throw new FaultlineError('BAD_FLAG', `--web.telemetry-path ${JSON.stringify(telemetryPath)} must be a path such as /metrics (letters, digits, . _ ~ - /), not / or /healthz`);
  }
  const collectors = Object.fromEntries(COLLECTORS.map((c) => [c, collectorOn(flags, c)])) as Record<CollectorName, boolean>;
  const cpuBudget = fraction('bpf.cpu-budget', flags['bpf.cpu-budget'], availableParallelism());
  const threadSlots = powerOfTwo('bpf.thread-slots', flags['bpf.thread-slots'], 1 << 22);
  const state = {
    maxProcesses: collectors.processes ? wholeNumber('processes.max', flags['processes.max'], MAX_SERIES_BOUND) : 0,
    maxGroups: positiveInt('groups.max', flags['groups.max'], 'a whole number', MAX_SERIES_BOUND),
    cgroupHierarchy: oneOf('cgroups.hierarchy', flags['cgroups.hierarchy'], ['memory', 'unified'] as const),
    exitGraceNs: BigInt(Math.round(durationSeconds('processes.exit-grace', flags['processes.exit-grace'], 0) * 1e9)),
    rateWindowNs: BigInt(Math.round(durationSeconds('processes.rate-window', flags['processes.rate-window'], 1) * 1e9)),
  };
  // A floor of 100 ms: each refresh reads every kernel map and walks every thread (~15 ms on a small host).
  const refreshMs = durationSeconds('maps.refresh-interval', flags['maps.refresh-interval'], 0.1) * 1000;
  const bpf = bpfFlags(flags);
  const eventLog = eventLogConfig(flags, state.cgroupHierarchy);
  let otlp: OtlpConfig | null;
  try {
    const interval = flags['otlp.interval'];
    const timeout = flags['otlp.timeout'];
    otlp = resolveOtlpConfig(
      {
        endpoint: stringFlag(flags, 'otlp.endpoint'),
        metricsEndpoint: stringFlag(flags, 'otlp.metrics-endpoint'),
        protocol: stringFlag(flags, 'otlp.protocol'),
        headers: listFlag(flags, 'otlp.header'),
        intervalSeconds: interval === undefined ? undefined : durationSeconds('otlp.interval', interval, 1),
        timeoutSeconds: timeout === undefined ? undefined : durationSeconds('otlp.timeout', timeout, 0.1),
        temporality: stringFlag(flags, 'otlp.temporality'),
        resourceAttributes: listFlag(flags, 'otlp.resource-attribute'),
        serviceName: stringFlag(flags, 'otlp.service-name'),
      },
      env,
    );
  } catch (err) {
    if (err instanceof OtlpConfigError) throw new FaultlineError('BAD_FLAG', err.message);
    throw err;
  }
  const maxRequests = wholeNumber('web.max-requests', flags['web.max-requests'], 10_000);
  const maxConnections = positiveInt('web.max-connections', flags['web.max-connections'], 'a whole number', 100_000);
  const nodeName = stringFlag(flags, 'kubernetes.node-name') ?? env.NODE_NAME;
  const kubeconfig = stringFlag(flags, 'kubernetes.kubeconfig');
  return {
    address,
    telemetryPath,
    webConfigFile: stringFlag(flags, 'web.config.file') ?? null,
    maxRequests,
    maxConnections,
    collectors,
    cpuBudget,
    threadSlots,
    state,
    refreshMs,
    bpf,
    bpfStats: booleanFlag(flags, 'bpf.stats'),
    keepCapabilities: booleanFlag(flags, 'keep-capabilities'),
    eventLog,
    otlp,
    kubernetes: booleanFlag(flags, 'kubernetes.enabled') ? { nodeName: nodeName ?? '', ...(kubeconfig ? { kubeconfig } : {}) } : null,
    nodeName,
  };
}

function eventLogConfig(flags: ReturnType<typeof parseFlags>, hierarchy: CgroupHierarchy): EventLogConfig | null {
  const path = stringFlag(flags, 'event-log');
  const pids = (listFlag(flags, 'event-log.pid') ?? []).map((p) => processId('event-log.pid', p));
  const comm = stringFlag(flags, 'event-log.comm');
  const cgroupPath = stringFlag(flags, 'event-log.cgroup');
  const sampleEvery = positiveInt('event-log.sample', flags['event-log.sample']);
  const logsFaults = pids.length > 0 || comm !== undefined || cgroupPath !== undefined;
  if (logsFaults && path === undefined) {
    throw new FaultlineError('BAD_FLAG', '--event-log.pid, .comm and .cgroup need --event-log PATH (or - for stdout)');
  }
  if (comm !== undefined && (comm === '' || Buffer.byteLength(comm) > 15)) {
    throw new FaultlineError('BAD_FLAG', `--event-log.comm ${JSON.stringify(comm)} must be 1 to 15 bytes, as the kernel keeps comms`);
  }
  let cgroup: { id: bigint; memcg: boolean } | undefined;
  if (cgroupPath !== undefined) {
    try {
      cgroup = new CgroupNames(undefined, hierarchy).idOfPath(cgroupPath);
    } catch (err) {
      throw new FaultlineError('BAD_FLAG', `--event-log.cgroup: ${(err as Error).message}`);
    }
  }
  const maxSizeBytes = eventLogSize(byteSize('event-log.max-size', flags['event-log.max-size']));
  const maxFiles = positiveInt('event-log.max-files', flags['event-log.max-files'], 'a whole number', 1000);
  if (path === undefined) return null;
  return { path, maxSizeBytes, maxFiles, pids, ...(comm !== undefined ? { comm } : {}), ...(cgroup ? { cgroup } : {}), sampleEvery, logsFaults };
}
