/**
 * faultline's metric families (each registered feature's families, then the
 * exporter's own), every value computed from FaultlineState when scraped,
 * rendered as Prometheus text or OpenMetrics; prom-client (private registries) adds its process/nodejs
 * runtime metrics. Names and help strings are the reference for docs/metrics.md.
 */
import client from 'prom-client';
import type { FaultlineState } from '../core/state.js';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, renderFamilies } from './exposition.js';
import type { Family } from '../metrics/family.js';
import { FEATURES } from '../core/features.js';
import { selfFamilies, type ExporterSelf } from './self-families.js';

export interface Exposition {
  /** Renders every family: faultline's own from the state, then prom-client's process/nodejs metrics. */
  render(openMetrics: boolean): Promise<{ contentType: string; body: string }>;
}

/** Every faultline family, computed from the state (and the exporter's own statistics) when read: /metrics renders them, OTLP pushes them. */
export function createFamilies(state: FaultlineState, self: ExporterSelf): Family[] {
  const on = self.collectors;
  return [...FEATURES.flatMap((f) => (f.families && (f.collector === null || on[f.collector]) ? f.families(state) : [])), ...selfFamilies(state, self)];
}

export function createExposition(families: Family[]): Exposition {
  // prom-client's runtime metrics; its registries render them (each has its own metric objects).
  const prometheus = new client.Registry();
  const openMetrics = new client.Registry<client.OpenMetricsContentType>();
  openMetrics.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
  for (const registry of [prometheus, openMetrics] as client.Registry[]) {
    client.collectDefaultMetrics({ register: registry });
    // prom-client names these gauges *_total, which promtool (rightly) rejects.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }
  return {
    async render(om) {
      const ours = renderFamilies(families, om);
      if (om) {
        const runtime = await openMetrics.metrics(); // ends with "# EOF"
        return { contentType: OPENMETRICS_CONTENT_TYPE, body: ours + runtime };
      }
      return { contentType: PROMETHEUS_CONTENT_TYPE, body: `${ours}\n${await prometheus.metrics()}` };
    },
  };
}

