/**
 * The HTTP face: landing page, /metrics (Prometheus text or OpenMetrics),
 * /healthz. The port is bound before anything is loaded into the kernel;
 * concurrent scrapes share one render; bounded in requests, connections and
 * time per request.
 */
import { statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type ServerOptions as TlsServerOptions } from 'node:https';
import { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import express from 'express';
import { FaultlineError } from '../errors.js';
import type { Exposition } from './metrics.js';
import { BasicAuth, WebConfigError, readWebConfig, type TlsConfig, type WebConfig } from './web-config.js';

export interface HttpOptions {
  /** Path of the metrics page. */
  telemetryPath: string;
  /** Called before each scrape renders: takes the kernel maps' current values. */
  beforeScrape: () => void;
  /** Called with the time a scrape took, read map to rendered body. */
  afterScrape?: (seconds: number) => void;
  /** At most this many /metrics requests in flight; beyond it, 503 (node_exporter's --web.max-requests). 0: no limit. */
  maxRequests?: number;
  /** How long a render waits after the first scrape that finds none in flight, gathering the ones that follow. Default: COALESCE_WINDOW_MS. */
  coalesceWindowMs?: number;
  /** null when healthy; else why not (one line per failed part): /healthz answers 503 with it. */
  health?: () => string | null;
  /** Adds the web pages (src/expose/web/) behind the guard; without it / is a page of links. */
  pages?: (app: express.Express) => void;
}

/** Limits of the listener itself. */
export interface ServerLimits {
  /** Open connections at most; beyond it new ones are closed at once. */
  readonly maxConnections: number;
  /** A client must have sent its headers within this (slow-header clients are cut off). */
  readonly headersTimeoutMs: number;
  /** And the whole request within this. */
  readonly requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
}

/**
 * A render starts this long after the first scrape that finds none in flight.
 * Since libuv 1.45 (Node 20) a listening socket accepts one connection per
 * turn of the event loop: back-to-back renders (a sync refresh of ~20 ms
 * under a fault storm) left 100 new connections waiting 5 s to be accepted.
 * During the window the loop turns freely, accepts and reads the waiting
 * connections, and their scrapes join the render.
 */
export const COALESCE_WINDOW_MS = 25;

export const DEFAULT_LIMITS: ServerLimits = { maxConnections: 512, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 65_000 };

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port`, `:port` or `[v6]:port`. */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new FaultlineError('BAD_FLAG', `--web.listen-address ${JSON.stringify(text)} is not host:port (e.g. 0.0.0.0:10190 or 127.0.0.1:10190)`);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function landingPage(telemetryPath: string, version: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>faultline</title></head>
<body>
<h1>faultline ${version}</h1>
<p>Demand paging and the OOM killer as they happen.</p>
<ul>
<li><a href="${telemetryPath}">${telemetryPath}</a>: metrics</li>
<li><a href="/healthz">/healthz</a>: health</li>
</ul>
</body></html>
`;
}

const OPENMETRICS = 'application/openmetrics-text';

const gzipAsync = promisify(gzip);

interface Rendered {
  readonly contentType: string;
  readonly body: Buffer;
  /** Compressed once, when a scraper first asks for gzip. */
  gzipped?: Promise<Buffer>;
  readonly seconds: number;
}

/**
 * One render shared by every scrape that arrives while it runs (per format):
 * a hundred concurrent scrapers cost one map read and one render. A render
 * reads the maps only after the scrapes waiting to be parsed have joined it,
 * so each gets a page no older than the moment it asked; a scrape that
 * arrives after a render finished starts a new one: sequential scrapes
 * always see fresh counts.
 */
export class CoalescedRender {
  private readonly inflight = new Map<boolean, Promise<Rendered>>();

  constructor(private readonly render: (openMetrics: boolean) => Promise<Rendered>) {}

  get(openMetrics: boolean): Promise<Rendered> {
    let pending = this.inflight.get(openMetrics);
    if (!pending) {
      pending = this.render(openMetrics).finally(() => this.inflight.delete(openMetrics));
      this.inflight.set(openMetrics, pending);
    }
    return pending;
  }
}

