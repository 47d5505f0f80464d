/**
 * --web.config.file: TLS and basic authentication in the Prometheus
 * exporter-toolkit's web configuration format (the same file node_exporter
 * and Prometheus read). Parsing is pure: every key is checked, and an error
 * names the key that is wrong. Relative file names are relative to the
 * configuration file's directory.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { parse } from 'yaml';

export class WebConfigError extends Error {}

export const CLIENT_AUTH_TYPES = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];
const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
type TlsVersion = (typeof TLS_VERSIONS)[keyof typeof TLS_VERSIONS];
/** The response headers the toolkit lets a configuration set. */
const HEADERS = ['Content-Security-Policy', 'X-Frame-Options', 'X-Content-Type-Options', 'X-XSS-Protection', 'Strict-Transport-Security'] as const;

export interface TlsConfig {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientAuth: ClientAuthType;
  readonly clientCa: Buffer | null;
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
}

export interface WebConfig {
  readonly tls: TlsConfig | null;
  /** user → bcrypt hash; empty: no authentication. */
  readonly users: ReadonlyMap<string, string>;
  readonly headers: Readonly<Record<string, string>>;
}

type Node = Record<string, unknown>;

function object(value: unknown, where: string): Node {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new WebConfigError(`${where}: must be a mapping`);
  return value as Node;
}

function onlyKeys(node: Node, where: string, allowed: readonly string[], unsupported: readonly string[] = []): void {
  for (const key of Object.keys(node)) {
    if (unsupported.includes(key)) throw new WebConfigError(`${where}.${key}: not supported by faultline; remove it`);
    if (!allowed.includes(key)) throw new WebConfigError(`${where}.${key}: unknown key (known: ${allowed.join(', ')})`);
  }
}

function text(node: Node, key: string, where: string): string | undefined {
  const v = node[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new WebConfigError(`${where}.${key}: must be a string`);
  return v;
}

/** PEM from `key` (inline) or `key_file` (a file), exactly one of them. */
function pem(node: Node, inline: string, file: string, where: string, dir: string, required: boolean): Buffer | null {
  const a = text(node, inline, where);
  const b = text(node, file, where);
  if (a !== undefined && b !== undefined) throw new WebConfigError(`${where}: give ${inline} or ${file}, not both`);
  if (a !== undefined) return Buffer.from(a);
  if (b !== undefined) {
    try {
      return readFileSync(resolve(dir, b));
    } catch (err) {
      throw new WebConfigError(`${where}.${file}: cannot read ${JSON.stringify(b)}: ${(err as Error).message}`);
    }
  }
  if (required) throw new WebConfigError(`${where}: ${file} (or ${inline}) is required`);
  return null;
}

function version(node: Node, key: string, where: string, fallback: keyof typeof TLS_VERSIONS): TlsVersion {
  const v = text(node, key, where) ?? fallback;
  if (!(v in TLS_VERSIONS)) throw new WebConfigError(`${where}.${key}: ${JSON.stringify(v)} is not one of ${Object.keys(TLS_VERSIONS).join(', ')}`);
  return TLS_VERSIONS[v as keyof typeof TLS_VERSIONS];
}

function parseTls(value: unknown, dir: string): TlsConfig | null {
  const where = 'tls_server_config';
  const node = object(value, where);
  if (Object.keys(node).length === 0) return null;
  onlyKeys(
    node,
    where,
    ['cert', 'key', 'cert_file', 'key_file', 'client_auth_type', 'client_ca', 'client_ca_file', 'min_version', 'max_version'],
    ['client_allowed_sans', 'cipher_suites', 'prefer_server_cipher_suites', 'curve_preferences'],
  );
  const clientAuth = (text(node, 'client_auth_type', where) ?? 'NoClientCert') as ClientAuthType;
  if (!CLIENT_AUTH_TYPES.includes(clientAuth)) {
    throw new WebConfigError(`${where}.client_auth_type: ${JSON.stringify(clientAuth)} is not one of ${CLIENT_AUTH_TYPES.join(', ')}`);
  }
  const clientCa = pem(node, 'client_ca', 'client_ca_file', where, dir, false);
  if ((clientAuth === 'RequireAndVerifyClientCert' || clientAuth === 'VerifyClientCertIfGiven') && !clientCa) {
    throw new WebConfigError(`${where}.client_ca_file: required with client_auth_type ${clientAuth}`);
  }
  const minVersion = version(node, 'min_version', where, 'TLS12');
  const maxVersion = version(node, 'max_version', where, 'TLS13');
  if (minVersion > maxVersion) throw new WebConfigError(`${where}.min_version: above max_version`);
  return { cert: pem(node, 'cert', 'cert_file', where, dir, true)!, key: pem(node, 'key', 'key_file', where, dir, true)!, clientAuth, clientCa, minVersion, maxVersion };
}

function parseUsers(value: unknown): Map<string, string> {
  const node = object(value, 'basic_auth_users');
  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(node)) {
    if (typeof hash !== 'string' || !/^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/.test(hash)) {
      throw new WebConfigError(`basic_auth_users.${user}: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`);
    }
    users.set(user, hash);
  }
  return users;
}

function parseHttp(value: unknown): Record<string, string> {
  const where = 'http_server_config';
  const node = object(value, where);
  onlyKeys(node, where, ['headers', 'http2']);
  if (node.http2 !== undefined && typeof node.http2 !== 'boolean') throw new WebConfigError(`${where}.http2: must be true or false`);
  const headers = object(node.headers, `${where}.headers`);
  onlyKeys(headers, `${where}.headers`, HEADERS);
  const out: Record<string, string> = {};
  for (const name of HEADERS) {
    const v = text(headers, name, `${where}.headers`);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** Parses the file's text; `dir` resolves relative file names. */
export function parseWebConfig(source: string, dir: string): WebConfig {
  let doc: unknown;
  try {
    doc = parse(source);
  } catch (err) {
    throw new WebConfigError(`not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const root = object(doc, 'the file');
  onlyKeys(root, '', ['tls_server_config', 'basic_auth_users', 'http_server_config'], ['rate_limit']);
  return { tls: parseTls(root.tls_server_config, dir), users: parseUsers(root.basic_auth_users), headers: parseHttp(root.http_server_config) };
}

export function readWebConfig(path: string): WebConfig {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    throw new WebConfigError(`cannot read it: ${(err as Error).message}`);
  }
  return parseWebConfig(source, dirname(resolve(path)));
}

/**
 * Checks `Authorization: Basic …` against the users' bcrypt hashes. A
 * bcrypt check costs ~70 ms at cost 10, so a pair that passed is remembered
 * (by a SHA-256 of user and password; at most 64 pairs) as the toolkit does.
 */
export class BasicAuth {
  private readonly passed = new Set<string>();

  constructor(private readonly users: ReadonlyMap<string, string>) {}

  get required(): boolean {
    return this.users.size > 0;
  }

  async check(header: string | undefined): Promise<boolean> {
    if (!this.required) return true;
    const m = /^Basic ([A-Za-z0-9+/=]{1,4096})$/.exec(header ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const hash = this.users.get(user);
    const pair = createHash('sha256').update(user).update('\0').update(password).digest('hex');
    if (hash === undefined) {
      // The same work as a known user, so that timing does not tell which users exist.
      await bcrypt.compare(password, '$2y$10$0000000000000000000000000000000000000000000000000000.');
      return false;
    }
    if (this.passed.has(pair)) return true;
    if (!(await bcrypt.compare(password, hash))) return false;
    if (this.passed.size >= 64) this.passed.clear();
    this.passed.add(pair);
    return true;
  }
}
