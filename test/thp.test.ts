/* Transparent huge pages: the mode from sysfs text, and the line that explains it. */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/temp.js';
import { FaultlineError } from '../src/errors.js';
import { describeThp, parseThpMode, readThpMode } from '../src/readers/thp.js';

t.test('the bracketed choice', async (t) => {
  t.equal(parseThpMode('always [madvise] never\n'), 'madvise');
  t.equal(parseThpMode('[always] madvise never\n'), 'always');
  t.equal(parseThpMode('always madvise [never]\n'), 'never');
  for (const bad of ['', 'always madvise never', '[sometimes]', '[ALWAYS]']) {
    t.throws(() => parseThpMode(bad), FaultlineError, JSON.stringify(bad));
  }
});

t.test('read from a file; none where the kernel has no THP', async (t) => {
  const dir = tempDir(t, 'faultline-thp-');
  writeFileSync(join(dir, 'enabled'), '[always] madvise never\n');
  t.equal(readThpMode(join(dir, 'enabled')), 'always');
  t.equal(readThpMode(join(dir, 'missing')), null);
});

t.test('what each mode does to the counts', async (t) => {
  t.match(describeThp('always'), /once per 2 MiB.*50 to 560 faults, not 25,600.*echo madvise > \/sys\/kernel\/mm\/transparent_hugepage\/enabled/);
  t.match(describeThp('madvise'), /MADV_HUGEPAGE/);
  t.match(describeThp('never'), /4 KiB/);
  t.match(describeThp(null), /no transparent huge pages/);
});
