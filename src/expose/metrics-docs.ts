/**
 * The docs' metric tables (docs/metrics.md, docs/otlp.md), rendered from the families' declarations (the
 * same ones /metrics and OTLP render): test/docs-metrics.test.ts fails when
 * docs/metrics.md or docs/otlp.md differs, and `npm run docs:metrics` rewrites them.
 */
import type { Family } from '../metrics/family.js';

const OTLP_TYPES: Record<Family['type'], string> = { counter: 'sum (monotonic)', gauge: 'gauge', histogram: 'histogram' };
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** One row per family: name, type, labels, and its help. */
export function metricsTable(families: readonly Family[]): string {
  const rows = families.map((f) => `| \`${f.name}\` | ${f.type} | ${f.labelNames.map((l) => `\`${l}\``).join(', ')} | ${cell(f.help)} |`);
  return ['| family | type | labels | what it is |', '|---|---|---|---|', ...rows].join('\n');
}

/** One row per family: its Prometheus and OpenTelemetry names, unit and OTLP type. */
export function otelTable(families: readonly Family[]): string {
  const rows = families.map((f) => `| \`${f.name}\` | \`${f.otel.name}\` | \`${f.otel.unit}\` | ${OTLP_TYPES[f.type]} |`);
  return ['| Prometheus | OpenTelemetry | unit | OTLP type |', '|---|---|---|---|', ...rows].join('\n');
}

/** `text` with what lies between `<!-- generated: NAME -->` and `<!-- end: NAME -->` replaced by `body`; null when the markers are missing. */
export function replaceGenerated(text: string, name: string, body: string): string | null {
  const begin = `<!-- generated: ${name} -->`;
  const end = `<!-- end: ${name} -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return null;
  return `${text.slice(0, from + begin.length)}\n${body}\n${text.slice(to)}`;
}
