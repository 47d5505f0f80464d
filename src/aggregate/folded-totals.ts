/**
 * Final counts of things that are gone (exited processes, removed cgroups),
 * kept by a group key (comm, cgroup) for at most `max` keys. When a new key
 * would pass the bound, the key that changed least recently moves into
 * `other`, so the sum over keys and `other` is always every folded count.
 * Pure.
 */
import { addCounts, emptyCountsOf } from './counts.js';
import type { RegionTypeCounts } from '../bpf/contract.js';

/** The label of what is folded beyond a bound: comms, cgroups, label sets past their maximum. */
export const OTHER = '[other]';

/** How to make an empty value and add one value into another. */
export interface Summable<V> {
  empty(): V;
  add(into: V, from: V): void;
}

const REGION_TYPE_COUNTS: Summable<RegionTypeCounts> = { empty: emptyCountsOf, add: addCounts };

export class FoldedTotals<K, V = RegionTypeCounts> {
  readonly max: number;
  readonly other: V;
  /** Keys moved into `other` so far. */
  evicted = 0;
  private readonly sum: Summable<V>;
  // Map order is recency order: a key is re-inserted each time it changes.
  private readonly byKey = new Map<K, V>();

  constructor(max: number, sum: Summable<V> = REGION_TYPE_COUNTS as unknown as Summable<V>) {
    this.max = max;
    this.sum = sum;
    this.other = sum.empty();
  }

  add(key: K, value: V): void {
    const prev = this.byKey.get(key);
    this.byKey.delete(key);
    const next = prev ?? this.sum.empty();
    this.sum.add(next, value);
    this.byKey.set(key, next);
    while (this.byKey.size > this.max) {
      const [oldest, oldValue] = this.byKey.entries().next().value as [K, V];
      this.sum.add(this.other, oldValue);
      this.byKey.delete(oldest);
      this.evicted++;
    }
  }

  entries(): IterableIterator<[K, V]> {
    return this.byKey.entries();
  }

  get size(): number {
    return this.byKey.size;
  }
}
