/*
 * Live: OTLP push from a running exporter to a real receiver (test/helpers/
 * otlp-receiver.ts, decoding with the official proto definitions) while a
 * known workload runs. The pushed counts are the kernel's (the workload's
 * wait4() minflt) and what /metrics shows for the same moment; flags beat
 * variables; delta temporality adds up to the same count; gRPC works; a
 * receiver that is down or slow leaves /metrics serving, is retried with
 * backoff, counted, and reported once per outage.
 */
import t from 'tap';
import { hostname } from 'node:os';
import { SKIP_NOT_ROOT, runWorkload, scrape, startExporter, sum, waitFor, type Exporter } from './helpers/live.js';
import { startOtlpReceiver, type Push, type Receiver } from './helpers/otlp-receiver.js';

const pointsOf = (push: Push, name: string, match: Record<string, string> = {}): number[] =>
  (push.metrics.get(name)?.points ?? []).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v)).map((p) => p.value ?? 0);
const total = (values: number[]): number => values.reduce((a, b) => a + b, 0);

type Teardown = { teardown(fn: () => unknown): void };

async function withReceiver(t: Teardown): Promise<Receiver> {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  return receiver;
}

async function exporterWith(t: Teardown, flags: string[], env: Record<string, string>): Promise<Exporter> {
  const exporter = await startExporter(flags, [], env);
  t.teardown(() => exporter.stop());
  return exporter;
}

t.test('OTLP/HTTP protobuf from the standard variables: the kernel\'s counts, as /metrics has them', { skip: SKIP_NOT_ROOT }, async (t) => {
  const receiver = await withReceiver(t);
  const exporter = await exporterWith(t, ['--otlp.resource-attribute', 'team=platform'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpUrl,
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    OTEL_SERVICE_NAME: 'faultline-test',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=sre',
    OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=t1',
  });
  t.match(exporter.stderr(), /pushing metrics over OTLP \(http\/protobuf, cumulative\) to http:\/\/127\.0\.0\.1:\d+\/v1\/metrics every 1 s/);
  const k = runWorkload('anon', '20');
  const pid = String(k.pid);
  const arrived = pushesSince(receiver, Date.now());
  const push = await waitFor('a push with the workload', () => arrived().find((p) => pointsOf(p, 'faultline.process.page_faults', { pid }).length > 0), 10000);
  t.equal(total(pointsOf(push, 'faultline.process.page_faults', { pid })), k.minflt, `pushed faults of pid ${pid} = the kernel's minflt ${k.minflt}`);
  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, 'faultline_process_page_faults_total', { pid }), k.minflt, 'and = /metrics');

  // The host total moves all the time: a push lies between the scrapes around it.
  const before = sum((await scrape(exporter.url)).samples, 'faultline_page_faults_total');
  const next = pushesSince(receiver, Date.now());
  const later = await waitFor('the next push', () => next()[0], 5000);
  const after = sum((await scrape(exporter.url)).samples, 'faultline_page_faults_total');
  const pushed = total(pointsOf(later, 'faultline.page_faults'));
  t.ok(before <= pushed && pushed <= after, `/metrics ${before} <= pushed ${pushed} <= /metrics ${after}, one interval apart`);

  const faults = later.metrics.get('faultline.page_faults')!;
  t.match(faults, { unit: '{fault}', kind: 'sum', temporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE' });
  t.equal(later.metrics.get('faultline.cgroup.memory.usage')?.unit ?? 'By', 'By');
  t.match(later.metrics.get('faultline.scrape.duration'), { unit: 's', kind: 'gauge' });
  const rss = later.metrics.get('faultline.oom.victim.rss');
  t.match(rss, { unit: 'By', kind: 'histogram' }, 'histograms go as OTLP histograms');
  t.equal(rss?.points[0]?.explicitBounds?.length, (rss?.points[0]?.bucketCounts?.length ?? 0) - 1);
  t.match(later.resource, { 'service.name': 'faultline-test', 'host.name': hostname(), 'deployment.environment.name': 'test', team: 'platform' }, 'resource: flag beats variable');
  t.ok(later.resource['service.version'], 'service.version');
  t.equal(later.headers['x-tenant'], 't1', 'OTEL_EXPORTER_OTLP_HEADERS');
  t.ok(sum((await scrape(exporter.url)).samples, 'faultline_otlp_exports_total', { result: 'success' }) >= 2, 'exports counted');
});

