// One process: its address space from /proc/PID/maps, and its page faults landing on it live.
import { bytes, count, fill, follow, h } from './common.js';

const $ = (id) => document.getElementById(id);
const PAGE = 4096;
const pid = Number(location.pathname.split('/').filter(Boolean)[1]);
const GROUPS = [
  ['stack', 'stack'],
  ['anon', 'mmap area: anonymous memory'],
  ['heap', 'heap (brk)'],
  ['file', 'file-backed: the program, libraries, mapped files'],
  ['special', "the kernel's own: vdso, vvar"],
];
/** A fault's kind bits (src/features/trace/live-hub.ts KIND): the access, as a colour and a name. */
const KINDS = [
  ['unknown', 64, '--unknown', 'access unknown (perf-event hook)'],
  ['protection', 8, '--present', 'protection fault on a present page (e.g. copy-on-write)'],
  ['exec', 32, '--exec', 'exec: code fetched'],
  ['write', 16, '--write', 'write to a page not present'],
  ['read', 0, '--read', 'read of a page not present'],
];
const css = getComputedStyle(document.documentElement);
const colour = Object.fromEntries(KINDS.map(([name, , v]) => [name, css.getPropertyValue(v).trim()]));
const kindOf = (bits) => KINDS.find(([, bit]) => bit !== 0 && bits & bit)?.[0] ?? 'read';
const seenByKind = Object.fromEntries(KINDS.map(([name]) => [name, 0]));
/** The region the kernel gave each fault at its entry (the low bits of its kind): it can differ from the mapping's group (a stack-growing fault is below the stack's mapping then; get_user_pages counts as other). */
const REGIONS = ['heap', 'stack', 'anon', 'file', 'other'];
const seenByRegion = Object.fromEntries(REGIONS.map((r) => [r, 0]));

/** Mappings drawn now, sorted by start: { start, end, pages, perCell, cols, cell, ctx, countEl }. */
let drawn = [];
let live = { total: 0, outside: 0, notDrawn: 0 };
let detail = 'on';

function legend() {
  fill(
    $('legend'),
    KINDS.map(([name, , , text]) => h('span', { 'data-kind': name }, h('span', { class: 'swatch', style: `background:${colour[name]}` }), `${text}: ${count(seenByKind[name])} drawn`)),
    h('span', {}, h('span', { class: 'swatch', style: 'background:var(--empty)' }), 'no fault seen on the page'),
    h('span', { 'data-testid': 'by-region' }, `pages drawn, by the kernel's region: ${REGIONS.map((r) => `${r} ${count(seenByRegion[r])}`).join(', ')}`),
  );
}

function totals(t) {
  if (!t) return fill($('totals'), h('tr', {}, h('td', { colspan: 3, class: 'empty' }, 'faultline has no counts for this process (not tracked yet, or gone)')));
  fill(
    $('totals'),
    Object.entries(t.byRegion).map(([region, n]) => h('tr', { 'data-region': region }, h('td', {}, region), h('td', { class: 'num' }, count(n.minor)), h('td', { class: 'num' }, count(n.major)))),
    h('tr', { 'data-region': 'all' }, h('th', {}, 'all'), h('th', { class: 'num', 'data-testid': 'minor-total' }, count(t.byType.minor)), h('th', { class: 'num', 'data-testid': 'major-total' }, count(t.byType.major))),
  );
}

function mappingView(m) {
  const start = Number(BigInt(`0x${m.start}`));
  const end = Number(BigInt(`0x${m.end}`));
  const pages = Math.max(1, Math.ceil((end - start) / PAGE));
  const perCell = Math.ceil(pages / 32768);
  const cells = Math.ceil(pages / perCell);
  const cols = Math.min(256, cells);
  const cell = cells <= 1024 ? 6 : cells <= 8192 ? 3 : 2;
  const canvas = h('canvas', { width: cols * cell, height: Math.ceil(cells / cols) * cell, role: 'img', 'aria-label': `${count(pages)} pages of ${m.path || 'anonymous memory'}` });
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = css.getPropertyValue('--empty').trim();
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const countEl = h('span', { 'data-testid': 'mapping-count' }, '0 faults');
  const el = h(
    'div',
    { class: 'mapping', 'data-start': m.start, 'data-end': m.end, 'data-group': m.group },
    h('div', { class: 'head' }, h('span', {}, `0x${m.start}–0x${m.end}`), h('span', {}, bytes(end - start)), h('span', {}, m.perms), h('span', { class: 'path' }, m.path || '(anonymous)'), countEl, perCell > 1 ? h('span', { class: 'muted' }, `one cell: ${count(perCell)} pages`) : null),
    canvas,
  );
  return { start, end, key: m.start, perCell, cols, cell, ctx, countEl, el };
}

