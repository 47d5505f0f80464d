/* OTLP: configuration from variables and flags, label and histogram conversion (names: docs-metrics.test.ts). */
import t from 'tap';
import { OtlpConfigError, parseKeyValueList, resolveOtlpConfig } from '../src/expose/otlp-config.js';
import { histogramPoints } from '../src/expose/otlp.js';
import { labelObject, type HistogramFamily } from '../src/metrics/family.js';

t.test('off unless an endpoint is configured', async (t) => {
  t.equal(resolveOtlpConfig({}, {}), null);
  t.equal(resolveOtlpConfig({}, { OTEL_METRIC_EXPORT_INTERVAL: '1000' }), null);
  t.equal(resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), null, 'OTEL_SDK_DISABLED');
});

t.test('the standard variables', async (t) => {
  const c = resolveOtlpConfig({}, {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc, x-tenant=t1',
    OTEL_METRIC_EXPORT_INTERVAL: '15000',
    OTEL_EXPORTER_OTLP_TIMEOUT: '5000',
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,team=sre',
    OTEL_SERVICE_NAME: 'faultline-prod',
  })!;
  t.equal(c.url, 'http://collector:4318/v1/metrics', 'the base endpoint gets /v1/metrics for HTTP');
  t.equal(c.protocol, 'http/protobuf', 'default protocol');
  t.strictSame(c.headers, { authorization: 'Bearer abc', 'x-tenant': 't1' }, 'headers, percent-decoded');
  t.equal(c.intervalMs, 15000);
  t.equal(c.timeoutMs, 5000);
  t.equal(c.temporality, 'delta');
  t.strictSame(c.resourceAttributes, { 'deployment.environment.name': 'prod', team: 'sre', 'service.name': 'faultline-prod' });
  const specific = resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://b:9000/custom' })!;
  t.equal(specific.url, 'http://b:9000/custom', 'the metrics endpoint is used as is, and beats the base one');
  const grpc = resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })!;
  t.equal(grpc.url, 'http://a:4317', 'gRPC takes the base endpoint as is');
  t.equal(resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })!.protocol, 'http/json', 'the metrics protocol beats the base one');
  const defaults = resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a' })!;
  t.match(defaults, { intervalMs: 60000, timeoutMs: 10000, temporality: 'cumulative' }, 'the spec\'s defaults; cumulative unless asked');
});

t.test('a flag wins over its variable', async (t) => {
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://env-metrics:4318/v1/metrics',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_HEADERS: 'a=env,b=env',
    OTEL_METRIC_EXPORT_INTERVAL: '15000',
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta',
    OTEL_RESOURCE_ATTRIBUTES: 'team=sre,zone=a',
    OTEL_SERVICE_NAME: 'env-name',
  };
  const c = resolveOtlpConfig(
    { endpoint: 'http://flag:4318', protocol: 'http/json', headers: ['a=flag'], intervalSeconds: 5, temporality: 'cumulative', resourceAttributes: ['team=platform'], serviceName: 'flag-name' },
    env,
  )!;
  t.equal(c.url, 'http://flag:4318/v1/metrics', '--otlp.endpoint beats both variables');
  t.equal(c.protocol, 'http/json');
  t.strictSame(c.headers, { a: 'flag', b: 'env' }, 'a header flag replaces that header only');
  t.equal(c.intervalMs, 5000);
  t.equal(c.temporality, 'cumulative');
  t.strictSame(c.resourceAttributes, { team: 'platform', zone: 'a', 'service.name': 'flag-name' });
  t.equal(resolveOtlpConfig({ metricsEndpoint: 'http://exact/path' }, env)!.url, 'http://exact/path');
  t.equal(resolveOtlpConfig({ timeoutSeconds: 30, intervalSeconds: 10 }, env)!.timeoutMs, 10000, 'an export cannot outlast the interval');
});

t.test('errors say what is wrong', async (t) => {
  t.throws(() => resolveOtlpConfig({ endpoint: 'collector:4318' }, {}), new OtlpConfigError('--otlp.endpoint "collector:4318" is not an http:// or https:// URL'));
  t.throws(() => resolveOtlpConfig({ protocol: 'udp' }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a' }), /OTLP protocol "udp" is not one of http\/protobuf, http\/json, grpc/);
  t.throws(() => resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a', OTEL_METRIC_EXPORT_INTERVAL: 'soon' }), /OTEL_METRIC_EXPORT_INTERVAL="soon" is not a number of milliseconds from 1000 to 2147483647/);
  for (const bad of ['1e12', '0.001', '0', '-5', 'Infinity']) {
    t.throws(() => resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a', OTEL_METRIC_EXPORT_INTERVAL: bad }), /from 1000 to 2147483647/, bad);
  }
  t.throws(() => resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a', OTEL_EXPORTER_OTLP_TIMEOUT: '1' }), /OTEL_EXPORTER_OTLP_TIMEOUT="1" is not a number of milliseconds from 100/);
  t.equal(resolveOtlpConfig({}, { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }), null, 'disabled: nothing else is read');
  t.throws(() => parseKeyValueList('novalue', 'OTEL_RESOURCE_ATTRIBUTES'), /"novalue" is not key=value/);
  t.throws(() => resolveOtlpConfig({ temporality: 'sometimes' }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a' }), /temporality "sometimes"/);
});

t.test('labels become attributes; histogram points become OTLP histograms', async (t) => {
  t.strictSame(labelObject(['pid', 'comm'], [42, 'a "b"']), { pid: 42, comm: 'a "b"' }, 'values in labelNames order');
  t.strictSame(labelObject(['cgroup', 'event'], { cgroup: '/x', event: 'max' }), { cgroup: '/x', event: 'max' });
  const family: HistogramFamily = {
    name: 'faultline_x_seconds',
    help: 'x',
    type: 'histogram',
    labelNames: ['cgroup'],
    otel: { name: 'faultline.x', unit: 's' },
    points: () => [
      { labels: ['/a'], bounds: [0.001, 0.004], cumulative: [2, 5], count: 6, sum: 0.01 },
      { labels: { cgroup: '/b' }, bounds: [1], cumulative: [0], count: 1, sum: 7 },
    ],
  };
  t.strictSame(histogramPoints(family), [
    { attributes: { cgroup: '/a' }, boundaries: [0.001, 0.004], counts: [2, 3, 1], sum: 0.01, count: 6 },
    { attributes: { cgroup: '/b' }, boundaries: [1], counts: [0, 1], sum: 7, count: 1 },
  ]);
});

