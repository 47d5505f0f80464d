/**
 * faultline's metric families (src/expose/families/), every value computed
 * from FaultlineState when scraped, rendered as Prometheus text or
 * OpenMetrics; prom-client (private registries) adds its process/nodejs
 * runtime metrics. Names and help strings are the reference for the README.
 */
import client from 'prom-client';
import type { FaultlineState } from '../aggregate/state.js';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, renderFamilies, type Family } from './exposition.js';
import { faultFamilies } from './families/faults.js';
import { headroomFamilies } from './families/headroom.js';
import { oomFamilies } from './families/oom.js';
import { selfFamilies, type ExporterSelf } from './families/self.js';
import { stallFamilies } from './families/stalls.js';

export interface Exposition {
  /** Renders every family: faultline's own from the state, then prom-client's process/nodejs metrics. */
  render(openMetrics: boolean): Promise<{ contentType: string; body: string }>;
}

/** Every faultline family, computed from the state (and the exporter's own statistics) when read: /metrics renders them, OTLP pushes them. */
export function createFamilies(state: FaultlineState, self: ExporterSelf): Family[] {
  const on = self.collectors;
  return [
    ...faultFamilies(state),
    ...(on.headroom ? headroomFamilies(state) : []),
    ...(on.stalls ? stallFamilies(state) : []),
    ...(on.oom ? oomFamilies(state) : []),
    ...selfFamilies(state, self),
  ];
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

