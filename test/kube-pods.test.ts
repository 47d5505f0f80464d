/*
 * The Kubernetes pod cache against recorded API responses (test/fixtures/
 * kubernetes: a PodList and a watch stream, trimmed), served on loopback.
 */
import { ROOT } from './helpers/live.js';
import t from 'tap';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { KubePods, PodIndex } from '../src/readers/kube-pods.js';
import { writeKubeconfig } from './helpers/kube.js';

const fixture = (name: string): string => readFileSync(`${ROOT}test/fixtures/kubernetes/${name}`, 'utf8');
const API_POD = '5f2b8c1e-9d3a-4e7b-8c6f-1a2b3c4d5e6f';
const API_CONTAINER = 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const CACHE_POD = '0c4d8e2a-1b3c-4d5e-8f9a-0b1c2d3e4f5a';
const CACHE_CONTAINER = '9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d';

t.test('PodIndex reads names from pod objects', async (t) => {
  const index = new PodIndex();
  for (const pod of JSON.parse(fixture('pods-list.json')).items) index.upsert(pod);
  t.strictSame(index.lookup(API_POD, API_CONTAINER), { pod: 'api-7d9c6b5f4-x2kqp', namespace: 'shop', container: 'api' });
  t.strictSame(index.lookup(API_POD, '0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c')?.container, 'migrate', 'init containers too');
  t.strictSame(index.lookup(CACHE_POD, CACHE_CONTAINER), { pod: 'cache-0', namespace: 'shop', container: '' }, 'no container id yet');
  t.equal(index.lookup('nope', ''), null);
});

t.test('list then watch, scoped to the node', async (t) => {
  const requests: string[] = [];
  let watchStarted = false;
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api/v1/pods') {
      res.writeHead(404).end();
      return;
    }
    if (url.searchParams.get('watch') === 'true') {
      if (watchStarted) return; // one stream is enough; hold later reconnects open
      watchStarted = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(fixture('pods-watch.ndjson'));
      return; // keep the stream open like the API server
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(fixture('pods-list.json'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const kubeconfig = writeKubeconfig(t, `http://127.0.0.1:${port}`);
  const pods = await KubePods.start({ nodeName: 'node-a', kubeconfig });
  t.teardown(async () => {
    await pods.stop();
    server.closeAllConnections();
    server.close();
  });
  const deadline = Date.now() + 10000;
  while (pods.lookup('7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d', '') === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  t.ok(requests.every((u) => decodeURIComponent(u).includes('fieldSelector=spec.nodeName=node-a')), 'every request is scoped to the node');
  t.ok(requests.some((u) => u.includes('watch=true')), `a watch follows the list: ${requests.join(' ')}`);
  t.strictSame(pods.lookup(CACHE_POD, CACHE_CONTAINER), { pod: 'cache-0', namespace: 'shop', container: 'redis' }, 'MODIFIED: container id arrived');
  t.equal(pods.lookup(API_POD, API_CONTAINER), null, 'DELETED: gone');
  t.strictSame(pods.lookup('7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d', '1111111111111111111111111111111111111111111111111111111111111111'), {
    pod: 'worker-5b8f',
    namespace: 'batch',
    container: 'worker',
  }, 'ADDED');
});

t.test('an unreachable API server is one clear error', async (t) => {
  const kubeconfig = writeKubeconfig(t, 'http://127.0.0.1:1');
  await t.rejects(KubePods.start({ nodeName: 'node-a', kubeconfig }), { code: 'KUBERNETES', message: /cannot list the pods of node node-a/ });
});

t.test('the node name is required', async (t) => {
  await t.rejects(KubePods.start({ nodeName: '' }), { code: 'BAD_FLAG', message: /NODE_NAME/ });
});
