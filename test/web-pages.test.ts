/* The live pages' logic without a kernel: /proc/PID/maps parsing, the watch on the kernel's map, the per-page sessions, the overview's numbers. */
import { ROOT } from './helpers/live.js';
import t from 'tap';
import { MAX_MAPPINGS, boundsOf, groupOf, mappingIndexOf, parseMaps } from '../src/features/trace/address-space.js';
import { LiveWatch, MAX_LIVE_PIDS } from '../src/features/trace/live-watch.js';
import { KIND, LiveHub, LiveSession, MAX_PENDING_FAULTS, liveFaultAt, type LiveFault } from '../src/features/trace/live-hub.js';
import { EVENT_PAGE_FAULT, FAULT_EVENT, FAULT_EVENT_FLAG, FAULT_EVENT_SIZE, REGIONS } from '../src/bpf/contract.js';
import { buildOverview, quantile } from '../src/expose/web/overview.js';
import express from 'express';
import { addWebPages, parsePid } from '../src/expose/web/routes.js';
import { familyList } from '../src/metrics/family.js';

const MAPS = `55d0c4a00000-55d0c4a02000 r--p 00000000 08:01 1835030                    /usr/bin/cat
55d0c4a02000-55d0c4a07000 r-xp 00002000 08:01 1835030                    /usr/bin/cat
55d0c5a3e000-55d0c5a5f000 rw-p 00000000 00:00 0                          [heap]
7f1a2c000000-7f1a32400000 rw-p 00000000 00:00 0 
7f1a32600000-7f1a32628000 r--p 00000000 08:01 1843462                    /usr/lib/x86_64-linux-gnu/libc.so.6
7f1a3270a000-7f1a3270c000 rw-p 00000000 00:00 0                          [anon:glibc malloc]
7ffd1b9f0000-7ffd1ba11000 rw-p 00000000 00:00 0                          [stack]
7ffd1bbf7000-7ffd1bbfb000 r--p 00000000 00:00 0                          [vvar]
7ffd1bbfb000-7ffd1bbfd000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
/memfd:doublemapper (deleted) garbage line
`;

/** A fault_event record as the kernel writes it for a watched process. */
function record(pid: number, address: bigint, errorCode = 6n, region: (typeof REGIONS)[number] = 'anon'): Buffer {
  const r = Buffer.alloc(FAULT_EVENT_SIZE);
  r.writeUInt32LE(EVENT_PAGE_FAULT, FAULT_EVENT.kind);
  r.writeUInt32LE(pid, FAULT_EVENT.pid);
  r.writeBigUInt64LE(address, FAULT_EVENT.address);
  r.writeBigUInt64LE(errorCode, FAULT_EVENT.errorCode);
  r.writeUInt32LE(REGIONS.indexOf(region), FAULT_EVENT.region);
  r.writeUInt32LE(FAULT_EVENT_FLAG.live, FAULT_EVENT.flags);
  return r;
}
const fault = (pid: number, address: bigint, errorCode = 6n, region: (typeof REGIONS)[number] = 'anon'): LiveFault => liveFaultAt(record(pid, address, errorCode, region), 0);

t.test('maps: every line a mapping in its group, sorted; hostile lines skipped; a fault finds its mapping', async (t) => {
  const { mappings, skipped } = parseMaps(MAPS);
  t.equal(mappings.length, 10);
  t.equal(skipped, 1, 'the line that is not a mapping');
  t.strictSame(
    mappings.map((m) => m.group),
    ['file', 'file', 'heap', 'anon', 'file', 'anon', 'stack', 'special', 'special', 'special'],
  );
  t.equal(mappings[3]!.path, '', 'an anonymous mapping has no path (its trailing space is not one)');
  t.equal(mappings[3]!.end - mappings[3]!.start, 100n << 20n);
  const bounds = boundsOf(mappings);
  t.equal(mappingIndexOf(bounds, 0x7f1a2c000000), 3, 'its first byte');
  t.equal(mappingIndexOf(bounds, 0x7f1a323fffff), 3, 'its last byte');
  t.equal(mappingIndexOf(bounds, 0x7f1a32400000), -1, 'its end is not in it');
  t.equal(mappingIndexOf(bounds, 0), -1);
  t.equal(groupOf('/a path with spaces (deleted)'), 'file');
  t.equal(groupOf('[stack:1234]'), 'stack');
  t.equal(groupOf('[uprobes]'), 'special');
  const many = Array.from({ length: MAX_MAPPINGS + 5 }, (_, i) => `${(0x10000 + i * 2).toString(16)}000-${(0x10001 + i * 2).toString(16)}000 rw-p 00000000 00:00 0`).join('\n');
  const bounded = parseMaps(many);
  t.equal(bounded.mappings.length, MAX_MAPPINGS, 'at most MAX_MAPPINGS');
  t.equal(bounded.skipped, 5);
  t.strictSame(parseMaps('fffff-10000 rw-p 0 00:00 0\n\u0000\u0000\n').mappings, [], 'an empty range and binary garbage are not mappings');
});

