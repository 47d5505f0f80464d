// The overview: host fault rates, the busiest processes and cgroups, OOM kills, headroom, the exporter's health.
import { bytes, clock, count, fill, follow, h, perSecond, seconds } from './common.js';

const $ = (id) => document.getElementById(id);
const REGIONS = ['heap', 'stack', 'anon', 'file', 'other'];

function host(rows) {
  const by = (type, region) => rows.find((r) => r.type === type && r.region === region) ?? { perSecond: 0, total: 0 };
  const max = Math.max(1, ...rows.map((r) => r.perSecond));
  fill(
    $('host'),
    REGIONS.map((region) => {
      const minor = by('minor', region);
      const major = by('major', region);
      return h(
        'tr',
        { 'data-region': region },
        h('td', {}, region),
        h('td', { class: 'num' }, perSecond(minor.perSecond)),
        h('td', { class: 'num' }, perSecond(major.perSecond)),
        h('td', {}, h('span', { class: 'bar', style: `width:${(100 * minor.perSecond) / max}%`, title: `${region}: ${perSecond(minor.perSecond)} minor` })),
        h('td', { class: 'num' }, count(minor.total)),
        h('td', { class: 'num' }, count(major.total)),
      );
    }),
  );
  const all = rows.reduce((a, r) => a + r.perSecond, 0);
  const majors = rows.filter((r) => r.type === 'major').reduce((a, r) => a + r.perSecond, 0);
  fill($('host-total'), `all regions: ${perSecond(all)} (${perSecond(majors)} major)`);
}

const who = (cgroup, pod, namespace) => (pod ? `${namespace}/${pod}` : cgroup || '–');

/** The cgroup whose processes the list shows (a click on a cgroup), or null for the busiest on the host. */
let selected = null;
let last = null;

function processes(all) {
  const rows = selected === null ? all.slice(0, 15) : all.filter((p) => p.cgroup === selected);
  fill(
    $('processes-scope'),
    selected === null ? 'the 15 busiest on the host' : h('span', {}, `those in ${selected} `, h('button', { type: 'button', 'data-testid': 'clear-cgroup' }, 'show all')),
  );
  $('processes-scope').querySelector('button')?.addEventListener('click', () => select(null));
  fill(
    $('processes'),
    rows.length === 0
      ? h('tr', {}, h('td', { colspan: 5, class: 'empty' }, selected === null ? 'no process has faulted yet' : 'no process of this cgroup among those faultline exports'))
      : rows.map((p) =>
          h(
            'tr',
            { 'data-pid': p.pid },
            h('td', { class: 'num' }, h('a', { href: `/process/${p.pid}` }, String(p.pid))),
            h('td', {}, h('a', { href: `/process/${p.pid}` }, p.comm)),
            h('td', { class: 'path' }, who(p.cgroup, p.pod, p.namespace)),
            h('td', { class: 'num' }, perSecond(p.perSecond)),
            h('td', { class: 'num' }, count(p.total)),
          ),
        ),
  );
}

function cgroups(rows) {
  fill(
    $('cgroups'),
    rows.length === 0
      ? h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'none yet'))
      : rows.map((c) =>
          h(
            'tr',
            { 'data-cgroup': c.cgroup, 'aria-selected': c.cgroup === selected ? 'true' : 'false' },
            h('td', { class: 'path' }, h('a', { href: '#', 'data-select': c.cgroup, title: 'show the processes of this cgroup' }, c.cgroup)),
            h('td', {}, c.pod ? `${c.namespace}/${c.pod}` : '–'),
            h('td', { class: 'num' }, perSecond(c.perSecond)),
            h('td', { class: 'num' }, count(c.total)),
          ),
        ),
  );
}

function timeline(kills, now) {
  const svg = $('timeline');
  const width = svg.clientWidth || 800;
  const from = Math.min(now - 600, ...kills.map((k) => k.time));
  const x = (t) => 8 + ((t - from) / Math.max(1, now - from)) * (width - 16);
  const ns = 'http://www.w3.org/2000/svg';
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text) e.textContent = text;
    return e;
  };
  svg.replaceChildren(
    el('line', { x1: 8, x2: width - 8, y1: 30, y2: 30, stroke: '#d0d7de' }),
    el('text', { x: 8, y: 46, 'font-size': 11, fill: '#57606a' }, clock(from)),
    el('text', { x: width - 8, y: 46, 'font-size': 11, fill: '#57606a', 'text-anchor': 'end' }, 'now'),
    ...kills.map((k) => {
      const g = el('g', {});
      // The label on the side with room: a kill near now is labelled to its left.
      const right = x(k.time) > width - 120;
      g.append(
        el('line', { x1: x(k.time), x2: x(k.time), y1: 14, y2: 34, stroke: '#cf222e', 'stroke-width': 2 }),
        el('text', { x: x(k.time) + (right ? -3 : 3), y: 12, 'font-size': 11, fill: '#cf222e', 'text-anchor': right ? 'end' : 'start' }, `${k.comm} (${k.pid})`),
      );
      g.append(el('title', {}, `${clock(k.time)}: ${k.comm} (pid ${k.pid}) killed in ${k.cgroup || 'the host'}`));
      return g;
    }),
  );
}

