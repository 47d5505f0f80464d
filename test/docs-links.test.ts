/*
 * The docs link where they say: every relative link in the README, docs/, CONTRIBUTING.md, CHANGELOG.md
 * and the Helm chart's README names a file that exists and, with a #fragment, a heading in it (by
 * GitHub's rule for heading anchors); so does every alert's runbook_url.
 */
import t from 'tap';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './helpers/live.js';

/** Where the rules' runbook links point (the Helm chart's prometheusRule.runbookBaseURL replaces it). */
const RUNBOOKS = 'https://github.com/faultline/faultline/blob/main/docs/alerts.md';

/** GitHub's anchor for a heading (lower case, punctuation dropped, each space a hyphen; repeats get -1, -2, …), and each <a id> */
export function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of outsideFences(markdown)) {
    for (const a of line.matchAll(/<a id="([^"]+)"><\/a>/g)) out.add(a[1]!);
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '');
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function outsideFences(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').filter((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
}

/** The relative links of a markdown file: [text](target), outside code blocks and inline code. */
export function links(markdown: string): string[] {
  const out: string[] = [];
  for (const line of outsideFences(markdown)) {
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      if (!/^[a-z][a-z0-9+.-]*:/i.test(m[1]!)) out.push(m[1]!);
    }
  }
  return out;
}

/** What is wrong with a link from `from` (a file under ROOT), or null. */
function broken(from: string, target: string): string | null {
  const [path, fragment] = target.split('#', 2) as [string, string | undefined];
  const file = path === '' ? from : join(dirname(from), decodeURIComponent(path));
  if (!existsSync(file)) return `${target}: no such file`;
  if (fragment === undefined) return null;
  if (!file.endsWith('.md') || statSync(file).isDirectory()) return `${target}: an anchor into a file that is not markdown`;
  return anchors(readFileSync(file, 'utf8')).has(fragment) ? null : `${target}: no heading with the anchor #${fragment} in ${relative(ROOT, file)}`;
}

const docs = [
  'README.md',
  'CONTRIBUTING.md',
  'CHANGELOG.md',
  'deploy/helm/faultline/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
].map((f) => join(ROOT, f));

t.test('the checker finds what it looks for', async (t) => {
  t.strictSame([...anchors('# A `b` c\n## Time to OOM, computed\n```\n# not a heading\n```\n## A b c\n')], ['a-b-c', 'time-to-oom-computed', 'a-b-c-1']);
  t.strictSame(links('[x](a.md#b) `[y](no.md)` [z](https://x.org) ![i](img.png "t")\n```\n[q](fenced.md)\n```'), ['a.md#b', 'img.png']);
  const readme = join(ROOT, 'README.md');
  t.match(broken(readme, 'docs/missing.md'), /no such file/);
  t.match(broken(readme, 'docs/alerts.md#no-such-heading'), /no heading with the anchor #no-such-heading/);
  t.equal(broken(readme, 'docs/alerts.md#runbooks'), null);
});

t.test('every relative link names a file and a heading that exist', async (t) => {
  let checked = 0;
  for (const file of docs) {
    for (const target of links(readFileSync(file, 'utf8'))) {
      checked++;
      const why = broken(file, target);
      if (why) t.fail(`${relative(ROOT, file)}: ${why}`);
    }
  }
  t.ok(checked > 40, `${checked} links checked in ${docs.length} files`);
});

t.test('every alert has a runbook, at a heading of docs/alerts.md', async (t) => {
  const alerts = anchors(readFileSync(join(ROOT, 'docs/alerts.md'), 'utf8'));
  const groups = (parseYaml(readFileSync(join(ROOT, 'deploy/prometheus/faultline-rules.yml'), 'utf8')) as { groups: { rules: { alert: string; annotations: Record<string, string> }[] }[] }).groups;
  for (const rule of groups.flatMap((g) => g.rules)) {
    const url = rule.annotations.runbook_url ?? '';
    t.equal(url, `${RUNBOOKS}#${rule.alert.toLowerCase()}`, `${rule.alert}: its runbook_url`);
    t.ok(alerts.has(rule.alert.toLowerCase()), `${rule.alert}: a runbook heading in docs/alerts.md`);
  }
  const helm = readFileSync(join(ROOT, 'deploy/helm/faultline/files/faultline-rules.yml'), 'utf8');
  t.equal(helm, readFileSync(join(ROOT, 'deploy/prometheus/faultline-rules.yml'), 'utf8'), 'the chart carries the same rules');
  const unit = readFileSync(join(ROOT, 'deploy/systemd/faultline.service'), 'utf8');
  const documentation = /^Documentation=https:\/\/github\.com\/faultline\/faultline\/blob\/main\/(\S+)$/m.exec(unit)?.[1];
  t.ok(documentation && existsSync(join(ROOT, documentation)), `the unit's Documentation= names ${documentation}`);
});
