/*
 * No Docker engine runs here, so the Dockerfile is checked against what is
 * tested: its build stage runs the README's "Build from source" steps, its
 * packages are ones scripts/setup.sh installs, and the runtime stage is node,
 * libbpf1 and the build's outputs.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { ROOT } from './helpers/live.js';

const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');
const readme = readFileSync(`${ROOT}README.md`, 'utf8');
const setup = readFileSync(`${ROOT}scripts/setup.sh`, 'utf8');

const stages = dockerfile.split(/^FROM /m).slice(1).map((s) => `FROM ${s}`);
const runCommands = (stage: string): string[] =>
  [...stage.matchAll(/^RUN (.+)$/gm)]
    .flatMap((m) => m[1]!.split('&&').map((c) => c.trim()))
    .filter((c) => c !== 'apt-get update' && c !== 'rm -rf /var/lib/apt/lists/*');
const aptPackages = (commands: string[]): string[] =>
  commands.filter((c) => c.startsWith('apt-get install')).flatMap((c) => c.split(/\s+/).filter((w) => !w.startsWith('-') && !['apt-get', 'install'].includes(w)));

t.test('the build stage runs the README\'s build steps, in order', async (t) => {
  const block = /<!-- build-steps[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  t.ok(block, 'README has the build-steps block');
  const readmeSteps = block!
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
  t.strictSame(runCommands(stages[0]!), readmeSteps);
});

t.test('its packages are ones scripts/setup.sh installs; the runtime stage is node and libbpf1', async (t) => {
  t.equal(stages.length, 2, 'two stages');
  const setupPackages = new Set(/packages=\(([^)]*)\)/.exec(setup)![1]!.split(/\s+/).filter(Boolean));
  for (const p of aptPackages(runCommands(stages[0]!))) t.ok(setupPackages.has(p), `${p} is in scripts/setup.sh`);
  t.match(stages[0]!, /^FROM node:20-bookworm AS build/m);
  t.match(stages[1]!, /^FROM node:20-bookworm-slim$/m);
  t.strictSame(aptPackages(runCommands(stages[1]!)), ['libbpf1']);
  for (const path of ['package.json', 'node_modules', 'dist', 'build/faultline.bpf.o']) {
    t.match(stages[1]!, new RegExp(`^COPY --from=build /src/${path.replace('.', '\\.')} `, 'm'), `copies ${path}`);
  }
  t.match(stages[1]!, /^ENTRYPOINT \["node", "\/opt\/faultline\/dist\/cli\/main\.js"\]$/m);
});
