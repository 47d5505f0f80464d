/**
 * The metric model every view renders from. A family is declared once —
 * Prometheus name, help, typed label names, kind, and its OpenTelemetry name
 * and unit — and yields samples (counters, gauges) or histogram points
 * (bounds and counts) when read. /metrics (src/expose/exposition.ts), OTLP
 * (src/expose/otlp.ts) and the docs' metric tables (metrics-docs.ts) all
 * render from it.
 */

export type FamilyType = 'counter' | 'gauge' | 'histogram';
export type LabelValue = string | number;
/**
 * A sample's labels: by name, or — for hot families, no object per sample —
 * the values alone, in labelNames order.
 */
export type Labels = Readonly<Record<string, LabelValue>> | readonly LabelValue[];
export type Sample = readonly [Labels, number];

/** One histogram series: finite upper bounds (ascending), the cumulative count at each, and the total count and sum. */
export interface HistogramPoint {
  readonly labels: Labels;
  readonly bounds: readonly number[];
  readonly cumulative: readonly number[];
  readonly count: number;
  readonly sum: number;
}

/** The OpenTelemetry view of a family: a dotted name and a UCUM unit ("By", "s", "1", "{fault}"). */
export interface OtelName {
  readonly name: string;
  readonly unit: string;
}

interface FamilyBase {
  /** The Prometheus name; counters end in _total. */
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly otel: OtelName;
}

export interface ScalarFamily extends FamilyBase {
  readonly type: 'counter' | 'gauge';
  readonly samples: () => Iterable<Sample>;
}

export interface HistogramFamily extends FamilyBase {
  readonly type: 'histogram';
  readonly points: () => Iterable<HistogramPoint>;
}

export type Family = ScalarFamily | HistogramFamily;

/** A sample's labels as an object (OTLP attributes), whichever form the family yields. */
export function labelObject(labelNames: readonly string[], labels: Labels): Record<string, LabelValue> {
  if (!Array.isArray(labels)) return { ...(labels as Readonly<Record<string, LabelValue>>) };
  const out: Record<string, LabelValue> = {};
  for (let i = 0; i < labelNames.length; i++) out[labelNames[i]!] = (labels as readonly LabelValue[])[i]!;
  return out;
}

/** [OpenTelemetry name, unit]: written next to the Prometheus name, so that each family is declared in one place. */
export type Otel = readonly [name: string, unit: string];

export interface FamilyList {
  readonly families: Family[];
  readonly counter: (name: string, otel: Otel, help: string, labelNames: string[], samples: () => Iterable<Sample>) => void;
  readonly gauge: (name: string, otel: Otel, help: string, labelNames: string[], samples: () => Iterable<Sample>) => void;
  readonly histogram: (name: string, otel: Otel, help: string, labelNames: string[], points: () => Iterable<HistogramPoint>) => void;
}

export function familyList(): FamilyList {
  const families: Family[] = [];
  const otelName = ([name, unit]: Otel) => ({ name, unit });
  return {
    families,
    counter: (name, otel, help, labelNames, samples) => void families.push({ name, otel: otelName(otel), help, type: 'counter', labelNames, samples }),
    gauge: (name, otel, help, labelNames, samples) => void families.push({ name, otel: otelName(otel), help, type: 'gauge', labelNames, samples }),
    histogram: (name, otel, help, labelNames, points) => void families.push({ name, otel: otelName(otel), help, type: 'histogram', labelNames, points }),
  };
}


/**
 * A value several families read in one scrape, computed once per state
 * refresh (every scrape refreshes the state before rendering).
 */
export function perRefresh<T>(state: { readonly refreshes: number }, compute: () => T): () => T {
  let memo: { refresh: number; value: T } | null = null;
  return () => {
    if (memo === null || memo.refresh !== state.refreshes) memo = { refresh: state.refreshes, value: compute() };
    return memo.value;
  };
}
