/**
 * The live web page, on the metrics listener (same TLS, same basic auth):
 * `/` is the overview, `/process/PID` one process's address space with its
 * faults landing live. The pages are static files (web/) that read JSON from
 * /api/… and follow server-sent events; nothing loads from elsewhere.
 *
 * Bounds: at most MAX_STREAMS event streams at once; a stream whose client
 * reads slower than it is written skips updates (the overview sends the
 * next reading, the process view keeps counting and sends its faults when
 * the client has caught up) instead of queueing them in memory.
 */
import { readFileSync } from 'node:fs';
import type express from 'express';
import { FaultlineError } from '../../errors.js';
import { FAULT_TYPES, REGIONS } from '../../bpf/contract.js';
import type { ProcessView } from '../../features/faults/process-table.js';
import type { Family } from '../../metrics/family.js';
import { parseMaps, type Mapping } from '../../features/trace/address-space.js';
import { commOf, readMaps } from '../../readers/procfs.js';
import type { LiveBatch, LiveHub } from '../../features/trace/live-hub.js';
import { buildOverview, samplesOf, type Overview, type Reading } from './overview.js';

/** Event streams open at most (overview and process views together); beyond, 503. */
export const MAX_STREAMS = 32;
/** Bytes a stream may have waiting in its socket before an update is skipped. */
export const MAX_STREAM_BACKLOG = 1 << 20;
export const OVERVIEW_INTERVAL_MS = 1000;
export const PROCESS_INTERVAL_MS = 200;

/** What the process page shows of a process the exporter tracks: its exact counts, as /metrics has them. */
export type ProcessCounts = Pick<ProcessView, 'comm' | 'faults' | 'exited'>;

export interface WebOptions {
  readonly families: readonly Family[];
  /** Takes the kernel's counts now (what a scrape does first); called at most every REFRESH_MS by the pages. */
  readonly refresh: () => void;
  readonly cgroupOf: (pid: number) => string;
  readonly processCounts: (pid: number) => ProcessCounts | null;
  /** null when the fault entry hook is not attached (--no-collector.fault-detail): no live view. */
  readonly live: LiveHub | null;
  /** The directory of the page's files (web/ in the package). */
  readonly assets: URL;
  readonly clock?: { monotonic: () => number; unix: () => number };
}

const ASSETS: Record<string, string> = {
  'faultline.css': 'text/css; charset=utf-8',
  'common.js': 'text/javascript; charset=utf-8',
  'overview.js': 'text/javascript; charset=utf-8',
  'process.js': 'text/javascript; charset=utf-8',
};

/** A pid as a path gives it: 1 to 4194304 (PID_MAX_LIMIT), digits only. */
export function parsePid(text: string): number | null {
  if (!/^[1-9]\d{0,6}$/.test(text)) return null;
  const pid = Number(text);
  return pid <= 4194304 ? pid : null;
}

export function mappingJson(m: Mapping): Record<string, string> {
  return { start: m.start.toString(16), end: m.end.toString(16), perms: m.perms, offset: m.offset.toString(16), path: m.path, group: m.group };
}

function totalsJson(counts: ProcessCounts | null): Record<string, unknown> | null {
  if (!counts) return null;
  const byRegion: Record<string, Record<string, number>> = {};
  const byType: Record<string, number> = { minor: 0, major: 0 };
  REGIONS.forEach((region, r) => {
    byRegion[region] = {};
    FAULT_TYPES.forEach((type, t) => {
      const n = Number(counts.faults[r]![t]!);
      byRegion[region]![type] = n;
      byType[type] = (byType[type] ?? 0) + n;
    });
  });
  return { comm: counts.comm, exited: counts.exited, byType, byRegion };
}

function batchJson(batch: LiveBatch): Record<string, unknown> {
  return { ...batch, ...(batch.mappings ? { mappings: batch.mappings.map(mappingJson) } : {}) };
}

/** Starts an event stream; false (and a 503) when MAX_STREAMS are open. */
function sse(res: express.Response, streams: { open: number }): boolean {
  if (streams.open >= MAX_STREAMS) {
    res.status(503).type('text').send(`faultline: ${MAX_STREAMS} live pages are open already; close one and reload\n`);
    return false;
  }
  streams.open++;
  res.on('close', () => streams.open--);
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.write('retry: 2000\n\n');
  return true;
}

/** Writes one event unless the client is behind; whether it was written. */
function send(res: express.Response, event: string, data: unknown): boolean {
  if (res.writableLength > MAX_STREAM_BACKLOG || res.destroyed) return false;
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  return true;
}

export interface WebPages {
  /** Streams open now. */
  readonly streams: () => number;
  readonly stop: () => void;
}