t.test('the watch: the pid before the count, one entry per process however many pages watch it, a bound', async (t) => {
  const writes: string[] = [];
  const watch = new LiveWatch({
    pids: { update: (k) => void writes.push(`pid+${k.readUInt32LE()}`), delete: (k) => (writes.push(`pid-${k.readUInt32LE()}`), true) },
    watching: { update: (_k, v) => void writes.push(`count=${v.readUInt32LE(0)}${v.readUInt32LE(0) === 1 ? ` one=${v.readUInt32LE(4)}` : ''}`) },
  });
  watch.add(42);
  watch.add(42);
  watch.add(7);
  watch.remove(42);
  t.strictSame(writes, ['pid+42', 'count=1 one=42', 'pid+7', 'count=2'], 'the second page on 42 and its first close change nothing in the kernel');
  watch.remove(42);
  watch.remove(42);
  t.strictSame(writes.slice(4), ['count=1 one=7', 'pid-42'], 'the count (and the one left) before the pid goes; a close too many is nothing');
  for (let pid = 100; watch.size < MAX_LIVE_PIDS; pid++) watch.add(pid);
  t.throws(() => watch.add(99), { code: 'LIVE_FULL', message: /64 processes are watched live already/ });
  watch.add(7);
  t.pass('a process watched already takes one more page past the bound');
});

t.test('a session: exact counts by mapping, faults kept for drawing up to a bound, new mappings found', async (t) => {
  let text = MAPS;
  let now = 0;
  const session = new LiveSession(9, () => text, () => now);
  t.equal(session.alive, true);
  t.equal(new LiveSession(10, () => null).alive, false, 'no maps: no process (the events route answers 404 and lets the watch go)');
  const first = session.take();
  t.equal(first.mappings?.length, 10, 'the first batch carries the mappings');
  t.equal(session.take().mappings, undefined, 'then only when they change');
  for (let i = 0n; i < 3n; i++) session.add(fault(9, 0x7f1a2c000000n + i * 4096n));
  session.add(fault(9, 0x7ffd1ba10ff8n, 6n, 'stack'));
  session.add(fault(9, 0x10000n)); // in no mapping: the maps are read again (nothing there either)
  const b = session.take();
  t.strictSame(b.counts, { '7f1a2c000000': 3, '7ffd1b9f0000': 1 });
  t.equal(b.outside, 1);
  t.equal(b.total, 5);
  t.equal(b.faults.length, 10, 'page and kind of each page faulted');
  t.equal(b.faults[0], 0x7f1a2c000000, 'the page, exact as a number');
  t.equal(b.faults[1], 2 | KIND.write, 'anon, a write to a page not present');
  t.equal(b.faults[6], 0x7ffd1ba10000, 'a fault inside a page: the page');
  // A mapping made after the last read: its first fault reads the maps again (no sooner than MAPS_REREAD_MS).
  text += '7f1a40000000-7f1a40100000 rw-p 00000000 00:00 0\n';
  now += 1000;
  session.add(fault(9, 0x7f1a40000010n));
  const c = session.take();
  t.equal(c.counts['7f1a40000000'], 1, 'counted on the new mapping');
  t.equal(c.mappings?.length, 11, 'and the page gets it');
  // A page faulted twice is drawn once, with its last kind; past the bound of pages, counted and not kept.
  session.add(fault(9, 0x7f1a2c000000n, 4n));
  session.add(fault(9, 0x7f1a2c000010n, 7n));
  t.strictSame(session.take().faults, [0x7f1a2c000000, 2 | KIND.present | KIND.write]);
  for (let i = 0; i < MAX_PENDING_FAULTS + 10; i++) session.add(fault(9, 0x7f1a2c000000n + BigInt(i % 25600) * 4096n));
  const d = session.take();
  t.equal(d.faults.length, 25600 * 2, 'the mapping has 25,600 pages: each drawn once');
  t.equal(d.notDrawn, 0);
  const many = new LiveSession(3, () => '7f0000000000-7f0040000000 rw-p 00000000 00:00 0\n', () => 0); // 1 GiB
  for (let i = 0; i < MAX_PENDING_FAULTS + 10; i++) many.add(fault(3, 0x7f0000000000n + BigInt(i) * 4096n));
  const e = many.take();
  t.equal(e.faults.length, MAX_PENDING_FAULTS * 2, 'at most MAX_PENDING_FAULTS pages kept');
  t.equal(e.notDrawn, 10, 'the rest counted as not drawn');
  t.equal(e.counts['7f0000000000'], MAX_PENDING_FAULTS + 10, 'every one counted on its mapping');
  t.equal(session.take().faults.length, 0, 'a batch is taken once');
  t.equal(fault(9, 1n, 0x7n, 'heap').kind, 0 | KIND.present | KIND.write, 'heap, a write to a present page (copy-on-write)');
  t.equal(fault(9, 1n, 0x14n, 'file').kind, 3 | KIND.exec, 'file, an instruction fetch from user mode');
  t.equal(fault(9, 1n, 0xffffffffffffffffn, 'other').kind, 4 | KIND.unknownAccess, 'the perf-event hook has no error code');
  t.equal(fault(9, 1n, 0xffffffff00000006n, 'anon').kind, 2 | KIND.write, 'only all 64 bits set mean unknown');
});

