/** Declaring metric families: a name, a help sentence, labels, and samples computed at scrape time. */
import { FAULT_TYPES, REGIONS } from '../../bpf/contract.js';
import type { FaultlineState } from '../../aggregate/state.js';
import type { Family, Sample } from '../exposition.js';

export interface FamilyList {
  readonly families: Family[];
  readonly counter: (name: string, help: string, labelNames: string[], samples: () => Iterable<Sample>) => void;
  readonly gauge: (name: string, help: string, labelNames: string[], samples: () => Iterable<Sample>) => void;
}

export function familyList(): FamilyList {
  const families: Family[] = [];
  return {
    families,
    counter: (name, help, labelNames, samples) => void families.push({ name, help, type: 'counter', labelNames, samples }),
    gauge: (name, help, labelNames, samples) => void families.push({ name, help, type: 'gauge', labelNames, samples }),
  };
}

/** `type="minor",region="anon"` for each [region][type] cell, rendered once. */
export const CELL_LABELS = REGIONS.map((region) => FAULT_TYPES.map((type) => `type="${type}",region="${region}"`));

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
