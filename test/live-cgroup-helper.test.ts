/* The tests' memory cgroup helper leaves nothing behind, also when it fails half way. */
import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createMemoryCgroup } from './helpers/cgroup.js';
import { SKIP_NOT_ROOT } from './helpers/live.js';

t.test('a limit it cannot write leaves no cgroup; remove() removes what it made', { skip: SKIP_NOT_ROOT }, async (t) => {
  const probe = createMemoryCgroup(64 << 20);
  const root = dirname(probe.path);
  await probe.remove();
  const ours = (): string[] => readdirSync(root).filter((d) => d.startsWith(`faultline-test-${process.pid}-`));
  t.strictSame(ours(), [], 'removed');
  // 2048 << 20 overflows to a negative number in JavaScript: the mistake that once left a cgroup behind.
  t.throws(() => createMemoryCgroup(2048 << 20), /a memory limit of -2147483648 bytes/);
  t.strictSame(ours(), [], 'nothing left by the failed call');
  const nested = createMemoryCgroup(64 << 20, 'pod/ctr');
  t.ok(existsSync(nested.path));
  await nested.remove();
  t.strictSame(ours(), [], 'the leaf and its parents removed');
});