t.test('the hub: faults go to the sessions of their process; the last page to close stops the watch', async (t) => {
  const watched = new Set<number>();
  const hub = new LiveHub(new LiveWatch({ pids: { update: (k) => void watched.add(k.readUInt32LE()), delete: (k) => watched.delete(k.readUInt32LE()) }, watching: { update: () => undefined } }), () => MAPS);
  const a = hub.open(5);
  const b = hub.open(5);
  const c = hub.open(6);
  t.strictSame([...watched].sort(), [5, 6]);
  hub.deliver(record(5, 0x7f1a2c000000n), 0);
  hub.deliver(record(8, 0x7f1a2c000000n), 0);
  t.equal(a.take().total, 1);
  t.equal(b.take().total, 1);
  t.equal(c.take().total, 0);
  hub.close(a);
  t.ok(watched.has(5), 'b still watches 5');
  hub.close(b);
  hub.close(b);
  t.notOk(watched.has(5));
  t.equal(hub.size, 1);
});

t.test('the overview reads the families /metrics renders: totals as they are, rates between two readings', async (t) => {
  let faults = 100;
  const { families, counter, gauge, histogram } = familyList();
  counter('faultline_page_faults_total', ['x', '1'], 'h', ['type', 'region'], () => [[{ type: 'minor', region: 'anon' }, faults]]);
  counter('faultline_process_page_faults_total', ['x', '1'], 'h', ['pid', 'comm', 'type', 'region'], () => [
    [['42', 'w', 'minor', 'anon'], faults - 10],
    [['42', 'w', 'minor', 'file'], 10],
  ]);
  gauge('faultline_cgroup_info', ['x', '1'], 'h', ['cgroup', 'pod', 'namespace', 'container'], () => [[{ cgroup: '/kubepods/x', pod: 'api', namespace: 'prod', container: 'c' }, 1]]);
  gauge('faultline_cgroup_memory_limit_bytes', ['x', '1'], 'h', ['cgroup'], () => [[{ cgroup: '/kubepods/x' }, 1000]]);
  gauge('faultline_cgroup_memory_usage_bytes', ['x', '1'], 'h', ['cgroup'], () => [[{ cgroup: '/kubepods/x' }, 900]]);
  histogram('faultline_memcg_reclaim_duration_seconds', ['x', 's'], 'h', ['cgroup'], () => [{ labels: { cgroup: '/kubepods/x' }, bounds: [0.001, 0.004, 0.016], cumulative: [50, 90, 100], count: 100, sum: 0.2 }]);
  gauge('faultline_oom_victim_info', ['x', '1'], 'h', ['pid', 'comm', 'oom_score_adj', 'trigger_pid', 'trigger_comm', 'constraint', 'cgroup', 'pod', 'namespace'], () => [
    [{ pid: '7', comm: 'old', oom_score_adj: '0', trigger_pid: '7', trigger_comm: 'old', constraint: 'memcg', cgroup: '/a', pod: '', namespace: '' }, 100],
    [{ pid: '8', comm: 'new', oom_score_adj: '300', trigger_pid: '9', trigger_comm: 'alloc', constraint: 'memcg', cgroup: '/kubepods/x', pod: 'api', namespace: 'prod' }, 200],
  ]);
  gauge('faultline_oom_victim_memory_bytes', ['x', '1'], 'h', ['pid', 'comm', 'memory'], () => [[{ pid: '8', comm: 'new', memory: 'anon_rss' }, 4096]]);
  const first = buildOverview(families, null, 10, 1000, () => '/kubepods/x');
  t.strictSame(first.overview.host, [{ type: 'minor', region: 'anon', total: 100, perSecond: 0 }], 'no rate without a reading before');
  faults = 350;
  const second = buildOverview(families, first.reading, 12.5, 1002.5, () => '/kubepods/x').overview;
  t.equal(second.interval, 2.5);
  t.strictSame(second.host, [{ type: 'minor', region: 'anon', total: 350, perSecond: 100 }]);
  t.strictSame(second.processes, [{ pid: 42, comm: 'w', cgroup: '/kubepods/x', pod: 'api', namespace: 'prod', total: 350, perSecond: 100 }], 'a process summed over its series, named by its cgroup');
  t.strictSame(second.oomKills.map((k) => [k.comm, k.time, k.oomScoreAdj, k.triggerComm, k.pod]), [['new', 200, 300, 'alloc', 'api'], ['old', 100, 0, 'old', '']], 'newest first');
  t.strictSame(second.oomKills[0]!.memoryBytes, { anon_rss: 4096 });
  t.equal(second.headroom[0]!.usageBytes, 900);
  t.equal(second.headroom[0]!.reclaimP99Seconds, 0.016 - (0.016 - 0.004) * (1 / 10), 'p99 inside the last bucket, as histogram_quantile interpolates');
  t.equal(quantile(0.5, { bounds: [1, 2], cumulative: [0, 0], count: 0 }), null, 'an empty histogram has no quantile');
  t.equal(quantile(0.99, { bounds: [1, 2], cumulative: [0, 0], count: 5 }), 2, 'all in +Inf: the highest bound');
});

