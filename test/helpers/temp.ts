/** Temporary directories for tests, each removed when the test that made it ends. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a test (or tap's own `teardown`) offers: a hook run when it ends. */
export interface Teardown {
  teardown(fn: () => void): void;
}

/** A fresh directory `base/prefixXXXXXX` (base: the system's temporary directory), removed with everything in it at `t`'s teardown. */
export function tempDir(t: Teardown, prefix: string, base = tmpdir()): string {
  const dir = mkdtempSync(join(base, prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
