import t from 'tap';
import { STALL_SLOTS, type StallKind } from '../src/bpf/contract.js';
import { type StallRecord } from '../src/features/stalls/decode.js';
import { StallTable, cumulativeBelow } from '../src/features/stalls/stall-table.js';

const S = 1_000_000_000n;
/** A record with `n` stalls in slot `slot`, each counted as 2^slot ns. */
function rec(memcgId: bigint, kind: StallKind, slot: number, n: number, reclaimedPages = 0n): StallRecord {
  const slots = new Array<bigint>(STALL_SLOTS).fill(0n);
  slots[slot] = BigInt(n);
  return { cgroupId: memcgId + 1000n, memcgId, kind, slots, count: BigInt(n), sumNs: BigInt(n) * 2n ** BigInt(slot), reclaimedPages };
}
const none = (): boolean => false;

t.test('cumulative counts at powers of two', async (t) => {
  const slots = new Array<bigint>(STALL_SLOTS).fill(0n);
  slots[3] = 2n; // [8, 16) ns
  slots[11] = 5n; // [2048, 4096) ns
  slots[39] = 1n; // the last slot: 2^39 ns and above
  t.strictSame(cumulativeBelow(slots, [3, 4, 12, 34, 40]), [0n, 2n, 7n, 7n, 8n]);
});

t.test('live cgroups by kind; the all-zero key is cgroups beyond the map', async (t) => {
  const table = new StallTable();
  const overflow = { ...rec(0n, 'memcg_reclaim', 20, 3), cgroupId: 0n };
  table.update([rec(7n, 'memcg_reclaim', 20, 4, 96n), rec(7n, 'compaction', 12, 1), overflow], 0n, none);
  const memcg = table.byCgroup('memcg_reclaim');
  t.equal(memcg.get(7n)?.count, 4n);
  t.equal(memcg.get(7n)?.reclaimedPages, 96n);
  t.equal(memcg.get(null)?.count, 3n, 'overflow');
  t.equal(table.byCgroup('compaction').get(7n)?.count, 1n);
  t.equal(table.byCgroup('direct_reclaim').size, 0);
});

t.test('two records with one memory cgroup (different v2 cgroups) add up', async (t) => {
  const table = new StallTable();
  table.update([rec(7n, 'memcg_reclaim', 20, 4), { ...rec(7n, 'memcg_reclaim', 21, 1), cgroupId: 5n }], 0n, none);
  const h = table.byCgroup('memcg_reclaim').get(7n)!;
  t.equal(h.count, 5n);
  t.equal(h.slots[20], 4n);
  t.equal(h.slots[21], 1n);
});

t.test('a removed cgroup is folded and forgotten in the kernel; its counts stay', async (t) => {
  const table = new StallTable({ goneCheckNs: 10n * S });
  let gone = new Set<bigint>();
  const isGone = (ids: { memcgId: bigint }): boolean => gone.has(ids.memcgId);
  const a = rec(7n, 'memcg_reclaim', 20, 4);
  const b = rec(8n, 'memcg_reclaim', 20, 2);
  t.strictSame(table.update([a, b], 0n, isGone), []);
  gone = new Set([7n]);
  t.strictSame(table.update([a, b], 5n * S, isGone), [], 'not looked for before goneCheckNs');
  t.strictSame(table.update([a, b], 10n * S, isGone), [a], 'folded: delete it from the map');
  t.equal(table.byCgroup('memcg_reclaim').get(7n)?.count, 4n, 'still exported under its cgroup');
  table.update([b], 20n * S, isGone);
  t.equal(table.byCgroup('memcg_reclaim').get(7n)?.count, 4n, 'after the kernel entry is gone');
  t.equal(table.byCgroup('memcg_reclaim').get(8n)?.count, 2n);
  const overflow = { ...rec(0n, 'compaction', 3, 1), cgroupId: 0n };
  t.strictSame(table.update([overflow], 30n * S, () => true), [], 'the overflow key is never removed');
});

t.test('folded cgroups are bounded; the rest count as other', async (t) => {
  const table = new StallTable({ maxGroups: 2, goneCheckNs: 0n });
  const gone = (): boolean => true;
  table.update([rec(1n, 'direct_reclaim', 10, 1), rec(2n, 'direct_reclaim', 10, 2)], 0n, gone);
  table.update([rec(3n, 'direct_reclaim', 10, 4)], 1n, gone);
  const direct = table.byCgroup('direct_reclaim');
  t.equal(direct.get(1n), undefined, 'the least recently changed cgroup moved out');
  t.equal(direct.get(null)?.count, 1n);
  t.equal(direct.get(2n)?.count, 2n);
  t.equal(direct.get(3n)?.count, 4n);
  t.equal([...direct.values()].reduce((n, h) => n + h.count, 0n), 7n, 'nothing lost');
  t.equal(table.folded.evicted, 1);
});
