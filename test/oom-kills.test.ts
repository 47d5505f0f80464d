/* OOM kills as counted: by label set (bounded), the latest victims (bounded), the victims' RSS histogram. */
import t from 'tap';
import type { OomKillEvent } from '../src/features/oom/decode.js';
import { OTHER } from '../src/aggregate/folded-totals.js';
import { OomKills, RSS_BUCKETS, type OomKillLabels } from '../src/features/oom/oom-kills.js';

const MiB = 2 ** 20;
function kill(pid: number, comm: string, anonMiB: number, fileMiB = 0, shmemMiB = 0): OomKillEvent {
  return {
    kind: 'oom_kill',
    pid,
    tid: pid,
    uid: 0,
    triggerPid: pid,
    triggerComm: comm,
    oomScoreAdj: 0,
    timestampNs: BigInt(pid),
    totalVmBytes: 0n,
    anonRssBytes: BigInt(anonMiB * MiB),
    fileRssBytes: BigInt(fileMiB * MiB),
    shmemRssBytes: BigInt(shmemMiB * MiB),
    pgtablesBytes: 0n,
    comm,
    cgroupId: 0n,
    memcgId: 0n,
  };
}
const labels = (comm: string, cgroup = '/a'): OomKillLabels => ({ comm, cgroup, container_id: '', pod_uid: '', constraint: 'memcg' });

t.test('counts per label set, and the labels default to the comm alone', async (t) => {
  const kills = new OomKills();
  kills.record(kill(1, 'stress-ng', 10), labels('stress-ng'));
  kills.record(kill(2, 'stress-ng', 10), labels('stress-ng'));
  kills.record(kill(3, 'stress-ng', 10), labels('stress-ng', '/b'));
  kills.record(kill(4, 'python3', 10));
  t.equal(kills.total, 4);
  t.strictSame(
    [...kills.counts()],
    [
      { labels: labels('stress-ng'), count: 2 },
      { labels: labels('stress-ng', '/b'), count: 1 },
      { labels: { comm: 'python3', cgroup: '', container_id: '', pod_uid: '', constraint: 'unknown' }, count: 1 },
    ],
  );
});

t.test('beyond maxComms label sets, new ones count under [other] with their constraint', async (t) => {
  const kills = new OomKills({ maxComms: 2 });
  kills.record(kill(1, 'a', 1), labels('a'));
  kills.record(kill(2, 'b', 1), labels('b'));
  kills.record(kill(3, 'c', 1), labels('c'));
  kills.record(kill(4, 'd', 1), { ...labels('d'), constraint: 'global' });
  kills.record(kill(5, 'a', 1), labels('a'));
  const counts = [...kills.counts()];
  t.strictSame(counts.map((c) => [c.labels.comm, c.labels.cgroup, c.labels.constraint, c.count]), [
    ['a', '/a', 'memcg', 2],
    ['b', '/a', 'memcg', 1],
    [OTHER, OTHER, 'memcg', 1],
    [OTHER, OTHER, 'global', 1],
  ]);
  t.equal(kills.total, 5, 'every kill counts in the total');
  t.equal(kills.recent().at(-2)?.labels.comm, 'd', 'the recent list keeps the labels as resolved, not [other]');
  const returned = kills.record(kill(6, 'e', 1), labels('e'));
  t.equal(returned, kills.recent().at(-1), 'record() returns the kill as recent() lists it');
});

t.test('the latest victims, oldest first, bounded', async (t) => {
  const kills = new OomKills({ recentVictims: 3 });
  for (let pid = 1; pid <= 5; pid++) kills.record(kill(pid, `p${pid}`, 1), labels(`p${pid}`), { pod: `pod${pid}`, namespace: 'ns', container: 'c' });
  t.strictSame(kills.recent().map((r) => [r.kill.pid, r.names.pod]), [
    [3, 'pod3'],
    [4, 'pod4'],
    [5, 'pod5'],
  ]);
  t.strictSame(new OomKills().recent(), []);
});

t.test('RSS histogram: anon + file + shmem, cumulative over the bounds, with its sum', async (t) => {
  const kills = new OomKills();
  kills.record(kill(1, 'a', 1)); // exactly 1 MiB: in the first bucket (le is inclusive)
  kills.record(kill(2, 'a', 2, 1, 1)); // 4 MiB
  kills.record(kill(3, 'a', 100)); // 100 MiB: le 256 MiB
  kills.record(kill(4, 'a', 70000)); // above 64 GiB: only +Inf
  t.equal(RSS_BUCKETS.length + 1, kills.rssBuckets.length);
  t.strictSame(kills.rssBuckets, [1, 2, 2, 2, 3, 3, 3, 3, 3, 4]);
  t.equal(kills.rssSum, (1 + 4 + 100 + 70000) * MiB);
});
