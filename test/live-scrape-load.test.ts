/*
 * Live, short and bounded: many concurrent scrapes while a fault storm runs
 * all get a whole page (they share renders), and beyond --web.max-requests
 * the rest get 503 at once. The full load numbers (wrk) are in docs/benchmarks.md.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SKIP_NOT_ROOT, buildWorkload, parseMetrics, startExporter } from './helpers/live.js';

t.test('200 concurrent scrapes during a storm', { skip: SKIP_NOT_ROOT }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-test-'));
  const stop = join(dir, 'stop');
  const storm = spawn(buildWorkload(), ['storm', '64', stop], { stdio: 'ignore' });
  const ended = new Promise<void>((resolve) => storm.on('exit', () => resolve()));
  t.teardown(async () => {
    writeFileSync(stop, '');
    await ended;
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [maxRequests, want503] of [[0, false], [10, true]] as const) {
    const exporter = await startExporter([`--web.max-requests=${maxRequests}`, '--bpf.cpu-budget=0']);
    try {
      const responses = await Promise.all(
        Array.from({ length: 200 }, async () => {
          const res = await fetch(exporter.url, { headers: { 'accept-encoding': 'gzip' } });
          return { status: res.status, body: await res.text() };
        }),
      );
      const ok = responses.filter((r) => r.status === 200);
      const busy = responses.filter((r) => r.status === 503);
      t.equal(ok.length + busy.length, 200, `--web.max-requests=${maxRequests}: every scrape is answered, 200 or 503`);
      t.ok(ok.every((r) => parseMetrics(r.body).some((s) => s.name === 'faultline_page_faults_total')), 'every 200 is a whole page');
      if (want503) {
        t.ok(busy.length > 0 && ok.length >= maxRequests, `${ok.length} served, ${busy.length} turned away at the limit`);
        t.match(busy[0]?.body ?? '', /scrapes in flight, at --web.max-requests=10/);
      } else {
        t.equal(busy.length, 0, 'no limit: none turned away');
      }
    } finally {
      await exporter.stop();
    }
  }
});
