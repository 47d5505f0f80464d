/*
 * The HTTP layer without the kernel: the port bound before anything loads,
 * concurrent scrapes sharing one render, gzip, the request limit, slow
 * clients cut off.
 */
import t from 'tap';
import { connect } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { request } from 'node:http';
import { bind, createApp, type BoundServer } from '../src/expose/http.js';
import type { Exposition } from '../src/expose/metrics.js';

/** An exposition that takes `delayMs` to render and counts its renders and refreshes. */
function slowExposition(delayMs: number): Exposition & { renders: number } {
  const e = {
    renders: 0,
    async render(openMetrics: boolean) {
      e.renders++;
      await new Promise((r) => setTimeout(r, delayMs));
      return { contentType: openMetrics ? 'application/openmetrics-text' : 'text/plain', body: `faultline_x ${e.renders}\n`.repeat(200) };
    },
  };
  return e;
}

/** Closes the listener and every connection a test left open (kept-alive fetches). */
function close(bound: BoundServer): void {
  bound.server.close();
  bound.server.closeAllConnections();
}

async function serving(exposition: Exposition, maxRequests = 0, limits = {}): Promise<{ url: string; bound: BoundServer; refreshes: () => number }> {
  let refreshes = 0;
  const bound = await bind({ host: '127.0.0.1', port: 0 }, { maxConnections: 512, headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 5000, ...limits });
  bound.use(createApp(exposition, { telemetryPath: '/metrics', beforeScrape: () => {
    refreshes++;
  }, maxRequests }, 'test'));
  const address = bound.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, bound, refreshes: () => refreshes };
}

t.test('a bound server answers 503 until its app is in place', async (t) => {
  const bound = await bind({ host: '127.0.0.1', port: 0 });
  t.teardown(() => close(bound));
  const address = bound.server.address();
  const res = await fetch(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/metrics`);
  t.equal(res.status, 503);
  t.equal(await res.text(), 'faultline is starting\n');
});

t.test('a port in use fails at bind, with one line', async (t) => {
  const first = await bind({ host: '127.0.0.1', port: 0 });
  t.teardown(() => close(first));
  const address = first.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await t.rejects(bind({ host: '127.0.0.1', port }), { code: 'PORT_IN_USE', message: /the port is in use/ });
});

t.test('concurrent scrapes share one render; sequential ones each get a fresh one', async (t) => {
  const exposition = slowExposition(200);
  const { url, bound, refreshes } = await serving(exposition);
  t.teardown(() => close(bound));
  const bodies = await Promise.all(Array.from({ length: 50 }, () => fetch(`${url}/metrics`).then((r) => r.text())));
  t.equal(exposition.renders, 1, '50 concurrent scrapes, one render');
  t.equal(refreshes(), 1, 'and one read of the maps');
  t.equal(new Set(bodies).size, 1, 'the same page for all');
  await fetch(`${url}/metrics`).then((r) => r.text());
  await fetch(`${url}/metrics`).then((r) => r.text());
  t.equal(exposition.renders, 3, 'a scrape after a render finished starts its own');
  const om = await fetch(`${url}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
  t.match(om.headers.get('content-type'), /openmetrics/, 'each format renders on its own');
});

t.test('gzip when asked', async (t) => {
  const { url, bound } = await serving(slowExposition(0));
  t.teardown(() => close(bound));
  const raw = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    request(`${url}/metrics`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
  t.equal(raw.headers['content-encoding'], 'gzip');
  t.equal(raw.headers.vary, 'Accept-Encoding');
  const text = gunzipSync(raw.body).toString();
  t.match(text, /^faultline_x 1\n/);
  t.ok(raw.body.length < text.length / 5, `${raw.body.length} bytes for ${text.length}`);
});

t.test('--web.max-requests: beyond it, 503', async (t) => {
  const { url, bound } = await serving(slowExposition(300), 2);
  t.teardown(() => close(bound));
  const statuses = await Promise.all(Array.from({ length: 5 }, () => fetch(`${url}/metrics`).then((r) => r.status)));
  t.strictSame(
    statuses.sort(),
    [200, 200, 503, 503, 503],
    'two in flight, three turned away',
  );
  t.equal((await fetch(`${url}/metrics`)).status, 200, 'and served again once they finish');
});

t.test('slow-header clients are cut off and do not block scrapes', async (t) => {
  const { url, bound } = await serving(slowExposition(0));
  t.teardown(() => close(bound));
  const port = Number(new URL(url).port);
  const closed: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'));
    socket.on('error', () => undefined);
    socket.resume(); // read what the server sends (its 408), so that its close is seen
    closed.push(new Promise((resolve) => socket.on('close', () => resolve())));
  }
  t.equal((await fetch(`${url}/metrics`)).status, 200, 'a scrape among 200 slow clients');
  // headersTimeout is 1 s here: every slow client is closed by the server (bounded wait).
  await Promise.race([Promise.all(closed), new Promise((_, reject) => setTimeout(() => reject(new Error('slow clients still open after 10 s')), 10000))]);
  t.pass('every slow client was cut off');
});
