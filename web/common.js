// Shared by faultline's live pages: formatting with units, and an event stream that says when it is down.

/** A count: 1,234,567. */
export const count = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

/** A rate: 12,345/s, or 0.3/s below 10. */
export const perSecond = (n) => (!Number.isFinite(n) ? '–' : n >= 10 || n === 0 ? `${count(n)}/s` : `${n.toFixed(1)}/s`);

/** Bytes in binary units: 512 MiB. */
export function bytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** Seconds with a unit: 420 µs, 12.5 ms, 3.2 s, ∞. */
export function seconds(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  if (s === Infinity) return '∞ (not growing)';
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(1)} ms`;
  return `${s.toFixed(1)} s`;
}

/** A Unix time as local date and time. */
export const clock = (unix) => new Date(unix * 1000).toLocaleString('en-GB', { hour12: false });

/** An element with attributes and children (strings become text: nothing the server sends is parsed as HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'style') el.setAttribute('style', v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** Replaces an element's content. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

/** Follows an event stream; `status` says live or down (the browser reconnects by itself). */
export function follow(url, handlers, status) {
  const source = new EventSource(url);
  source.onopen = () => {
    status.dataset.state = 'live';
    status.textContent = 'live';
  };
  source.onerror = () => {
    status.dataset.state = 'down';
    status.textContent = source.readyState === EventSource.CLOSED ? 'disconnected' : 'disconnected: reconnecting…';
  };
  for (const [event, handle] of Object.entries(handlers)) {
    source.addEventListener(event, (e) => {
      status.dataset.state = 'live';
      status.textContent = `live · updated ${new Date().toLocaleTimeString('en-GB', { hour12: false })}`;
      handle(JSON.parse(e.data));
    });
  }
  return source;
}
