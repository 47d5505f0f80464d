/** Declaring metric families: a name, a help sentence, labels, and samples computed at scrape time. */
import type { FaultlineState } from '../../aggregate/state.js';
import type { Family, HistogramPoint, Sample } from '../exposition.js';

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
export function perRefresh<T>(state: FaultlineState, compute: () => T): () => T {
  let memo: { refresh: number; value: T } | null = null;
  return () => {
    if (memo === null || memo.refresh !== state.refreshes) memo = { refresh: state.refreshes, value: compute() };
    return memo.value;
  };
}
