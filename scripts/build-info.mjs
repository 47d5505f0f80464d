/* global process, URL */
// Writes dist/build-info.json: the git revision this build came from (with "-dirty" when tracked files
// had changes), for --version and faultline_build_info. Outside a git checkout (an unpacked release)
// it leaves the file that came with the package alone.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const git = (...args) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
let revision;
try {
  revision = git('rev-parse', '--short=12', 'HEAD');
  if (git('status', '--porcelain', '--untracked-files=no') !== '') revision += '-dirty';
} catch {
  process.exit(0);
}
writeFileSync(new URL('../dist/build-info.json', import.meta.url), JSON.stringify({ revision }) + '\n');