export function createApp(exposition: Exposition, options: HttpOptions, version: string, guard?: WebGuard): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  if (guard) app.use(guard.middleware());
  if (options.pages) options.pages(app);
  else {
    app.get('/', (_req, res) => {
      res.type('html').send(landingPage(options.telemetryPath, version));
    });
  }
  app.get('/healthz', (_req, res) => {
    const failed = options.health?.() ?? null;
    if (failed === null) res.type('text').send('ok\n');
    else res.status(503).type('text').send(`${failed}\n`);
  });
  const pages = new CoalescedRender(async (openMetrics) => {
    // Wait before the refresh (whose map reads block the event loop for milliseconds): connections
    // waiting to be accepted and requests waiting in their sockets are taken in first and join this render.
    await new Promise((resolve) => setTimeout(resolve, options.coalesceWindowMs ?? COALESCE_WINDOW_MS));
    const started = process.hrtime.bigint();
    options.beforeScrape();
    const { contentType, body } = await exposition.render(openMetrics);
    return { contentType, body: Buffer.from(body), seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  });
  let inFlight = 0;
  const maxRequests = options.maxRequests ?? 0;
  app.get(options.telemetryPath, async (req, res) => {
    if (maxRequests > 0 && inFlight >= maxRequests) {
      res.status(503).type('text').send(`faultline: ${inFlight} scrapes in flight, at --web.max-requests=${maxRequests}; try again\n`);
      return;
    }
    inFlight++;
    try {
      const page = await pages.get((req.get('accept') ?? '').includes(OPENMETRICS));
      options.afterScrape?.(page.seconds);
      res.set('Content-Type', page.contentType).set('Vary', 'Accept-Encoding');
      if (/\bgzip\b/.test(req.get('accept-encoding') ?? '')) {
        page.gzipped ??= gzipAsync(page.body, { level: 1 });
        res.set('Content-Encoding', 'gzip').send(await page.gzipped);
      } else {
        res.send(page.body);
      }
    } catch (err) {
      res.status(500).type('text').send(`faultline: scrape failed: ${(err as Error).message}\n`);
    } finally {
      inFlight--;
    }
  });
  return app;
}

/** A bound listener: until an app is given it answers 503 (faultline is still loading its programs). */
export interface BoundServer {
  readonly server: Server;
  /** Whether it speaks TLS (--web.config.file with tls_server_config). */
  readonly tls: boolean;
  use(app: express.Express): void;
}

function tlsOptions(tls: TlsConfig): TlsServerOptions {
  const verify = tls.clientAuth === 'RequireAndVerifyClientCert';
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.clientCa ? { ca: tls.clientCa } : {}),
    requestCert: tls.clientAuth !== 'NoClientCert',
    rejectUnauthorized: verify,
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
  };
}

/**
 * The web configuration in force: read at start, and again when the file
 * changes (checked at most once a second, at a request), as the toolkit
 * does; a new certificate takes effect for new connections. A file that
 * turns bad keeps the last good configuration and says so once.
 */
export class WebGuard {
  private config: WebConfig;
  private auth: BasicAuth;
  private stamp = '';
  private checkedAt = 0;
  private server: Server | null = null;

  constructor(
    private readonly path: string | null,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.config = path ? readWebConfig(path) : { tls: null, users: new Map(), headers: {} };
    this.stamp = this.fileStamp();
    this.auth = new BasicAuth(this.config.users);
  }

  get tls(): TlsConfig | null {
    return this.config.tls;
  }

  /** Checks the file at each new connection too: a changed client-certificate policy decides the next handshake. */
  attach(server: Server): void {
    this.server = server;
    server.on('connection', () => this.refresh());
  }

