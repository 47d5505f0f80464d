/*
 * --web.config.file: the exporter-toolkit format parsed key by key, and the
 * server it configures — TLS, client certificates, basic authentication,
 * headers, re-reading — driven with curl (no kernel needed); then a real
 * Prometheus scraping a live faultline over TLS with basic auth.
 */
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { tempDir } from './helpers/temp.js';
import { BasicAuth, WebConfigError, parseWebConfig } from '../src/expose/web-config.js';
import { bind, createApp, webGuard, type BoundServer } from '../src/expose/http.js';
import { SKIP_NOT_ROOT, startExporter } from './helpers/live.js';
import { startPrometheus } from './helpers/prometheus.js';

const dir = tempDir(t, 'faultline-webcfg-');
const HASH = bcrypt.hashSync('s3cret', 4);

/** A CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by it, and a client certificate nobody signed. */
function certificates(): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=faultline test CA');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const name of ['server', 'client', 'rogue']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  }
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2');
  ssl('x509', '-req', '-in', 'rogue.csr', '-signkey', 'rogue.key', '-out', 'rogue.pem', '-days', '2');
}

t.test('parsing: every key checked, errors name the key', async (t) => {
  const ok = parseWebConfig(`basic_auth_users:\n  prom: '${HASH}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n`, dir);
  t.equal(ok.users.get('prom'), HASH);
  t.strictSame(ok.headers, { 'X-Frame-Options': 'deny' });
  t.equal(ok.tls, null);
  const bad: [string, RegExp][] = [
    ['tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n', /tls_server_config\.cert_file: cannot read "nope\.pem"/],
    ['tls_server_config:\n  cert_file: a\n  kye_file: b\n', /tls_server_config\.kye_file: unknown key/],
    ['tls_server_config:\n  cert: x\n  key: y\n  client_auth_type: Always\n', /client_auth_type: "Always" is not one of NoClientCert/],
    ['tls_server_config:\n  cert: x\n  key: y\n  client_auth_type: RequireAndVerifyClientCert\n', /client_ca_file: required with client_auth_type RequireAndVerifyClientCert/],
    ['tls_server_config:\n  cert: x\n  key: y\n  min_version: TLS14\n', /min_version: "TLS14" is not one of TLS10/],
    ['tls_server_config:\n  cert: x\n  key: y\n  cipher_suites: [a]\n', /tls_server_config\.cipher_suites: not supported by faultline/],
    ['tls_server_config:\n  key: y\n', /cert_file \(or cert\) is required/],
    ['basic_auth_users:\n  prom: plaintext\n', /basic_auth_users\.prom: not a bcrypt hash/],
    ['http_server_config:\n  headers:\n    Server: x\n', /http_server_config\.headers\.Server: unknown key/],
    ['rate_limit:\n  burst: 1\n', /\.rate_limit: not supported by faultline/],
    ['tls_server_config: [1]\n', /tls_server_config: must be a mapping/],
    ['{{{', /not YAML/],
  ];
  for (const [text, want] of bad) t.throws(() => parseWebConfig(text, dir), want, text.split('\n')[0] ?? text);
  t.throws(() => webGuard(join(dir, 'missing.yml'), () => {}), { code: 'BAD_WEB_CONFIG', message: /--web\.config\.file .*missing\.yml: cannot read it/ });
  t.ok(new WebConfigError('x') instanceof Error);
});

t.test('basic auth: bcrypt, remembered once passed', async (t) => {
  const auth = new BasicAuth(new Map([['prom', HASH]]));
  const header = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  t.equal(await auth.check(header('prom', 's3cret')), true);
  t.equal(await auth.check(header('prom', 's3cret')), true, 'again (remembered)');
  t.equal(await auth.check(header('prom', 'wrong')), false);
  t.equal(await auth.check(header('eve', 's3cret')), false);
  t.equal(await auth.check(undefined), false);
  t.equal(await auth.check('Bearer x'), false);
  t.equal(await new BasicAuth(new Map()).check(undefined), true, 'no users: open');
});