function space(mappings) {
  drawn = mappings.map(mappingView).sort((a, b) => a.start - b.start);
  const byGroup = new Map(GROUPS.map(([g]) => [g, []]));
  mappings.forEach((m, i) => byGroup.get(m.group)?.push(drawn.find((d) => d.key === m.start) ?? drawn[i]));
  fill(
    $('space'),
    GROUPS.map(([g, title]) => {
      const views = byGroup.get(g).sort((a, b) => b.start - a.start);
      const size = views.reduce((a, v) => a + (v.end - v.start), 0);
      return h('div', { class: 'group', 'data-group': g }, h('h3', {}, title, h('span', { class: 'muted' }, `${views.length} mappings, ${bytes(size)}`)), views.length ? views.map((v) => v.el) : h('p', { class: 'empty' }, 'none'));
    }),
  );
}

function find(address) {
  let lo = 0;
  let hi = drawn.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const d = drawn[mid];
    if (address < d.start) hi = mid - 1;
    else if (address >= d.end) lo = mid + 1;
    else return d;
  }
  return null;
}

function land(faults) {
  for (let i = 0; i < faults.length; i += 2) {
    const name = kindOf(faults[i + 1]);
    seenByKind[name]++;
    seenByRegion[REGIONS[faults[i + 1] & 7] ?? 'other']++;
    const d = find(faults[i]);
    if (!d) continue;
    const c = Math.floor((faults[i] - d.start) / PAGE / d.perCell);
    d.ctx.fillStyle = colour[name];
    d.ctx.fillRect((c % d.cols) * d.cell, Math.floor(c / d.cols) * d.cell, d.cell, d.cell);
  }
}

function batch(b) {
  if (b.mappings) space(b.mappings);
  land(b.faults);
  for (const d of drawn) {
    const n = b.counts[d.key] ?? 0;
    d.countEl.textContent = `${count(n)} fault${n === 1 ? "" : "s"}`;
  }
  live = { total: b.total, outside: b.outside, notDrawn: live.notDrawn + b.notDrawn };
  if (b.detail !== undefined) detail = b.detail;
  fill(
    $('live-summary'),
    `${count(live.total)} faults since this page opened; ${count(live.outside)} outside the mappings shown; ${count(live.notDrawn)} counted but not drawn (too many at once)` +
      (b.gone ? '; the process has exited' : '') +
      (detail === 'over_budget' ? '. Paused: the overhead governor holds the fault detail off (--bpf.cpu-budget); faults do not come until it is back' : ''),
  );
  if (b.totals !== undefined) totals(b.totals);
  legend();
}

async function start() {
  const res = await fetch(`/api/process/${pid}`);
  const p = await res.json();
  if (!res.ok) {
    $('title').textContent = `process ${pid}`;
    $('status').textContent = p.error ?? `error ${res.status}`;
    $('status').dataset.state = 'down';
    return;
  }
  $('title').textContent = `${p.comm} (pid ${p.pid})`;
  document.title = `faultline: ${p.comm} (pid ${p.pid})`;
  totals(p.totals);
  space(p.mappings);
  legend();
  if (!p.liveView) {
    $('status').textContent = 'maps only: faultline serve runs without the fault entry hook (--no-collector.fault-detail)';
    return;
  }
  const source = follow(
    `/api/process/${pid}/events`,
    {
      batch: (b) => {
        batch(b);
        if (b.gone) {
          // The stream ends with the process: no reconnecting to a pid another process may take.
          source.close();
          $('status').dataset.state = 'down';
          $('status').textContent = 'the process has exited';
        }
      },
    },
    $('status'),
  );
}

start();
