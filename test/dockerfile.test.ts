/*
 * No Docker engine runs here, so the Dockerfile is checked against what is
 * tested: its build stage runs docs/deployment.md's "Build from source" steps
 * and packs, its packages are ones scripts/setup.sh installs, and the runtime
 * stage installs that package on Node.js and libbpf1, as a host does.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { ROOT } from './helpers/live.js';

const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');
const deployment = readFileSync(`${ROOT}docs/deployment.md`, 'utf8');
const setup = readFileSync(`${ROOT}scripts/setup.sh`, 'utf8');

const stages = dockerfile.split(/^FROM /m).slice(1).map((s) => `FROM ${s}`);
const runCommands = (stage: string): string[] =>
  [...stage.matchAll(/^RUN (.+)$/gm)]
    .flatMap((m) => m[1]!.split('&&').map((c) => c.trim()))
    .filter((c) => c !== 'apt-get update' && c !== 'rm -rf /var/lib/apt/lists/*');
const aptPackages = (commands: string[]): string[] =>
  commands.filter((c) => c.startsWith('apt-get install')).flatMap((c) => c.split(/\s+/).filter((w) => !w.startsWith('-') && !['apt-get', 'install'].includes(w)));

t.test('the build stage runs the documented build steps, in order, then packs', async (t) => {
  const block = /<!-- build-steps[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(deployment)?.[1];
  t.ok(block, 'docs/deployment.md has the build-steps block');
  const documented = block!
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
  t.strictSame(runCommands(stages[0]!), [...documented, 'npm pack --ignore-scripts --pack-destination /pkg']);
});

t.test('its packages are ones scripts/setup.sh installs; the runtime stage is Node.js LTS, libbpf1 and the package', async (t) => {
  t.equal(stages.length, 2, 'two stages');
  const setupPackages = new Set(/packages=\(([^)]*)\)/.exec(setup)![1]!.split(/\s+/).filter(Boolean));
  for (const p of aptPackages(runCommands(stages[0]!))) t.ok(setupPackages.has(p), `${p} is in scripts/setup.sh`);
  // Node.js 24 is the active LTS line (2026); 22 is in maintenance and tested too; 20 ended in April 2026.
  t.match(stages[0]!, /^FROM node:24-bookworm AS build/m);
  t.match(stages[1]!, /^FROM node:24-bookworm-slim$/m);
  t.strictSame(aptPackages(runCommands(stages[1]!)), ['libbpf1']);
  t.match(stages[1]!, /^COPY --from=build \/pkg\/ \/tmp\/pkg\/$/m, 'the package the build stage packed');
  t.strictSame(runCommands(stages[1]!).filter((c) => c.startsWith('npm')), ['npm install --global --no-audit --no-fund /tmp/pkg/faultline-*.tgz'], 'installed as a host installs it');
  t.match(stages[1]!, /^ENTRYPOINT \["faultline"\]$/m);
});
