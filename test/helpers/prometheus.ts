/**
 * A real Prometheus (Debian's package) on loopback for live tests: it scrapes
 * the given targets every second, evaluates the given rule files every
 * second, and keeps its data in a temporary directory removed on stop().
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ROOT, waitFor } from './live.js';

export const SHIPPED_RULES = `${ROOT}deploy/prometheus/faultline-rules.yml`;

export interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  activeAt: string;
  value: string;
}

export interface PromResult {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface Prometheus {
  readonly url: string;
  /** An instant query; throws with Prometheus's error when it does not parse or fails. */
  query(expr: string): Promise<{ resultType: string; result: PromResult[] }>;
  alerts(): Promise<Alert[]>;
  /** Stops it and removes its data. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts Prometheus scraping `targets` (exporter URLs, path included) every
 * second, with `rules` (file contents) evaluated every second; returns once
 * every target has been scraped.
 */
/** `scrapeExtra`: more lines for every scrape job (tls_config, basic_auth), indented as job keys. */
export async function startPrometheus(targets: string[], rules: string[] = [], scrapeExtra: string[] = []): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-prometheus-'));
  const ruleFiles = rules.map((text, i) => {
    const path = join(dir, `rules-${i}.yml`);
    writeFileSync(path, text);
    return path;
  });
  const scrapeConfigs = targets.map((target, i) => {
    const u = new URL(target);
    return [
      `  - job_name: faultline-${i}`,
      `    metrics_path: ${u.pathname}`,
      `    scheme: ${u.protocol.replace(':', '')}`,
      ...scrapeExtra.map((line) => `    ${line}`),
      '    static_configs:',
      `      - targets: ['${u.host}']`,
    ].join('\n');
  });
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      ...ruleFiles.map((p) => `  - ${basename(p)}`),
      'scrape_configs:',
      ...scrapeConfigs,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitFor('Prometheus to be ready', async () => (await fetch(`${url}/-/ready`).catch(() => null))?.ok, 30000),
      exited.then((code) => {
        throw new Error(`prometheus exited ${code}: ${stderr}`);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  const prometheus: Prometheus = {
    url,
    query: (expr) => api(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    alerts: async () => (await api<{ alerts: Alert[] }>('/api/v1/alerts')).alerts,
    stop,
  };
  const scraped = async (): Promise<boolean> => (await prometheus.query('up')).result.filter((r) => r.value?.[1] === '1').length === targets.length;
  try {
    await waitFor('Prometheus to scrape every target', scraped);
  } catch (err) {
    await stop();
    throw err;
  }
  return prometheus;
}
