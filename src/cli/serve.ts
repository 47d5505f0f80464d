/** `faultline serve`: the exporter, wired from its configuration (serve-config.ts). */
import { FaultlineState, type FaultlineStateOptions } from '../core/state.js';
import { packageVersion } from '../version.js';
import { KubePods } from '../readers/kube-pods.js';
import { readCgroupMemoryRows, readHostPressure } from '../readers/memory-headroom.js';
import { CgroupNames } from '../readers/cgroups.js';
import { processAlive, readMaps } from '../readers/procfs.js';
import { FaultlineError } from '../errors.js';
import { KmsgOomReports } from '../features/oom/kmsg.js';
import { oomRecords } from '../features/oom/decode.js';
import { FaultMaps } from '../features/faults/reader.js';
import { StallMaps } from '../features/stalls/reader.js';
import { faultRecordsBy } from '../features/trace/decode.js';
import { EtaSampler, SAMPLE_INTERVAL_MS } from '../features/oom-eta/sampler.js';
import { FlightRecorder } from '../features/oom-eta/flight-recorder.js';
import { reclaimStallSeconds } from '../features/stalls/stall-table.js';
import { adoptBpfStats, bpfStatsOnHostWide, enableBpfStats, libbpfVersion } from '../bpf/libbpf.js';
import { Probe } from '../bpf/probe.js';
import { DEFAULT_LIMITS, bind, createApp, webGuard } from '../expose/http.js';
import { createExposition, createFamilies } from '../expose/metrics.js';
import type { OtlpStats } from '../expose/otlp.js';
import { DRAIN_BATCH, generalFlags, onShutdown, reportFallbacks, startDraining } from './common.js';
import { parseFlags } from './flags.js';
import { log } from '../log.js';
import { EventLog } from '../deliver/event-log.js';
import { formatJson, oomKillExtras, pageFaultExtras } from '../deliver/trace-format.js';
import { startGovernor } from './governor.js';
import { LiveHub } from '../features/trace/live-hub.js';
import { LiveWatch } from '../features/trace/live-watch.js';
import { addWebPages, type WebPages } from '../expose/web/routes.js';
import { dropCapabilities } from './least-privilege.js';
import { requireBpfCapabilities } from './preflight.js';
import { SERVE_FLAGS, SERVE_HELP, serveConfigOf } from './serve-config.js';

/** The web page's files (web/ in the package; dist/cli/serve.js is two levels below it). */
const WEB_ASSETS = new URL('../../web/', import.meta.url);

/** Resource attributes of the pod faultline runs in, from the downward API's variables (the Helm chart sets them). */
function kubernetesResource(node: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (node) out['k8s.node.name'] = node;
  if (process.env.POD_NAME) out['k8s.pod.name'] = process.env.POD_NAME;
  if (process.env.POD_NAMESPACE) out['k8s.namespace.name'] = process.env.POD_NAMESPACE;
  if (process.env.POD_UID) out['k8s.pod.uid'] = process.env.POD_UID;
  if (process.env.POD_NAME) out['service.instance.id'] = process.env.POD_NAME;
  return out;
}