  private fileStamp(): string {
    if (!this.path) return '';
    try {
      const st = statSync(this.path);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  private refresh(): void {
    if (!this.path || Date.now() - this.checkedAt < 1000) return;
    this.checkedAt = Date.now();
    const stamp = this.fileStamp();
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      const next = readWebConfig(this.path);
      if (!next.tls !== !this.config.tls) {
        this.log(`--web.config.file ${this.path}: switching TLS on or off needs a restart; the rest of the file is taken`);
      } else if (next.tls && this.server && 'setSecureContext' in this.server) {
        // New connections take the new certificate and client-certificate policy (tls.Server reads these two per connection).
        const server = this.server as unknown as { setSecureContext(o: TlsServerOptions): void; requestCert: boolean; rejectUnauthorized: boolean };
        const options = tlsOptions(next.tls);
        server.setSecureContext(options);
        server.requestCert = options.requestCert ?? false;
        server.rejectUnauthorized = options.rejectUnauthorized ?? false;
      }
      this.config = { ...next, tls: this.config.tls && next.tls ? next.tls : this.config.tls };
      this.auth = new BasicAuth(next.users);
      this.log(`--web.config.file ${this.path}: re-read`);
    } catch (err) {
      this.log(`--web.config.file ${this.path}: keeping the previous configuration: ${(err as Error).message}`);
    }
  }

  /** Headers, client certificates and basic authentication, before every route. */
  middleware(): express.RequestHandler {
    return (req, res, next) => {
      this.refresh();
      for (const [name, value] of Object.entries(this.config.headers)) res.set(name, value);
      const tls = this.config.tls;
      if (tls && tls.clientAuth !== 'NoClientCert' && tls.clientAuth !== 'RequestClientCert') {
        const socket = req.socket instanceof TLSSocket ? req.socket : null;
        const given = socket !== null && Object.keys(socket.getPeerCertificate()).length > 0;
        if ((tls.clientAuth === 'RequireAnyClientCert' && !given) || (tls.clientAuth === 'VerifyClientCertIfGiven' && given && !socket.authorized)) {
          res.status(403).type('text').send('faultline: a valid client certificate is required\n');
          return;
        }
      }
      if (!this.auth.required) {
        next();
        return;
      }
      this.auth.check(req.get('authorization')).then(
        (ok) => {
          if (ok) return next();
          res.status(401).set('WWW-Authenticate', 'Basic realm="faultline"').type('text').send('faultline: unauthorized\n');
        },
        next,
      );
    };
  }
}

/** Reads --web.config.file, turning its errors into one line that names the key. */
export function webGuard(path: string | null, log: (line: string) => void): WebGuard {
  try {
    return new WebGuard(path, log);
  } catch (err) {
    if (err instanceof WebConfigError) throw new FaultlineError('BAD_WEB_CONFIG', `--web.config.file ${path}: ${err.message}`);
    throw err;
  }
}

/** Binds the address first, so that a port in use is found before anything is loaded into the kernel. */
export async function bind(address: ListenAddress, limits: ServerLimits = DEFAULT_LIMITS, guard?: WebGuard): Promise<BoundServer> {
  let handler = (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '1' }).end('faultline is starting\n');
  };
  // Node checks the header and request timeouts every connectionsCheckingInterval (30 s by default): once a second here.
  const options = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: 1000,
  };
  const tls = guard?.tls ?? null;
  const server: Server = tls
    ? createTlsServer({ ...options, ...tlsOptions(tls) }, (req, res) => handler(req, res))
    : createServer(options, (req, res) => handler(req, res));
  server.maxConnections = limits.maxConnections;
  guard?.attach(server);
  await listenOn(server, address);
  return {
    server,
    tls: tls !== null,
    use(app) {
      handler = app;
    },
  };
}

function listenOn(server: Server, address: ListenAddress): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.listen(address.port, address.host);
    server.once('listening', () => resolve(server));
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${address.host}:${address.port}`;
      if (err.code === 'EADDRINUSE') {
        reject(new FaultlineError('PORT_IN_USE', `cannot listen on ${where}: the port is in use; stop the other process or pick another with --web.listen-address`));
      } else if (err.code === 'EADDRNOTAVAIL') {
        reject(new FaultlineError('BAD_ADDRESS', `cannot listen on ${where}: no such local address; use 0.0.0.0 or an address of this host`));
      } else {
        reject(new FaultlineError('LISTEN', `cannot listen on ${where}: ${err.message}`));
      }
    });
  });
}