t.test('flags beat variables; delta temporality over http/json adds up to the kernel\'s count', { skip: SKIP_NOT_ROOT }, async (t) => {
  const receiver = await withReceiver(t);
  await exporterWith(t, ['--otlp.endpoint', receiver.httpUrl, '--otlp.protocol', 'http/json', '--otlp.temporality', 'delta', '--otlp.interval', '1s'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', // discard: the flag must win
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
  });
  const k = runWorkload('anon', '20');
  const pid = String(k.pid);
  const after = pushesSince(receiver, Date.now());
  await waitFor('two pushes after the workload', () => after().length >= 2, 10000);
  const deltas = receiver.pushes.flatMap((p) => pointsOf(p, 'faultline.process.page_faults', { pid }));
  t.equal(total(deltas), k.minflt, `the deltas of pid ${pid} add up to its minflt ${k.minflt}`);
  t.equal(receiver.pushes.at(-1)!.metrics.get('faultline.page_faults')?.temporality, 'AGGREGATION_TEMPORALITY_DELTA');
});

t.test('OTLP/gRPC', { skip: SKIP_NOT_ROOT }, async (t) => {
  const receiver = await withReceiver(t);
  await exporterWith(t, ['--otlp.protocol', 'grpc', '--otlp.header', 'x-tenant=t2'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcUrl,
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
  });
  const k = runWorkload('anon', '10');
  const pid = String(k.pid);
  const push = await waitFor('a gRPC push with the workload', () => receiver.pushes.find((p) => pointsOf(p, 'faultline.process.page_faults', { pid }).length > 0), 10000);
  t.equal(total(pointsOf(push, 'faultline.process.page_faults', { pid })), k.minflt);
  t.equal(push.headers['x-tenant'], 't2', 'headers as gRPC metadata');
});

t.test('receiver down, back, then slow: /metrics serves, retries back off, failures counted, one line per outage', { skip: SKIP_NOT_ROOT }, async (t) => {
  const receiver = await withReceiver(t);
  receiver.mode = 'down';
  const exporter = await exporterWith(t, ['--otlp.endpoint', receiver.httpUrl, '--otlp.interval', '2s', '--otlp.timeout', '2s'], {});
  const failures = async (): Promise<number> => sum((await scrape(exporter.url)).samples, 'faultline_otlp_exports_total', { result: 'failure' });
  await waitFor('three failed exports', async () => (await failures()) >= 3, 20000);
  const failed = await failures();
  t.ok(receiver.attempts.length > failed, `${receiver.attempts.length} attempts for ${failed} failed exports: each export retried`);
  const gaps = receiver.attempts.slice(1).map((at, i) => at - receiver.attempts[i]!);
  t.ok(gaps.every((g) => g >= 300), `attempts spaced out (${gaps.join(', ')} ms apart), never hammered`);
  t.equal((exporter.stderr().match(/OTLP export to \S+ failed \(/g) ?? []).length, 1, 'one line for the outage, not one per attempt');
  t.match(exporter.stderr(), /failed \(.*\); retrying with backoff/);

  receiver.mode = 'ok';
  await waitFor('a push after the outage', () => receiver.pushes.length > 0, 10000);
  await waitFor('the recovery line', () => /works again, after \d+ failed exports/.test(exporter.stderr()));
  t.ok(sum((await scrape(exporter.url)).samples, 'faultline_otlp_exports_total', { result: 'success' }) >= 1);

  receiver.mode = 'slow';
  const failedBefore = await failures();
  await waitFor('an export to time out', async () => (await failures()) > failedBefore, 20000);
  const { samples } = await scrape(exporter.url);
  t.ok(sum(samples, 'faultline_page_faults_total') > 0, '/metrics serves while the receiver hangs');
  t.equal((exporter.stderr().match(/OTLP export to \S+ failed \(/g) ?? []).length, 2, 'the second outage gets its own one line');
});

/** Pushes that arrive after `since`. */
function pushesSince(receiver: Receiver, since: number): () => Push[] {
  return () => receiver.pushes.filter((p) => p.at > since);
}