t.test('a pid from a path: digits, 1 to 4194304, nothing else', async (t) => {
  t.equal(parsePid('1'), 1);
  t.equal(parsePid('4194304'), 4194304);
  for (const bad of ['0', '4194305', '-1', '1e3', '01', '12a', '', ' 5', '99999999', '../etc']) t.equal(parsePid(bad), null, JSON.stringify(bad));
});

t.test('the overview API: a rate between two refreshes, never between two readings of the same counts', async (t) => {
  let faults = 0;
  let now = 100;
  const { families, counter } = familyList();
  counter('faultline_page_faults_total', ['x', '1'], 'h', ['type', 'region'], () => [[{ type: 'minor', region: 'anon' }, faults]]);
  const app = express();
  let refreshes = 0;
  const pages = addWebPages(app, {
    families,
    refresh: () => {
      refreshes++;
      faults += 1000; // the kernel's count moved by 1,000 since the last refresh
    },
    cgroupOf: () => '',
    processCounts: () => null,
    live: null,
    assets: new URL(`file://${ROOT}web/`),
    clock: { monotonic: () => now, unix: () => now },
  });
  t.teardown(() => pages.stop());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => void server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const rate = async (): Promise<number> => ((await (await fetch(`${url}/api/overview`)).json()) as { host: { perSecond: number }[] }).host[0]!.perSecond;
  t.equal(await rate(), 0, 'the first reading has no rate');
  now += 2;
  t.equal(await rate(), 500, '1,000 faults over 2 s');
  now += 0.1;
  t.equal(await rate(), 500, 'asked again within half a second: the same reading, not a rate of 0');
  t.equal(refreshes, 2, 'and no refresh for it');
  now += 1;
  t.ok(Math.abs((await rate()) - 1000 / 1.1) < 1e-6, 'the next refresh: over the 1.1 s since the last reading');
  t.equal((await fetch(`${url}/api/process/0`)).status, 400, 'pid 0: 400');
  t.equal((await fetch(`${url}/process/abc`)).status, 400);
  t.equal((await fetch(`${url}/assets/..%2Fpackage.json`)).status, 404, 'only the named assets');
  t.equal((await fetch(`${url}/assets/overview.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
  t.equal((await fetch(`${url}/api/process/1/events`)).status, 409, 'no live view without the fault entry hook');
});
