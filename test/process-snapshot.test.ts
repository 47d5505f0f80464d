import t from 'tap';
import { THREAD_EXITED, THREAD_INCOMPLETE, type ProcessFaultsRecord, type ThreadRecord } from '../src/features/faults/decode.js';
import { emptyCounts, type RegionTypeCounts } from '../src/bpf/contract.js';
import { mergeProcessSnapshot, monotoneCounts } from '../src/features/faults/process-snapshot.js';

/** Counts from [region index, type index, n] triples. */
function counts(...cells: [number, number, bigint][]): RegionTypeCounts {
  const c = emptyCounts();
  for (const [r, ty, n] of cells) c[r]![ty] = n;
  return c;
}
const ANON = 2;
const FILE = 3;
const OTHER = 4;
const MINOR = 0;
const MAJOR = 1;

function thread(pid: number, tid: number, faults: RegionTypeCounts, flags = 0, comm = 'app'): ThreadRecord {
  return { pid, tid, flags, faults, comm, cgroupId: 5n, memcgId: 6n };
}
function exited(pid: number, faults: RegionTypeCounts, exitNs = 0n): ProcessFaultsRecord {
  return { pid, comm: 'old', exitNs, faults, cgroupId: 1n, memcgId: 2n };
}

t.test('live threads add to the exited threads of their process; the leader names it', async (t) => {
  const out = mergeProcessSnapshot(
    [exited(10, counts([ANON, MINOR, 5n]))],
    [thread(10, 11, counts([ANON, MINOR, 2n]), 0, 'worker'), thread(10, 10, counts([FILE, MAJOR, 1n]), 0, 'app'), thread(20, 20, counts([OTHER, MINOR, 3n]))],
    new Map(),
  );
  t.strictSame(out.get(10)!.faults, counts([ANON, MINOR, 7n], [FILE, MAJOR, 1n]));
  t.match(out.get(10), { comm: 'app', cgroupId: 5n, memcgId: 6n, exitNs: 0n });
  t.strictSame(out.get(20)!.faults, counts([OTHER, MINOR, 3n]));
});

t.test('exited threads still listed count only through the process record', async (t) => {
  const out = mergeProcessSnapshot([exited(10, counts([ANON, MINOR, 5n]), 99n)], [thread(10, 10, counts([ANON, MINOR, 5n]), THREAD_EXITED)], new Map());
  t.strictSame(out.get(10)!.faults, counts([ANON, MINOR, 5n]));
  t.equal(out.get(10)!.exitNs, 99n);
  t.notOk(mergeProcessSnapshot([], [thread(30, 30, emptyCounts(), THREAD_EXITED)], new Map()).has(30), 'a zombie with no record is no process');
});

t.test('an incomplete read keeps the previous view; without one the process waits', async (t) => {
  const prev = new Map([[10, exited(10, counts([ANON, MINOR, 9n]))]]);
  const out = mergeProcessSnapshot([], [thread(10, 10, counts([ANON, MINOR, 4n]), THREAD_INCOMPLETE)], prev);
  t.equal(out.get(10), prev.get(10));
  t.notOk(mergeProcessSnapshot([], [thread(11, 11, emptyCounts(), THREAD_INCOMPLETE)], new Map()).has(11));
  // The last thread exited between the map read and the iterator: neither read has it.
  const gone = mergeProcessSnapshot([exited(10, counts([ANON, MINOR, 2n]))], [], prev);
  t.strictSame(gone.get(10)!.faults, counts([ANON, MINOR, 9n]));
  const zombie = mergeProcessSnapshot([], [thread(10, 10, emptyCounts(), THREAD_EXITED)], prev);
  t.strictSame(zombie.get(10)!.faults, counts([ANON, MINOR, 9n]), 'exited after the map read, listed as exited by the iterator');
  const done = mergeProcessSnapshot([exited(10, counts([ANON, MINOR, 12n]), 5n)], [], prev);
  t.strictSame(done.get(10)!.faults, counts([ANON, MINOR, 12n]), 'its final record, once stamped');
});

t.test('counts never go down, and each type keeps the kernel total', async (t) => {
  const prev = counts([ANON, MINOR, 10n], [OTHER, MINOR, 2n], [FILE, MAJOR, 1n]);
  t.strictSame(monotoneCounts(prev, counts([ANON, MINOR, 12n], [OTHER, MINOR, 2n], [FILE, MAJOR, 1n])), counts([ANON, MINOR, 12n], [OTHER, MINOR, 2n], [FILE, MAJOR, 1n]));
  // One fault moved from "other" to anon between reads, and one more came.
  t.strictSame(monotoneCounts(prev, counts([ANON, MINOR, 12n], [OTHER, MINOR, 1n], [FILE, MAJOR, 1n])), counts([ANON, MINOR, 11n], [OTHER, MINOR, 2n], [FILE, MAJOR, 1n]));
  // A smaller total (a thread between reads) keeps the previous counts of that type only.
  t.strictSame(monotoneCounts(prev, counts([ANON, MINOR, 3n], [OTHER, MINOR, 2n], [FILE, MAJOR, 4n])), counts([ANON, MINOR, 10n], [OTHER, MINOR, 2n], [FILE, MAJOR, 4n]));
  const merged = mergeProcessSnapshot([], [thread(10, 10, counts([ANON, MINOR, 12n], [OTHER, MINOR, 1n], [FILE, MAJOR, 1n]))], new Map([[10, exited(10, prev)]]));
  t.strictSame(merged.get(10)!.faults, counts([ANON, MINOR, 11n], [OTHER, MINOR, 2n], [FILE, MAJOR, 1n]));
});
