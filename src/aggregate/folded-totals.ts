/**
 * Final counts of exited processes, kept by a group key (comm, cgroup) for at
 * most `max` keys. When a new key would pass the bound, the key that changed
 * least recently moves into `other`, so the sum over keys and `other` is
 * always every folded fault. Pure.
 */
import { addCounts, emptyCountsOf } from './counts.js';
import type { RegionTypeCounts } from '../bpf/contract.js';

export class FoldedTotals<K> {
  readonly max: number;
  readonly other: RegionTypeCounts = emptyCountsOf();
  /** Keys moved into `other` so far. */
  evicted = 0;
  // Map order is recency order: a key is re-inserted each time it changes.
  private readonly byKey = new Map<K, RegionTypeCounts>();

  constructor(max: number) {
    this.max = max;
  }

  add(key: K, counts: RegionTypeCounts): void {
    const prev = this.byKey.get(key);
    this.byKey.delete(key);
    const next = prev ?? emptyCountsOf();
    addCounts(next, counts);
    this.byKey.set(key, next);
    while (this.byKey.size > this.max) {
      const [oldest, oldCounts] = this.byKey.entries().next().value as [K, RegionTypeCounts];
      addCounts(this.other, oldCounts);
      this.byKey.delete(oldest);
      this.evicted++;
    }
  }

  entries(): IterableIterator<[K, RegionTypeCounts]> {
    return this.byKey.entries();
  }

  get size(): number {
    return this.byKey.size;
  }
}