function oom(kills, now) {
  timeline(kills, now);
  fill(
    $('oom'),
    kills.length === 0
      ? h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'no OOM kill since faultline started'))
      : kills.map((k) => {
          const m = k.memoryBytes;
          const rss = (m.anon_rss ?? 0) + (m.file_rss ?? 0) + (m.shmem_rss ?? 0);
          return h(
            'tr',
            { 'data-pid': k.pid },
            h('td', {}, clock(k.time)),
            h('td', { class: 'num' }, String(k.pid)),
            h('td', {}, k.comm),
            h('td', { class: 'num', title: `anon ${bytes(m.anon_rss)}, file ${bytes(m.file_rss)}, shmem ${bytes(m.shmem_rss)}` }, bytes(rss)),
            h('td', { class: 'num' }, String(k.oomScoreAdj)),
            h('td', {}, `${k.triggerComm} (${k.triggerPid})`),
            h('td', {}, k.constraint),
            h('td', { class: 'path' }, who(k.cgroup, k.pod, k.namespace)),
          );
        }),
  );
}

function headroom(rows) {
  fill(
    $('headroom'),
    rows.length === 0
      ? h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'no busy cgroup has a memory limit'))
      : rows.map((c) => {
          const used = c.limitBytes > 0 ? c.usageBytes / c.limitBytes : 0;
          return h(
            'tr',
            { 'data-cgroup': c.cgroup },
            h('td', { class: 'path' }, c.cgroup),
            h('td', {}, c.pod || '–'),
            h('td', { class: 'num' }, bytes(c.usageBytes)),
            h('td', { class: 'num' }, bytes(c.limitBytes)),
            h('td', {}, h('div', { class: 'meter', role: 'meter', 'aria-valuenow': (used * 100).toFixed(0), 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('span', { style: `width:${Math.min(100, used * 100)}%` }), h('b', {}, `${(used * 100).toFixed(1)}%`))),
            h('td', { class: 'num' }, seconds(c.reclaimP99Seconds)),
            h('td', { class: 'num' }, c.oomEtaSeconds === null ? '–' : seconds(c.oomEtaSeconds)),
          );
        }),
  );
}

function health(x, liveView) {
  const lost = Object.entries(x.lostRecords).map(([ring, n]) => `${ring} ${count(n)}`).join(', ');
  fill(
    $('health'),
    h('span', {}, `programs attached: ${x.programsAttached}`),
    h('span', {}, `records lost: ${lost || 'none'}`),
    h('span', {}, x.bpfCpu === null ? 'BPF CPU: not measured (governor off)' : `BPF CPU: ${(x.bpfCpu * 100).toFixed(2)}% of one CPU (budget ${((x.bpfCpuBudget ?? 0) * 100).toFixed(0)}%)`),
    h('span', {}, `processes tracked: ${count(x.processesTracked)}`),
    h('span', {}, x.lastScrapeSeconds === null ? 'not scraped yet' : `last scrape: ${seconds(x.lastScrapeSeconds)}`),
    h('span', {}, liveView ? `process pages open: ${x.liveSessions}` : 'process view: maps only (fault detail off)'),
  );
}

function select(cgroup) {
  selected = cgroup;
  if (last) render(last);
}

document.addEventListener('click', (e) => {
  const a = e.target instanceof Element ? e.target.closest('[data-select]') : null;
  if (!a) return;
  e.preventDefault();
  select(a.getAttribute('data-select'));
});

function render(o) {
  last = o;
  $('version').textContent = o.health.version;
  host(o.host);
  processes(o.processes);
  cgroups(o.cgroups);
  oom(o.oomKills, o.time);
  headroom(o.headroom);
  health(o.health, o.liveView);
}

follow('/api/overview/events', { overview: render }, $('status'));