export async function serve(argv: string[]): Promise<void> {
  const flags = parseFlags('serve', SERVE_FLAGS, argv);
  const early = generalFlags(flags, SERVE_HELP);
  if (early !== null) return void process.stdout.write(early);
  const config = serveConfigOf(flags);
  const { address, bpf, collectors, cpuBudget } = config;
  const faultDetail = collectors['fault-detail'];
  requireBpfCapabilities();
  const guard = webGuard(config.webConfigFile, (line) => log.info(line));
  let governs = faultDetail && cpuBudget > 0;
  // Everything it needs beyond CAP_BPF and CAP_PERFMON is a descriptor opened here; then it runs without it.
  const inherited = dropCapabilities({
    keepAll: config.keepCapabilities,
    port: address.port,
    readsTracefs: !(bpf.tracepoints === 'tp_btf' && bpf.faultHook === 'perf-event' && !collectors.stalls),
    kmsg: collectors.oom,
    bpfStats: config.bpfStats || governs,
    log: (line) => log.info(line),
  });
  // The port first: one in use is found before anything is loaded into the kernel.
  const bound = await bind(address, { ...DEFAULT_LIMITS, maxConnections: config.maxConnections }, guard);

  // The governor measures the programs' own run time: the statistics stay on while faultline runs.
  let bpfStats = inherited['bpf-stats'] !== undefined ? adoptBpfStats(inherited['bpf-stats']) : config.bpfStats ? enableBpfStats() : null;
  if (governs && !bpfStats) {
    try {
      bpfStats = enableBpfStats();
    } catch (err) {
      // Without CAP_SYS_ADMIN the statistics cannot be held; they may be on host-wide already.
      if (!bpfStatsOnHostWide()) {
        governs = false;
        log.warn(
          `the overhead governor is off: ${(err as Error).message}; grant CAP_SYS_ADMIN, set kernel.bpf_stats_enabled=1, or pass --bpf.cpu-budget=0 to silence this`,
        );
      }
    }
  }
  let eventLog: EventLog | null = null;
  const logged = config.eventLog;
  if (logged) {
    try {
      eventLog = new EventLog({ path: logged.path, maxSizeBytes: logged.maxSizeBytes, maxFiles: logged.maxFiles, onError: (m) => log.error(m) });
    } catch (err) {
      throw new FaultlineError('EVENT_LOG', `cannot open the event log ${logged.path}: ${(err as Error).message}`);
    }
  }
  const kmsg = collectors.oom ? new KmsgOomReports(undefined, inherited.kmsg) : null;
  if (kmsg?.unavailable) log.warn(`cannot read the kernel log (${kmsg.unavailable}): OOM kills will have constraint="unknown"`);
  const probe = Probe.start({
    objectPath: bpf.objectPath,
    tracepoints: bpf.tracepoints,
    faultHook: bpf.faultHook,
    faultRingBytes: bpf.faultRingBytes,
    countFaults: true,
    faultDetail,
    oom: collectors.oom,
    stalls: collectors.stalls,
    threadSlots: config.threadSlots,
    trace: {
      pids: logged?.pids ?? [],
      ...(logged?.comm !== undefined ? { comm: logged.comm } : {}),
      ...(logged?.cgroup ? { cgroup: logged.cgroup } : {}),
      sampleEvery: logged?.sampleEvery ?? 1,
    },
  });
  // The pods are named once the watch is up: until then (and without --kubernetes.enabled) names are empty.
  let pods: KubePods | null = null;
  const stateOptions: FaultlineStateOptions = {
    ...config.state,
    readStalls: collectors.stalls,
    // The headroom families show the files; the stall families show each limited cgroup's reclaim histogram at zero.
    ...(collectors.headroom || collectors.stalls ? { readCgroupMemory: readCgroupMemoryRows } : {}),
    ...(collectors.headroom ? { readHostPressure } : {}),
    podNames: (podUid, containerId) => pods?.lookup(podUid, containerId) ?? null,
  };
  const cgroupNames = new CgroupNames(undefined, config.state.cgroupHierarchy);
  const stallMaps = new StallMaps(probe);
  const state = new FaultlineState({ probe, faults: new FaultMaps(probe), stalls: stallMaps }, stateOptions, () => process.hrtime.bigint(), processAlive, cgroupNames);
  // The OOM flight recorder: each watched cgroup's last 30 s, written with its kill.
  const recorder = collectors['oom-eta'] ? new FlightRecorder() : null;
  const reclaimStalls = (): Map<string, number> => reclaimStallSeconds(stallMaps.readStalls(), (ids) => cgroupNames.pathOf(ids));
  // The rings are read from here on (what came before waits in them): each kill is counted, then logged with its labels.
  probe.readRing(
    'oom_events',
    oomRecords((kill) =>
      state.attempt('oom', () => {
        const recorded = state.recordOomKill(kill, kmsg?.take(kill.pid)?.constraint);
        // The flight recorder's last 30 s of the victim's cgroup (with the oom-eta collector).
        const history = recorder ? { history: recorder.history(recorded.labels.cgroup) } : undefined;
        eventLog?.write(formatJson(kill, oomKillExtras(kill, { ...recorded.labels, ...recorded.names }), history));
      }),
    ),
  );
  // The web page's process view: the kernel sends a watched process's faults to the same ring while a page is open.
  const liveHub = probe.liveView ? new LiveHub(new LiveWatch({ pids: probe.map('live_pids'), watching: probe.map('live_watching') }), readMaps) : null;
  const events = eventLog;
  probe.readRing(
    'fault_events',
    faultRecordsBy({
      ...(events ? { traced: (fault) => events.write(formatJson(fault, pageFaultExtras(fault, state.cgroups.pathOf(fault)))) } : {}),
      ...(liveHub ? { live: (ring, offset) => liveHub.deliver(ring, offset) } : {}),
    }),
  );
  const governor = governs ? startGovernor(probe, cpuBudget, (line) => log.info(line)) : null;
  if (config.kubernetes) {
    try {
      pods = await KubePods.start(config.kubernetes);
    } catch (err) {
      governor?.stop();
      probe.close();
      if (err instanceof FaultlineError) throw err;
      throw new FaultlineError('KUBERNETES', `cannot watch this node's pods: ${(err as Error).message}; check --kubernetes.kubeconfig and the service account`);
    }
  }
  const otlpStats: OtlpStats | null = config.otlp ? { success: 0, failure: 0 } : null;
  const families = createFamilies(state, {
    collectors,
    bpfStatsHeld: bpfStats !== null,
    bpfStatsOnHostWide,
    libbpfVersion: libbpfVersion(),
    governor: governor?.governor ?? null,
    eventLog: eventLog?.stats ?? null,
    eventLogSampleEvery: logged?.logsFaults ? logged.sampleEvery : 0,
    otlp: otlpStats,
  });
  /** The kernel's counts now, for a scrape, an OTLP export or a page: OOM kills up to now (page-fault records are the drain loop's), then the maps. */
  const takeCounts = (): void => {
    probe.drain(DRAIN_BATCH);
    state.refresh();
  };
  let webPages: WebPages | null = null;
  const app = createApp(
    createExposition(families),
    {
      telemetryPath: config.telemetryPath,
      beforeScrape: takeCounts,
      afterScrape: (seconds) => (state.lastScrapeSeconds = seconds),
      maxRequests: config.maxRequests,
      health: () => state.health(),
      pages: (app) => {
        webPages = addWebPages(app, {
          families,
          refresh: takeCounts,
          cgroupOf: (pid) => state.cgroupOfProcess(pid),
          processCounts: (pid) => state.processes.view(pid),
          live: liveHub,
          assets: WEB_ASSETS,
        });
      },
    },
    packageVersion(),
    guard,
  );
  bound.use(app);
  const server = bound.server;
  // Page-fault logging drains often (the ring holds ~43,000 records); OOM kills alone, 10 times a second.
  const stopDraining = startDraining((max) => probe.drain(max), () => eventLog?.flush(), logged?.logsFaults ? 5 : 100);
  const housekeeping = setInterval(() => state.refresh(), config.refreshMs);
  housekeeping.unref();
  // Time to OOM reads the busy cgroups' memory files on its own clock, between scrapes.
  const etaSampler = collectors['oom-eta']
    ? new EtaSampler({ names: cgroupNames, watched: () => state.busyCgroups(), table: state.oomEta, recorder: recorder ?? undefined, ...(collectors.stalls ? { reclaimStalls } : {}) })
    : null;
  const etaTimer = etaSampler ? setInterval(() => state.attempt('oom-eta', () => etaSampler.sample()), SAMPLE_INTERVAL_MS) : null;
  etaTimer?.unref();
  let otlp: { shutdown(): Promise<void> } | null = null;
  const otlpConfig = config.otlp;
  if (otlpConfig && otlpStats) {
    const { OtlpPush } = await import('../expose/otlp.js');
    try {
      otlp = new OtlpPush({
        config: otlpConfig,
        families,
        refresh: takeCounts,
        stats: otlpStats,
        version: packageVersion(),
        detected: kubernetesResource(config.nodeName),
      });
    } catch (err) {
      throw new FaultlineError('OTLP', `cannot set up the OTLP exporter: ${(err as Error).message}; check the --otlp.* flags and OTEL_* variables`);
    }
    log.info(`pushing metrics over OTLP (${otlpConfig.protocol}, ${otlpConfig.temporality}) to ${otlpConfig.url} every ${otlpConfig.intervalMs / 1000} s`);
  }
  reportFallbacks(probe.fallbacks);
  const programs = probe.programs.map((p) => p.attachPoint).join(', ');
  const local = server.address();
  const port = typeof local === 'object' && local ? local.port : address.port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  log.info(
    `serving ${bound.tls ? 'https' : 'http'}://${host}:${port}${config.telemetryPath} (${probe.describeTracepoints()}, fault hook ${probe.faultHook}` +
      `${probe.faultDetail ? (governor ? `, fault detail governed by --bpf.cpu-budget=${cpuBudget}` : '') : ', fault-detail off'}; attached ${programs})`,
  );
  const listening = server;
  onShutdown(async () => {
    webPages?.stop();
    clearInterval(housekeeping);
    if (etaTimer) clearInterval(etaTimer);
    etaSampler?.close();
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
    await pods?.stop();
    if (eventLog) {
      await eventLog.close();
      const s = eventLog.stats;
      log.info(
        `event log: ${s.records} records written; dropped ${s.droppedBacklog} (writer behind) and ${s.droppedWriteError} (write errors); ` +
          `the kernel could not take ${lost.fault_events} page-fault and ${lost.oom_events} OOM records`,
      );
    }
  });
}
