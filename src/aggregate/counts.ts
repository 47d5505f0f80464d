/** Arithmetic on [region][type] fault counts. Pure. */
import { emptyCounts, type RegionTypeCounts } from '../bpf/contract.js';

export const emptyCountsOf = emptyCounts;

export function sumCounts(faults: RegionTypeCounts): bigint {
  let sum = 0n;
  for (const row of faults) for (const n of row) sum += n;
  return sum;
}

export function addCounts(into: RegionTypeCounts, from: RegionTypeCounts): void {
  for (let r = 0; r < into.length; r++) {
    const a = into[r]!;
    const b = from[r]!;
    for (let t = 0; t < a.length; t++) a[t]! += b[t]!;
  }
}