/** Adds the pages and their API to `app` (after the guard: the same protection as /metrics). */
export function addWebPages(app: express.Express, options: WebOptions): WebPages {
  const clock = options.clock ?? { monotonic: () => performance.now() / 1000, unix: () => Date.now() / 1000 };
  const streams = { open: 0 };
  let refreshedAt = -Infinity;
  /** Refreshes the pages have made: the overview reads anew only after one. */
  let refreshes = 0;
  /** Takes the kernel's counts unless one of the pages did in the last half second. */
  const refreshed = (): void => {
    const now = clock.monotonic();
    if (now - refreshedAt < 0.5) return;
    refreshedAt = now;
    refreshes++;
    options.refresh();
  };
  let reading: Reading | null = null;
  let overview: { built: Overview; refresh: number } | null = null;
  const overviewNow = (): unknown => {
    refreshed();
    // A new reading only after a refresh (whichever page made it): between two readings of the same counts a rate
    // would read 0. Until then the last overview stands.
    if (overview?.refresh !== refreshes) {
      const built = buildOverview(options.families, reading, clock.monotonic(), clock.unix(), options.cgroupOf);
      reading = built.reading;
      overview = { built: built.overview, refresh: refreshes };
    }
    const o = overview.built;
    return { ...o, health: { ...o.health, liveSessions: options.live?.size ?? 0 }, liveView: options.live !== null };
  };

  const file = (name: string, type: string) => (_req: express.Request, res: express.Response) => {
    res.type(type).set('Cache-Control', 'no-cache').send(readFileSync(new URL(name, options.assets)));
  };
  app.get('/', file('index.html', 'html'));
  const processPage = file('process.html', 'html');
  app.get('/process/:pid', (req, res) => {
    if (parsePid(req.params.pid) === null) return void res.status(400).type('text').send('faultline: not a process id (1 to 4194304)\n');
    processPage(req, res);
  });
  app.get('/assets/:name', (req, res) => {
    const name = req.params.name;
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!type) return void res.status(404).type('text').send('faultline: no such file\n');
    file(name, type)(req, res);
  });

  app.get('/api/overview', (_req, res) => void res.json(overviewNow()));
  const overviewClients = new Set<express.Response>();
  let overviewTimer: NodeJS.Timeout | null = null;
  app.get('/api/overview/events', (req, res) => {
    if (!sse(res, streams)) return;
    overviewClients.add(res);
    send(res, 'overview', overviewNow());
    overviewTimer ??= setInterval(() => {
      const data = overviewNow();
      for (const client of overviewClients) send(client, 'overview', data);
    }, OVERVIEW_INTERVAL_MS);
    req.on('close', () => {
      overviewClients.delete(res);
      if (overviewClients.size === 0 && overviewTimer) {
        clearInterval(overviewTimer);
        overviewTimer = null;
      }
    });
  });

  const processFor = (req: express.Request, res: express.Response): number | null => {
    const pid = parsePid(String(req.params.pid));
    if (pid === null) {
      res.status(400).json({ error: `${JSON.stringify(String(req.params.pid).slice(0, 20))} is not a process id (1 to 4194304)` });
      return null;
    }
    return pid;
  };
  app.get('/api/process/:pid', (req, res) => {
    const pid = processFor(req, res);
    if (pid === null) return;
    const maps = readMaps(pid);
    refreshed();
    const totals = totalsJson(options.processCounts(pid));
    if (maps === null && !totals) return void res.status(404).json({ error: `no process ${pid}` });
    res.json({ pid, comm: commOf(pid) ?? totals?.comm ?? '', alive: maps !== null, mappings: maps === null ? [] : parseMaps(maps).mappings.map(mappingJson), totals, liveView: options.live !== null });
  });
  app.get('/api/process/:pid/events', (req, res) => {
    const pid = processFor(req, res);
    if (pid === null) return;
    const live = options.live;
    if (!live) return void res.status(409).json({ error: 'the live view needs the fault entry hook: faultline serve runs with --no-collector.fault-detail' });
    let session;
    try {
      session = live.open(pid);
    } catch (err) {
      if (err instanceof FaultlineError) return void res.status(503).json({ error: err.message });
      throw err;
    }
    const opened = session;
    // Its first read of the maps says whether the process is there.
    if (!opened.alive) {
      live.close(opened);
      return void res.status(404).json({ error: `no process ${pid}` });
    }
    if (!sse(res, streams)) {
      live.close(opened);
      return;
    }
    let ticks = 0;
    const timer = setInterval(() => {
      if (res.writableLength > MAX_STREAM_BACKLOG) return; // behind: the session keeps counting, bounded
      const data: Record<string, unknown> = batchJson(opened.take());
      // Once a second: the maps again (new mappings; has it exited?), the exact totals (a refresh reads the kernel
      // maps), and whether the overhead governor has paused the fault detail (no faults come while it has).
      if (ticks++ % 5 === 0) {
        if (!opened.rereadMaps()) data.gone = true;
        refreshed();
        data.totals = totalsJson(options.processCounts(pid));
        data.detail = samplesOf(options.families, 'faultline_fault_detail_state').find((x) => x.value === 1)?.labels.state ?? 'on';
      }
      send(res, 'batch', data);
      // Gone: the last batch, then the stream ends and the watch goes (the pid may be reused by another process).
      if (data.gone) res.end();
    }, PROCESS_INTERVAL_MS);
    req.on('close', () => {
      clearInterval(timer);
      live.close(opened);
    });
  });

  return {
    streams: () => streams.open,
    stop: () => {
      if (overviewTimer) clearInterval(overviewTimer);
      for (const client of overviewClients) client.end();
    },
  };
}

