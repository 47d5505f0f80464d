/** A loopback Kubernetes API server serving a recorded pod list, and kubeconfigs for it. */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { tempDir, type Teardown } from './temp.js';
import { ROOT } from './live.js';

export function writeKubeconfig(t: Teardown, server: string): string {
  const path = join(tempDir(t, 'faultline-kube-'), 'config');
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // The client refuses plain http unless TLS verification is off; the test server is plain http.
      clusters: [{ name: 'test', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'test', user: { token: 'test-token' } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
      'current-context': 'test',
    }),
  );
  return path;
}

/** The pod and container of test/fixtures/kubernetes/pods-list.json that live tests put workloads in. */
export const RECORDED_POD = {
  uid: '5f2b8c1e-9d3a-4e7b-8c6f-1a2b3c4d5e6f',
  container: 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
  pod: 'api-7d9c6b5f4-x2kqp',
  nodeName: 'node-a',
} as const;

/** A loopback API server answering with the recorded pod list (test/fixtures/kubernetes); a kubeconfig for it. */
export async function fakeApiServer(t: { teardown(fn: () => void): void }): Promise<string> {
  const list = readFileSync(`${ROOT}test/fixtures/kubernetes/pods-list.json`, 'utf8');
  const server = createServer((req, res) => {
    if (req.url?.includes('watch=true')) return void res.writeHead(200, { 'Content-Type': 'application/json' }).write('');
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(list);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  return writeKubeconfig(t, `http://127.0.0.1:${port}`);
}
