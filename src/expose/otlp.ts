/**
 * OTLP metrics push from the same families /metrics renders: a MeterProvider
 * whose observable instruments (counters, gauges) read each family's samples
 * at collection, plus a MetricProducer for the histograms (the SDK has no
 * observable histogram), all from one state refresh per collection. No second
 * aggregation: the kernel's counts, as /metrics shows them. Imported only
 * when an endpoint is configured (serve loads it on demand).
 *
 * A periodic reader exports over OTLP (http/protobuf, http/json or gRPC).
 * The SDK's exporter retries each export with backoff (up to 5 attempts,
 * 1 s growing 1.5x to 5 s, within the timeout); failures are counted
 * (faultline_otlp_exports_total{result}) and reported once per outage.
 */
import { hostname } from 'node:os';
import { Metadata } from '@grpc/grpc-js';
import { ValueType, type Attributes, type HrTime, type ObservableResult } from '@opentelemetry/api';
import { ExportResultCode, hrTime, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter as GrpcExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { AggregationTemporalityPreference, OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type CollectionResult,
  type HistogramMetricData,
  type MetricProducer,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { labelObject, type Family, type HistogramFamily } from '../metrics/family.js';
import type { OtlpConfig } from './otlp-config.js';
import { log } from '../log.js';

/** Export outcomes, shown as faultline_otlp_exports_total. */
export interface OtlpStats {
  success: number;
  failure: number;
}

/** OTLP histogram points from the model's: per-bucket counts (the last beyond every bound), not cumulative ones. */
export function histogramPoints(family: HistogramFamily): { attributes: Attributes; boundaries: number[]; counts: number[]; sum: number; count: number }[] {
  const out = [];
  for (const p of family.points()) {
    const counts: number[] = [];
    let below = 0;
    for (const cumulative of p.cumulative) {
      counts.push(cumulative - below);
      below = cumulative;
    }
    counts.push(p.count - below);
    out.push({ attributes: labelObject(family.labelNames, p.labels), boundaries: [...p.bounds], counts, sum: p.sum, count: p.count });
  }
  return out;
}

/** Reports an outage once when it starts and once when it ends, counting every export. */
class ReportingExporter implements PushMetricExporter {
  private failingSince: number | null = null;
  private failedInOutage = 0;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly url: string,
    private readonly stats: OtlpStats,
    private readonly log: (line: string) => void,
  ) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.inner.export(metrics, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        this.stats.success++;
        if (this.failingSince !== null) {
          const seconds = ((Date.now() - this.failingSince) / 1000).toFixed(0);
          this.log(`OTLP export to ${this.url} works again, after ${this.failedInOutage} failed exports over ${seconds} s`);
          this.failingSince = null;
          this.failedInOutage = 0;
        }
      } else {
        this.stats.failure++;
        this.failedInOutage++;
        if (this.failingSince === null) {
          this.failingSince = Date.now();
          this.log(
            `OTLP export to ${this.url} failed (${result.error?.message ?? 'unknown error'}); ` +
              'retrying with backoff and at every interval, counted in faultline_otlp_exports_total{result="failure"}; /metrics is unaffected',
          );
        }
      }
      done(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  selectAggregationTemporality = (type: Parameters<NonNullable<PushMetricExporter['selectAggregationTemporality']>>[0]): AggregationTemporality =>
    this.inner.selectAggregationTemporality?.(type) ?? AggregationTemporality.CUMULATIVE;
}

export interface OtlpPushOptions {
  config: OtlpConfig;
  families: readonly Family[];
  /** Brings the state up to date (drain rings, read maps), as a scrape does first. */
  refresh: () => void;
  stats: OtlpStats;
  version: string;
  /** Attributes faultline knows of where it runs (k8s.*), under the configured ones. */
  detected?: Record<string, string>;
  log?: (line: string) => void;
}

export class OtlpPush {
  private readonly provider: MeterProvider;

  constructor(options: OtlpPushOptions) {
    const { config, families, stats } = options;
    const logLine = options.log ?? ((line: string) => log.warn(line));
    const resource = resourceFromAttributes({
      'service.name': 'faultline',
      'service.version': options.version,
      'service.instance.id': hostname(),
      'host.name': hostname(),
      ...options.detected,
      ...config.resourceAttributes,
    });
    const temporalityPreference = {
      cumulative: AggregationTemporalityPreference.CUMULATIVE,
      delta: AggregationTemporalityPreference.DELTA,
      lowmemory: AggregationTemporalityPreference.LOWMEMORY,
    }[config.temporality];
    const exporterOptions = { url: config.url, headers: { ...config.headers }, timeoutMillis: config.timeoutMs, temporalityPreference };
    const inner =
      config.protocol === 'grpc'
        ? new GrpcExporter({ url: config.url, timeoutMillis: config.timeoutMs, temporalityPreference, metadata: grpcMetadata(config.headers) })
        : config.protocol === 'http/json'
          ? new JsonExporter(exporterOptions)
          : new ProtoExporter(exporterOptions);

    // One state refresh per collection, shared by the instruments' callback and the histogram producer.
    let refreshedAt = 0;
    const fresh = (): void => {
      if (Date.now() - refreshedAt < config.intervalMs / 2) return;
      refreshedAt = Date.now();
      options.refresh();
    };
    const startTime: HrTime = hrTime();
    const histograms = families.filter((f): f is HistogramFamily => f.type === 'histogram');
    const producer = new HistogramProducer(histograms, config.temporality === 'cumulative' ? AggregationTemporality.CUMULATIVE : AggregationTemporality.DELTA, startTime, fresh);

    const reader = new PeriodicExportingMetricReader({
      exporter: new ReportingExporter(inner, config.url, stats, logLine),
      exportIntervalMillis: config.intervalMs,
      exportTimeoutMillis: config.intervalMs,
      metricProducers: [producer],
    });
    this.provider = new MeterProvider({ resource, readers: [reader] });
    const meter = this.provider.getMeter('faultline', options.version);
    for (const family of families) {
      if (family.type === 'histogram') continue;
      const { name, unit } = family.otel;
      const spec = { description: family.help, unit, valueType: ValueType.DOUBLE };
      const instrument = family.type === 'counter' ? meter.createObservableCounter(name, spec) : meter.createObservableGauge(name, spec);
      instrument.addCallback((result: ObservableResult) => {
        fresh();
        for (const [labels, value] of family.samples()) result.observe(value, labelObject(family.labelNames, labels));
      });
    }
  }

  /** Exports what is left and stops. */
  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}

/** gRPC metadata from header pairs. */
function grpcMetadata(headers: Readonly<Record<string, string>>): Metadata {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return metadata;
}

/** The histogram families as OTLP histograms, cumulative or as deltas from the previous collection. */
class HistogramProducer implements MetricProducer {
  private previous = new Map<string, { counts: number[]; sum: number; count: number; time: HrTime }>();

  constructor(
    private readonly families: readonly HistogramFamily[],
    private readonly temporality: AggregationTemporality,
    private readonly startTime: HrTime,
    private readonly fresh: () => void,
  ) {}

  async collect(): Promise<CollectionResult> {
    this.fresh();
    const now = hrTime();
    const seen = new Map<string, { counts: number[]; sum: number; count: number; time: HrTime }>();
    const metrics: HistogramMetricData[] = this.families.map((family) => {
      const { name, unit } = family.otel;
      const dataPoints = histogramPoints(family).map((p) => {
        const key = `${family.name}${JSON.stringify(p.attributes)}`;
        seen.set(key, { counts: p.counts, sum: p.sum, count: p.count, time: now });
        const before = this.temporality === AggregationTemporality.DELTA ? this.previous.get(key) : undefined;
        return {
          attributes: p.attributes,
          startTime: before?.time ?? this.startTime,
          endTime: now,
          value: {
            buckets: { boundaries: p.boundaries, counts: before ? p.counts.map((c, i) => c - (before.counts[i] ?? 0)) : p.counts },
            sum: before ? p.sum - before.sum : p.sum,
            count: before ? p.count - before.count : p.count,
          },
        };
      });
      return {
        descriptor: { name, description: family.help, unit, valueType: ValueType.DOUBLE },
        aggregationTemporality: this.temporality,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints,
      };
    });
    this.previous = seen;
    return {
      resourceMetrics: { resource: resourceFromAttributes({}), scopeMetrics: [{ scope: { name: 'faultline' }, metrics }] },
      errors: [],
    };
  }
}
