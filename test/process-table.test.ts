import t from 'tap';
import { emptyCounts } from '../src/bpf/contract.js';
import { type ProcessFaultsRecord } from '../src/features/faults/decode.js';
import { sumCounts } from '../src/aggregate/counts.js';
import { ProcessTable } from '../src/features/faults/process-table.js';

const S = 1_000_000_000n;
function rec(pid: number, anonMinor: number, exitNs = 0n, comm = `p${pid}`): ProcessFaultsRecord {
  const faults = emptyCounts();
  faults[2]![0] = BigInt(anonMinor);
  return { pid, comm, exitNs, faults, cgroupId: 0n, memcgId: 0n };
}
const alive = (): boolean => true;

t.test('exports at most maxProcesses, the busiest by recent rate', async (t) => {
  const table = new ProcessTable({ maxProcesses: 2, rateWindowNs: 10n * S });
  table.update([rec(1, 1000), rec(2, 10), rec(3, 20)], 0n, alive);
  t.strictSame(table.busiest().map((p) => p.pid), [1, 3]);
  // pid 2 becomes busy, pid 1 goes quiet: after a few windows the ranking follows.
  table.update([rec(1, 1000), rec(2, 5000), rec(3, 20)], 60n * S, alive);
  t.strictSame(table.busiest().map((p) => p.pid), [2, 1]);
});

t.test('an exited process stays for the grace period, then folds into the totals', async (t) => {
  const table = new ProcessTable({ exitGraceNs: 60n * S });
  t.strictSame(table.update([rec(1, 100), rec(2, 50)], 0n, alive), []);
  t.strictSame(table.update([rec(1, 100, 10n * S), rec(2, 60)], 30n * S, alive), [], 'still within grace');
  t.ok(table.busiest().find((p) => p.pid === 1)?.exited);
  const forget = table.update([rec(1, 100, 10n * S), rec(2, 70)], 71n * S, alive);
  t.strictSame(forget, [1]);
  t.equal(sumCounts(table.totals()), 170n, 'totals keep the folded process');
  // The kernel map no longer has pid 1.
  table.update([rec(2, 80)], 80n * S, alive);
  t.equal(sumCounts(table.totals()), 180n, 'totals never go down');
  t.equal(table.foldedProcesses, 1);
  t.strictSame(table.busiest().map((p) => p.pid), [2]);
});

t.test('a process gone without an exit mark folds once /proc says so', async (t) => {
  const table = new ProcessTable({ exitGraceNs: 60n * S });
  let isAlive = true;
  table.update([rec(9, 5)], 0n, () => isAlive);
  t.strictSame(table.update([rec(9, 5)], 61n * S, () => isAlive), []);
  isAlive = false;
  t.strictSame(table.update([rec(9, 5)], 62n * S, () => isAlive), [], 'seen gone: grace starts now');
  t.strictSame(table.update([rec(9, 5)], 123n * S, () => isAlive), [9]);
  t.equal(sumCounts(table.totals()), 5n);
});

t.test('options are validated', async (t) => {
  t.throws(() => new ProcessTable({ maxProcesses: -1 }), /maxProcesses/);
});

t.test('comm and cgroup totals keep exited processes, bounded, summing to the host total', async (t) => {
  const table = new ProcessTable({ exitGraceNs: 1n, maxGroups: 2, cgroupKey: (r) => BigInt(r.pid % 2) });
  table.update([rec(1, 10, 1n, 'a'), rec(2, 20, 1n, 'b'), rec(3, 30, 1n, 'c'), rec(4, 40, 0n, 'a')], 5n, alive);
  const byComm = table.byComm();
  t.strictSame([...byComm.byKey.keys()].sort(), ['a', 'b', 'c'], 'b and c folded, a live');
  const total = (g: { byKey: Map<unknown, bigint[][]>; other: bigint[][] }): bigint =>
    [...g.byKey.values()].reduce((s, c) => s + sumCounts(c), 0n) + sumCounts(g.other);
  t.equal(total(byComm), 100n, 'by comm: every fault, with [other]');
  t.equal(total(table.byCgroup()), 100n, 'by cgroup: every fault');
  t.ok(table.foldedByComm.size <= 2, 'at most maxGroups folded comms');
  t.equal(table.foldedByComm.evicted, 1, 'one comm pushed into other');
  t.equal(sumCounts(byComm.other), 10n, 'the least recently changed one: a (pid 1)');
  t.equal(sumCounts(byComm.byKey.get('a')!), 40n, 'a still has its live process');
});
