/** The HTTP face: landing page, /metrics (Prometheus text or OpenMetrics), /healthz. */
import type { Server } from 'node:http';
import express from 'express';
import { FaultlineError } from '../bpf/errors.js';
import type { Exposition } from './metrics.js';

export interface HttpOptions {
  /** host:port to listen on. */
  listenAddress: string;
  /** Path of the metrics page. */
  telemetryPath: string;
  /** Called before each scrape renders: takes the kernel maps' current values. */
  beforeScrape: () => void;
  /** Called with the time a scrape took, read map to rendered body. */
  afterScrape?: (seconds: number) => void;
}

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

export function createApp(exposition: Exposition, options: HttpOptions, version: string): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/', (_req, res) => {
    res.type('html').send(landingPage(options.telemetryPath, version));
  });
  app.get('/healthz', (_req, res) => {
    res.type('text').send('ok\n');
  });
  app.get(options.telemetryPath, async (req, res) => {
    try {
      const started = process.hrtime.bigint();
      options.beforeScrape();
      const { contentType, body } = await exposition.render((req.get('accept') ?? '').includes(OPENMETRICS));
      res.set('Content-Type', contentType).send(body);
      options.afterScrape?.(Number(process.hrtime.bigint() - started) / 1e9);
    } catch (err) {
      res.status(500).type('text').send(`faultline: scrape failed: ${(err as Error).message}\n`);
    }
  });
  return app;
}

export function listen(app: express.Express, address: ListenAddress): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(address.port, address.host);
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