t.test('TLS, client certificates and basic auth, with curl', async (t) => {
  certificates();
  const config = join(dir, 'web.yml');
  const write = (clientAuth: string, extra = ''): void =>
    writeFileSync(
      config,
      `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_ca_file: ca.pem\n  client_auth_type: ${clientAuth}\n` +
        `basic_auth_users:\n  prom: '${HASH}'\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n${extra}`,
    );
  write('RequireAndVerifyClientCert');
  const logged: string[] = [];
  const guard = webGuard(config, (l) => logged.push(l));
  const bound: BoundServer = await bind({ host: '127.0.0.1', port: 0 }, undefined, guard);
  t.teardown(() => {
    bound.server.close();
    bound.server.closeAllConnections();
  });
  const exposition = { render: async () => ({ contentType: 'text/plain', body: 'faultline_up 1\n' }) };
  bound.use(createApp(exposition, { telemetryPath: '/metrics', beforeScrape: () => {} }, 'test', guard));
  const port = (bound.server.address() as { port: number }).port;
  t.ok(bound.tls);
  // Asynchronous: the server runs in this process, so a synchronous curl would wait on itself.
  const run = (args: string[]): Promise<{ stdout: string; ok: boolean }> =>
    new Promise((resolve) => execFile('curl', ['-s', '--max-time', '5', ...args], { encoding: 'utf8' }, (err, stdout) => resolve({ stdout, ok: !err })));
  const curl = async (...args: string[]): Promise<{ code: string; ok: boolean }> => {
    const r = await run(['-o', '/dev/null', '-w', '%{http_code}', ...args]);
    return { code: r.stdout.trim(), ok: r.ok };
  };
  const url = `https://127.0.0.1:${port}/metrics`;
  const tls = ['--cacert', join(dir, 'ca.pem')];
  const client = ['--cert', join(dir, 'client.pem'), '--key', join(dir, 'client.key')];
  t.equal((await curl(...tls, ...client, '-u', 'prom:s3cret', url)).code, '200', 'the right password and a client certificate: 200');
  t.equal((await curl(...tls, ...client, '-u', 'prom:nope', url)).code, '401', 'a wrong password: 401');
  t.equal((await curl(...tls, ...client, url)).code, '401', 'no password: 401');
  t.notOk((await curl(...tls, '-u', 'prom:s3cret', url)).ok, 'no client certificate: the handshake fails');
  t.notOk((await curl(...tls, '--cert', join(dir, 'rogue.pem'), '--key', join(dir, 'rogue.key'), '-u', 'prom:s3cret', url)).ok, 'a certificate the CA did not sign: refused');
  const plain = await curl(`http://127.0.0.1:${port}/metrics`);
  t.not(plain.code, '200', `plain HTTP on the TLS port is refused (${plain.code})`);
  const headers = (await run(['-D', '-', '-o', '/dev/null', ...tls, ...client, '-u', 'prom:s3cret', url])).stdout;
  t.match(headers, /x-content-type-options: nosniff/i, 'the configured header');

  // Re-read when the file changes: a client certificate becomes optional (checked if given).
  await new Promise((r) => setTimeout(r, 1100));
  write('VerifyClientCertIfGiven');
  await new Promise((r) => setTimeout(r, 1100));
  await curl(...tls, '-u', 'prom:s3cret', url); // the request that notices the change
  t.equal((await curl(...tls, '-u', 'prom:s3cret', url)).code, '200', 'after the change: no client certificate needed');
  t.equal((await curl(...tls, '--cert', join(dir, 'rogue.pem'), '--key', join(dir, 'rogue.key'), '-u', 'prom:s3cret', url)).code, '403', 'but a bad one is refused');
  t.match(logged.join('\n'), /re-read/);
  writeFileSync(config, 'tls_server_config: [broken\n');
  await new Promise((r) => setTimeout(r, 1100));
  await curl(...tls, '-u', 'prom:s3cret', url);
  t.equal((await curl(...tls, '-u', 'prom:s3cret', url)).code, '200', 'a broken file keeps the last good configuration');
  t.match(logged.join('\n'), /keeping the previous configuration: not YAML/);
});

t.test('a real Prometheus scrapes a live faultline over TLS with basic auth', { skip: SKIP_NOT_ROOT }, async (t) => {
  const config = join(dir, 'live.yml');
  writeFileSync(
    config,
    `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\nbasic_auth_users:\n  prom: '${HASH}'\n`,
  );
  const exporter = await startExporter([`--web.config.file=${config}`]);
  t.teardown(() => exporter.stop());
  t.match(exporter.url, /^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const prometheus = await startPrometheus(
    [exporter.url],
    [],
    [
      'tls_config:',
      `  ca_file: ${join(dir, 'ca.pem')}`,
      `  cert_file: ${join(dir, 'client.pem')}`,
      `  key_file: ${join(dir, 'client.key')}`,
      'basic_auth:',
      '  username: prom',
      '  password: s3cret',
    ],
  );
  t.teardown(() => prometheus.stop());
  const faults = await prometheus.query('faultline_page_faults_total');
  t.ok(faults.result.length > 0, 'Prometheus has faultline\'s series');
});
