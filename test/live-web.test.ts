/*
 * The live pages in a real browser: Debian's chromium driven by playwright-core (no browser download: the
 * machine reaches only the npm registry and Debian), offline, against a live faultline and real workloads.
 * What a person would see: a busy process in the busiest list within seconds; its process page drawing the
 * faults on its anonymous mapping, counted exactly as the kernel counted them; an OOM kill on the timeline
 * with the victim's comm; a limited cgroup's headroom; nothing fetched from anywhere but the exporter.
 * Screenshots of both pages go to build/test-artifacts/ (docs/img/ has a copy of each).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { ROOT, SKIP_NOT_ROOT, SLOWDOWN, buildWorkload, scrape, startExporter, sum, waitFor } from './helpers/live.js';
import { createMemoryCgroup, holdMemoryIn } from './helpers/cgroup.js';
import { tempDir } from './helpers/temp.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const ARTIFACTS = join(ROOT, 'build/test-artifacts');

t.test('the live pages, in chromium', { skip: SKIP_NOT_ROOT || (CHROMIUM ? false : 'no chromium: apt-get install chromium') }, async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const origin = new URL(exporter.url).origin;
  const context: BrowserContext = await chromium.launchPersistentContext(tempDir(t, 'faultline-chromium-'), {
    executablePath: CHROMIUM!,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    viewport: { width: 1400, height: 1000 },
  });
  t.teardown(() => context.close());
  // Offline: anything not from the exporter is refused, and named here.
  const elsewhere: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`)) return route.continue();
    elsewhere.push(url);
    return route.abort();
  });
  const timeout = 15000 * SLOWDOWN;

  await t.test('the overview: a busy process among the busiest within seconds, with the numbers /metrics has', async (t) => {
    const dir = tempDir(t, 'faultline-test-');
    const stop = join(dir, 'stop');
    const storm = spawn(buildWorkload(), ['storm', '32', stop], { stdio: 'ignore' });
    const ended = new Promise((resolve) => storm.on('exit', resolve));
    t.teardown(async () => {
      writeFileSync(stop, '');
      await ended;
    });
    const page = await context.newPage();
    const opened = Date.now();
    await page.goto(`${origin}/`);
    await page.locator(`[data-testid=processes] tr[data-pid="${storm.pid}"]`).waitFor({ timeout });
    t.comment(`pid ${storm.pid} listed ${((Date.now() - opened) / 1000).toFixed(1)} s after the page opened`);
    t.match(await page.locator(`[data-testid=processes] tr[data-pid="${storm.pid}"]`).innerText(), /workload/);
    // Stopped, its total no longer moves: the page's figure is the one /metrics shows.
    writeFileSync(stop, '');
    await ended;
    const { samples } = await scrape(exporter.url);
    const total = sum(samples, 'faultline_process_page_faults_total', { pid: String(storm.pid) });
    const shown = await waitFor('the page to show the final total', async () => {
      const text = await page.locator(`[data-testid=processes] tr[data-pid="${storm.pid}"] td:nth-child(5)`).innerText();
      return Number(text.replace(/,/g, '')) === total && text;
    }, timeout);
    t.pass(`its total on the page: ${shown}, as /metrics says`);
    t.match(await page.locator('#status').innerText(), /^live/);
    await page.close();
  });

  await t.test('a process page: its faults land on its anonymous mapping, counted as the kernel counted them', async (t) => {
    const MIB = 100;
    // 30 ms after each MiB: 3 s to fill, long enough to see it fill.
    const workload = spawn(buildWorkload(), ['mapped', String(MIB), '30'], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.teardown(() => workload.kill('SIGKILL'));
    let out = '';
    workload.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const [, start, end] = await waitFor('the mapping', () => /range 0x([0-9a-f]+) 0x([0-9a-f]+)/.exec(out));
    const page = await context.newPage();
    await page.goto(`${origin}/process/${workload.pid}`);
    const mapping = page.locator(`.mapping[data-start="${start}"]`);
    await mapping.waitFor({ timeout });
    t.equal(await mapping.getAttribute('data-group'), 'anon', 'in the mmap area: anonymous memory');
    t.equal(await mapping.getAttribute('data-end'), end);
    await page.locator('#status', { hasText: /^live/ }).waitFor({ timeout });
    workload.stdin.write('go\n');
    // It fills page by page: partly painted while the loop runs.
    const partly = await waitFor('the mapping to be partly filled', async () => {
      const n = Number((await mapping.getByTestId('mapping-count').innerText()).replace(/\D/g, ''));
      return n >= MIB * 256 * 0.3 && n <= MIB * 256 * 0.7 && n;
    }, timeout);
    t.ok(partly, `${partly} of ${MIB * 256} pages shown while the loop was still running`);
    await page.screenshot({ path: join(ARTIFACTS, 'process.png'), fullPage: true });
    const [, touched] = await waitFor('the touch loop', () => /touched minflt (\d+) majflt 0/.exec(out), timeout);
    t.equal(Number(touched), MIB * 256, `the kernel counted ${touched} minor faults for the loop (getrusage)`);
    const shown = await waitFor('every fault on the page', async () => {
      const text = await mapping.getByTestId('mapping-count').innerText();
      return text === `${Number(touched).toLocaleString('en-US')} faults` && text;
    }, timeout);
    t.pass(`the mapping shows ${shown}`);
    // The exact totals, as /metrics has them.
    const { samples } = await scrape(exporter.url);
    const minor = sum(samples, 'faultline_process_page_faults_total', { pid: String(workload.pid), type: 'minor' });
    await waitFor('the totals', async () => Number((await page.getByTestId('minor-total').innerText()).replace(/,/g, '')) === minor, timeout);
    t.pass(`minor faults of the process: ${minor}, the page and /metrics alike`);
    // Drawn: the mapping's canvas has no page left unpainted.
    const unpainted = await mapping.locator('canvas').evaluate((canvas: HTMLCanvasElement) => {
      // --empty (#e8ebef) is the colour of a page no fault was seen on; 100 MiB is 100 full rows of 256 cells.
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i] === 0xe8 && data[i + 1] === 0xeb && data[i + 2] === 0xef) n++;
      return n;
    });
    t.equal(unpainted, 0, 'every page of the mapping is painted');
    t.match(await page.getByTestId('by-region').innerText(), /anon 25,600\b/, "the kernel's region of each: anon");
    const sessions = async (): Promise<number> => ((await (await fetch(`${origin}/api/overview`)).json()) as { health: { liveSessions: number } }).health.liveSessions;
    t.equal(await sessions(), 1, 'one live session while the page is open');
    // A second page on it, then closed: its session ends with it.
    const second = await context.newPage();
    await second.goto(`${origin}/process/${workload.pid}`);
    await second.locator('#status', { hasText: /^live/ }).waitFor({ timeout });
    t.equal(await sessions(), 2, 'two pages, two sessions');
    await second.close();
    await waitFor('the closed page\'s session to end', async () => (await sessions()) === 1, timeout);
    t.pass('closing a page ends its session');
    // The process exits: the page says so, and the watch goes with it (its pid may be reused), the page still open.
    workload.stdin.end();
    await page.locator('#status', { hasText: 'the process has exited' }).waitFor({ timeout });
    await waitFor('the watch to go with the process', async () => (await sessions()) === 0, timeout);
    t.pass('no live session once the process exited');
    await page.close();
  });

  await t.test('an OOM kill in a faultline-test cgroup: on the timeline with its victim; headroom of a cgroup with a limit', async (t) => {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    const limited = createMemoryCgroup(256 << 20);
    t.teardown(() => limited.remove());
    const holder = holdMemoryIn(limited, 96, 0);
    t.teardown(() => holder.child.kill('SIGKILL'));
    await waitFor('the holder', () => holder.held(), timeout);
    const cgroup = createMemoryCgroup(64 << 20);
    t.teardown(() => cgroup.remove());
    const victim = spawn('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${buildWorkload()} grow 1024 10`], { stdio: 'ignore' });
    const signal = await new Promise((resolve) => victim.on('exit', (_c, s) => resolve(s)));
    t.equal(signal, 'SIGKILL', 'the kernel killed it');
    const row = page.locator(`[data-testid=oom-kills] tr[data-pid="${victim.pid}"]`);
    await row.waitFor({ timeout });
    const text = await row.innerText();
    t.match(text, /workload/, 'the victim\'s comm');
    t.match(text, /memcg/, 'the constraint');
    t.match(text, cgroup.name, 'its cgroup');
    t.match(await page.locator('#timeline').innerHTML(), /workload/, 'a mark on the timeline, labelled');
    // The limited cgroup's headroom: its usage and limit as /metrics has them.
    const headroom = page.locator(`[data-testid=headroom] tr[data-cgroup="${limited.name}"]`);
    await headroom.waitFor({ timeout });
    t.match(await headroom.innerText(), /256 MiB/, 'its limit, with its unit');
    // A cgroup in the busiest list shows its own processes: here the holder.
    const link = page.locator(`[data-testid=cgroups] a[data-select="${limited.name}"]`);
    await link.waitFor({ timeout });
    await link.click();
    const holderRow = page.locator(`[data-testid=processes] tr[data-pid="${holder.child.pid}"]`);
    await holderRow.waitFor({ timeout });
    const cgroupsShown = await page.locator('[data-testid=processes] tr td:nth-child(3)').allInnerTexts();
    t.ok(cgroupsShown.length > 0 && cgroupsShown.every((c) => c.replace(/\s/g, '') === limited.name), `only its processes: ${cgroupsShown.length} row(s)`);
    await page.getByTestId('clear-cgroup').click();
    await page.locator('#processes-scope', { hasText: 'the 15 busiest on the host' }).waitFor({ timeout });
    await page.screenshot({ path: join(ARTIFACTS, 'overview.png'), fullPage: true });
    await page.close();
  });

  t.strictSame(elsewhere, [], 'nothing requested from anywhere but the exporter');
});
