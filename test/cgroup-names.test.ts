/* CgroupNames: ids (directory inodes) to paths over a directory tree standing in for a cgroup mount. */
import t from 'tap';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/temp.js';
import { CgroupNames } from '../src/readers/cgroups.js';

function tree(teardown: (fn: () => void) => void): { root: string; ino: (path: string) => bigint } {
  const root = tempDir({ teardown }, 'faultline-cgroupfs-');
  mkdirSync(join(root, 'kubepods/pod1/ctr'), { recursive: true });
  mkdirSync(join(root, 'system.slice'));
  return { root, ino: (path) => statSync(join(root, path), { bigint: true }).ino };
}
const v2 = (id: bigint) => ({ cgroupId: id, memcgId: 0n });

t.test('names every directory by its inode, the root as /', async (t) => {
  const { root, ino } = tree((fn) => t.teardown(fn));
  const names = new CgroupNames({ unified: root, memoryV1: null });
  t.equal(names.memoryOnV1, false);
  t.equal(names.root, root);
  t.equal(names.pathOf(v2(ino('kubepods/pod1/ctr'))), '/kubepods/pod1/ctr');
  t.equal(names.pathOf(v2(ino('system.slice'))), '/system.slice');
  t.equal(names.pathOf(v2(ino(''))), '/');
  t.equal(names.pathOf(v2(0n)), '', 'id 0: the kernel did not say');
  t.strictSame(names.idOfPath('/kubepods/pod1'), { id: ino('kubepods/pod1'), memcg: false });
  t.throws(() => names.idOfPath('/nope'), /no cgroup \/nope under .*ENOENT/);
});

t.test('a new cgroup is named from its first id; a removed one keeps its name but no longer exists', async (t) => {
  const { root, ino } = tree((fn) => t.teardown(fn));
  const names = new CgroupNames({ unified: root, memoryV1: null });
  names.scan();
  mkdirSync(join(root, 'late'));
  const late = v2(ino('late'));
  t.equal(names.pathOf(late), '/late', 'an unknown id rescans at once');
  t.equal(names.exists(late), true);
  rmSync(join(root, 'late'), { recursive: true });
  t.equal(names.pathOf(late), '/late', 'remembered after the directory went');
  t.equal(names.exists(late), false);
  t.equal(names.exists(v2(0n)), true, 'id 0: cannot tell, so true');
});

t.test('an id a rescan did not find waits a second before the next rescan, unless asked now', async (t) => {
  const { root, ino } = tree((fn) => t.teardown(fn));
  const names = new CgroupNames({ unified: root, memoryV1: null });
  let scans = 0;
  const scan = names.scan.bind(names);
  names.scan = () => {
    scans++;
    scan();
  };
  const missed = v2(ino('system.slice') + 1_000_000n); // no directory has this inode
  t.equal(names.pathOf(missed), '');
  t.equal(scans, 1, 'the first time: a rescan');
  t.equal(names.pathOf(missed), '');
  t.equal(scans, 1, 'again within the second: none');
  mkdirSync(join(root, 'next'));
  t.equal(names.pathOf(v2(ino('next'))), '/next');
  t.equal(scans, 2, 'another new id: a rescan');
  t.equal(names.pathOf(missed, true), '');
  t.equal(scans, 3, 'rescanNow (an OOM kill): a rescan even so');
  t.equal(names.pathOf(v2(ino('next'))), '/next');
  t.equal(scans, 3, 'a known id: none');
});

t.test('the v1 memory hierarchy names cgroups where memory is on v1, unless told to use the unified one', async (t) => {
  const v1 = tree((fn) => t.teardown(fn));
  const unified = tree((fn) => t.teardown(fn));
  const memory = new CgroupNames({ unified: unified.root, memoryV1: v1.root });
  t.equal(memory.memoryOnV1, true);
  t.equal(memory.root, v1.root);
  t.equal(memory.idOf({ cgroupId: 1n, memcgId: 2n }), 2n);
  t.equal(memory.pathOf({ cgroupId: 0n, memcgId: v1.ino('kubepods/pod1') }), '/kubepods/pod1');
  t.strictSame(memory.idOfPath('/kubepods'), { id: v1.ino('kubepods'), memcg: true });
  const forced = new CgroupNames({ unified: unified.root, memoryV1: v1.root }, 'unified');
  t.equal(forced.memoryOnV1, false);
  t.equal(forced.idOf({ cgroupId: 1n, memcgId: 2n }), 1n);
  const none = new CgroupNames({ unified: null, memoryV1: null });
  t.equal(none.root, null);
  t.equal(none.pathOf(v2(5n)), '', 'nothing mounted: no names');
  t.throws(() => none.idOfPath('/a'), /no cgroup hierarchy is mounted/);
});
