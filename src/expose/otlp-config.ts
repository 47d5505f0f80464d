/**
 * OTLP push configuration, resolved the way every OpenTelemetry component
 * resolves it: the standard OTEL_* environment variables, with faultline's
 * --otlp.* flags winning over them. Off unless an endpoint is configured.
 * Pure: flags and environment in, a config (or null) out.
 */

export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';
export type OtlpTemporality = 'cumulative' | 'delta' | 'lowmemory';

export interface OtlpConfig {
  /** Where metrics go: the full URL for HTTP (…/v1/metrics), host:port URL for gRPC. */
  readonly url: string;
  readonly protocol: OtlpProtocol;
  readonly headers: Readonly<Record<string, string>>;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly temporality: OtlpTemporality;
  /** OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME and the flags; faultline adds what it detects under these. */
  readonly resourceAttributes: Readonly<Record<string, string>>;
}

export interface OtlpFlags {
  endpoint?: string;
  metricsEndpoint?: string;
  protocol?: string;
  headers?: readonly string[];
  /** Seconds. */
  intervalSeconds?: number;
  /** Seconds. */
  timeoutSeconds?: number;
  temporality?: string;
  resourceAttributes?: readonly string[];
  serviceName?: string;
}

export class OtlpConfigError extends Error {}

const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];
const TEMPORALITIES: readonly OtlpTemporality[] = ['cumulative', 'delta', 'lowmemory'];

/** `k=v,k2=v2` (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES): percent-decoded, blanks trimmed. */
export function parseKeyValueList(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new OtlpConfigError(`${what}: ${JSON.stringify(item.trim())} is not key=value`);
    try {
      out[decodeURIComponent(item.slice(0, eq).trim())] = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      throw new OtlpConfigError(`${what}: ${JSON.stringify(item.trim())} is not valid percent-encoding`);
    }
  }
  return out;
}

/** Milliseconds from min to 2^31 - 1 (what a timer can wait), or undefined when unset. */
function boundedMs(text: string | undefined, what: string, min: number): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > 2 ** 31 - 1) {
    throw new OtlpConfigError(`${what}=${JSON.stringify(text)} is not a number of milliseconds from ${min} to ${2 ** 31 - 1}`);
  }
  return n;
}

function checkUrl(url: string, what: string): string {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new OtlpConfigError(`${what} ${JSON.stringify(url)} is not an http:// or https:// URL`);
  }
  return url;
}

/** A base endpoint plus the signal path, as the spec has it for HTTP; gRPC takes the base as is. */
function metricsUrlOf(base: string, protocol: OtlpProtocol): string {
  if (protocol === 'grpc') return base;
  return `${base.replace(/\/+$/, '')}/v1/metrics`;
}

/** The configuration, or null when no endpoint is configured (or OTEL_SDK_DISABLED=true). */
export function resolveOtlpConfig(flags: OtlpFlags, env: Readonly<Record<string, string | undefined>>): OtlpConfig | null {
  // Disabled means disabled: nothing else is read, so a bad endpoint next to it is no error.
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
  const protocolText = flags.protocol ?? env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  if (!PROTOCOLS.includes(protocolText as OtlpProtocol)) {
    throw new OtlpConfigError(`OTLP protocol ${JSON.stringify(protocolText)} is not one of ${PROTOCOLS.join(', ')}`);
  }
  const protocol = protocolText as OtlpProtocol;
  // A flag beats any variable; a signal-specific endpoint beats the base one.
  let url: string | undefined;
  if (flags.metricsEndpoint) url = checkUrl(flags.metricsEndpoint, '--otlp.metrics-endpoint');
  else if (flags.endpoint) url = metricsUrlOf(checkUrl(flags.endpoint, '--otlp.endpoint'), protocol);
  else if (env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) url = checkUrl(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');
  else if (env.OTEL_EXPORTER_OTLP_ENDPOINT) url = metricsUrlOf(checkUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'OTEL_EXPORTER_OTLP_ENDPOINT'), protocol);
  if (url === undefined) return null;

  const headers = {
    ...parseKeyValueList(env.OTEL_EXPORTER_OTLP_HEADERS ?? '', 'OTEL_EXPORTER_OTLP_HEADERS'),
    ...parseKeyValueList(env.OTEL_EXPORTER_OTLP_METRICS_HEADERS ?? '', 'OTEL_EXPORTER_OTLP_METRICS_HEADERS'),
    ...parseKeyValueList((flags.headers ?? []).join(','), '--otlp.header'),
  };
  const temporality = (flags.temporality ?? env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE ?? 'cumulative').toLowerCase();
  if (!TEMPORALITIES.includes(temporality as OtlpTemporality)) {
    throw new OtlpConfigError(`OTLP temporality ${JSON.stringify(temporality)} is not one of ${TEMPORALITIES.join(', ')}`);
  }
  const intervalMs =
    (flags.intervalSeconds !== undefined ? flags.intervalSeconds * 1000 : undefined) ??
    boundedMs(env.OTEL_METRIC_EXPORT_INTERVAL, 'OTEL_METRIC_EXPORT_INTERVAL', 1000) ??
    60000;
  const timeoutMs =
    (flags.timeoutSeconds !== undefined ? flags.timeoutSeconds * 1000 : undefined) ??
    boundedMs(env.OTEL_EXPORTER_OTLP_METRICS_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT, 'OTEL_EXPORTER_OTLP_TIMEOUT', 100) ??
    10000;
  const resourceAttributes: Record<string, string> = {
    ...parseKeyValueList(env.OTEL_RESOURCE_ATTRIBUTES ?? '', 'OTEL_RESOURCE_ATTRIBUTES'),
    ...(env.OTEL_SERVICE_NAME ? { 'service.name': env.OTEL_SERVICE_NAME } : {}),
    ...parseKeyValueList((flags.resourceAttributes ?? []).join(','), '--otlp.resource-attribute'),
    ...(flags.serviceName ? { 'service.name': flags.serviceName } : {}),
  };
  return { url, protocol, headers, intervalMs, timeoutMs: Math.min(timeoutMs, intervalMs), temporality: temporality as OtlpTemporality, resourceAttributes };
}
