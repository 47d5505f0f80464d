/** Pure numbers for the benchmark: medians, percentiles, BPF run-time deltas. */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export const median = (values: readonly number[]): number => percentile(values, 50);

/** run_time_ns / run_cnt of every loaded BPF program, by id. */
export type ProgStats = Map<number, { name: string; runTimeNs: number; runCount: number }>;

export function parseBpftoolProgs(json: string): ProgStats {
  const out: ProgStats = new Map();
  for (const p of JSON.parse(json) as { id: number; name?: string; run_time_ns?: number; run_cnt?: number }[]) {
    out.set(p.id, { name: p.name ?? '', runTimeNs: p.run_time_ns ?? 0, runCount: p.run_cnt ?? 0 });
  }
  return out;
}

/** Run time every program spent between two snapshots (programs loaded in between count from 0). */
export function runTimeDelta(before: ProgStats, after: ProgStats): { runTimeNs: number; byProgram: Record<string, number> } {
  let runTimeNs = 0;
  const byProgram: Record<string, number> = {};
  for (const [id, a] of after) {
    const b = before.get(id);
    const d = a.runTimeNs - (b && b.name === a.name ? b.runTimeNs : 0);
    if (d <= 0) continue;
    runTimeNs += d;
    byProgram[a.name] = (byProgram[a.name] ?? 0) + d;
  }
  return { runTimeNs, byProgram };
}
