/**
 * Flags, declared once with type, default and help; parsed with node:util
 * parseArgs and validated here, at the boundary.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FaultlineError } from '../errors.js';

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  readonly default?: string;
  readonly short?: string;
  readonly value?: string;
  /** May be given more than once; parsed as a list. */
  readonly multiple?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type ParsedFlags = Record<string, string | boolean | string[] | undefined>;

export function parseFlags(command: string, specs: FlagSpecs, argv: string[]): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false, tokens: true });
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional.*$/s, '');
    throw new FaultlineError('BAD_FLAG', `${message}; see \`faultline ${command} --help\``);
  }
  // A single-value flag given twice would silently keep the last one.
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || specs[token.name]?.multiple) continue;
    if (seen.has(token.name)) throw new FaultlineError('BAD_FLAG', `--${token.name} is given more than once; give it once`);
    seen.add(token.name);
  }
  const out: ParsedFlags = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = (parsed.values[name] as string | boolean | string[] | undefined) ?? spec.default;
  return out;
}

/** Section titles of the help, by a flag's first name part (`web` of --web.listen-address); the order is the specs'. */
const SECTIONS: Record<string, string> = {
  '': 'Flags',
  web: 'Web server',
  processes: 'Processes',
  cgroups: 'Cgroups',
  groups: 'Cgroups',
  'event-log': 'Event log',
  kubernetes: 'Kubernetes',
  otlp: 'OTLP push',
  collector: 'Collectors',
  bpf: 'BPF programs',
  maps: 'BPF programs',
  privileges: 'Privileges',
  log: 'General',
  general: 'General',
};

/** The section a flag's help is under. */
function sectionOf(name: string): string {
  if (name === 'version' || name === 'help') return SECTIONS.general!;
  if (name === 'keep-capabilities') return SECTIONS.privileges!;
  const key = name.replace(/^no-/, '').split('.')[0]!;
  return SECTIONS[name.includes('.') || key === 'event-log' ? key : ''] ?? key;
}

/** `text` in lines of at most `width` characters (a longer word stays whole). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** The flags' help, in titled sections, each description wrapped beside its flag to `width` columns in all. */
export function flagHelp(specs: FlagSpecs, width = 100): string {
  const sections = new Map<string, (readonly [string, string])[]>();
  for (const [name, s] of Object.entries(specs)) {
    const left = `  ${s.short ? `-${s.short}, ` : ''}--${name}${s.type === 'string' ? `=${s.value ?? 'VALUE'}` : ''}${s.multiple ? ' …' : ''}`;
    const def = s.default !== undefined ? ` (default: ${s.default})` : '';
    const section = sectionOf(name);
    if (!sections.has(section)) sections.set(section, []);
    sections.get(section)!.push([left, `${s.help}${def}`]);
  }
  const column = Math.min(36, Math.max(...[...sections.values()].flat().map(([l]) => l.length)) + 2);
  const out: string[] = [];
  for (const [title, rows] of sections) {
    out.push(`${out.length ? '\n' : ''}${title}:`);
    for (const [left, help] of rows) {
      const text = wrap(help, Math.max(30, width - column));
      const first = left.length + 2 <= column ? [`${left.padEnd(column)}${text.shift() ?? ''}`] : [left];
      out.push(...first, ...text.map((l) => ' '.repeat(column) + l));
    }
  }
  return out.join('\n');
}

type FlagValue = string | boolean | string[] | undefined;

/** A string flag's value, or undefined when not given (and no default). */
export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const value = flags[name];
  if (value === undefined || typeof value === 'string') return value;
  throw new TypeError(`--${name} is not declared as a single string flag`);
}

/** A repeatable flag's values, or undefined when not given. */
export function listFlag(flags: ParsedFlags, name: string): string[] | undefined {
  const value = flags[name];
  if (value === undefined || Array.isArray(value)) return value;
  throw new TypeError(`--${name} is not declared as a repeatable flag`);
}

/** A boolean flag: true when given. */
export function booleanFlag(flags: ParsedFlags, name: string): boolean {
  const value = flags[name];
  if (value === undefined || typeof value === 'boolean') return value === true;
  throw new TypeError(`--${name} is not declared as a boolean flag`);
}

const BYTE_UNITS: Record<string, number> = { '': 1, B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, KB: 1e3, MB: 1e6, GB: 1e9 };

/** Parses a size such as `100MiB`, `1GiB`, `500KB` or `4096`, in bytes. */
export function byteSize(flag: string, value: FlagValue, max = 2 ** 40): number {
  const m = /^(\d{1,16}(?:\.\d{1,9})?)\s*(|B|KiB|MiB|GiB|KB|MB|GB)$/.exec(String(value));
  if (!m) throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} is not a size such as 100MiB, 1GiB or 4096`);
  const bytes = Math.round(Number(m[1]) * BYTE_UNITS[m[2]!]!);
  if (bytes > max) throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} is more than ${max} bytes`);
  return bytes;
}

/** The largest value a Node timer (and a 32-bit kernel field) takes: 2^31 - 1. */
export const INT32_MAX = 2 ** 31 - 1;

/** A whole number from 1 to max (default 2^31 - 1). */
export function positiveInt(flag: string, value: FlagValue, what = 'a whole number', max = INT32_MAX): number {
  const text = String(value);
  if (!/^\d{1,16}$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(text)} is not ${what} from 1 to ${max}`);
  }
  return Number(text);
}

/** A whole number from 0 to max (0 is allowed, e.g. --processes.max=0: no per-process series). */
export function wholeNumber(flag: string, value: FlagValue, max = INT32_MAX): number {
  const text = String(value);
  if (!/^\d{1,16}$/.test(text) || Number(text) > max) {
    throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(text)} is not a whole number from 0 to ${max}`);
  }
  return Number(text);
}

/** The kernel's pid_max (pids are below it), or 2^22, its ceiling, when unreadable. */
export function pidMax(read: () => string = () => readFileSync('/proc/sys/kernel/pid_max', 'utf8')): number {
  try {
    const n = Number(read().trim());
    if (Number.isSafeInteger(n) && n > 1 && n <= 4194304) return n;
  } catch {
    // not readable: the ceiling
  }
  return 4194304;
}

/** A process id: 1 to pid_max - 1. */
export function processId(flag: string, value: FlagValue, max = pidMax() - 1): number {
  return positiveInt(flag, value, 'a process id', max);
}

/** A power of two from 1 to max (e.g. --bpf.thread-slots). */
export function powerOfTwo(flag: string, value: FlagValue, max: number): number {
  const text = String(value);
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max || (n & (n - 1)) !== 0) {
    throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(text)} is not a power of two from 1 to ${max}`);
  }
  return n;
}

/** A decimal number from 0 to max (e.g. --bpf.cpu-budget=0.1, a fraction of one CPU, at most every CPU). */
export function fraction(flag: string, value: FlagValue, max: number): number {
  const text = String(value);
  const n = Number(text);
  if (!/^\d+(?:\.\d+)?$/.test(text) || !Number.isFinite(n) || n > max) {
    throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(text)} is not a number from 0 to ${max}`);
  }
  return n;
}

/** A collector's switch, node_exporter style: on by default, --no-collector.NAME turns it off; both at once is an error. */
export function collectorOn(flags: ParsedFlags, name: string): boolean {
  const on = flags[`collector.${name}`] === true;
  const off = flags[`no-collector.${name}`] === true;
  if (on && off) throw new FaultlineError('BAD_FLAG', `--collector.${name} and --no-collector.${name} contradict each other`);
  return !off;
}

const DURATION_UNITS: Record<string, number> = { ms: 1e-3, s: 1, m: 60, h: 3600 };

/** The longest duration a flag takes: what a Node timer can wait (2^31 - 1 ms, ~24.8 days). */
export const MAX_DURATION_SECONDS = INT32_MAX / 1000;

const formatSeconds = (s: number): string => (s < 1 ? `${Math.round(s * 1000)}ms` : `${s}s`);

/**
 * Parses a Prometheus-style duration (`500ms`, `60s`, `5m`, `1h`) into
 * seconds, from min (a floor where a shorter one would spin the exporter;
 * 0 where "none" makes sense) to 2^31 - 1 ms.
 */
export function durationSeconds(flag: string, value: FlagValue, min = 0.001): number {
  const m = /^(\d{1,12}(?:\.\d{1,9})?)(ms|s|m|h)$/.exec(String(value));
  if (!m) throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} is not a duration such as 30s, 5m or 1h`);
  const seconds = Number(m[1]) * DURATION_UNITS[m[2]!]!;
  if (seconds < min || seconds > MAX_DURATION_SECONDS) {
    throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} must be from ${formatSeconds(min)} to ${INT32_MAX}ms (~24.8 days)`);
  }
  return seconds;
}

export function oneOf<T extends string>(flag: string, value: FlagValue, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} must be one of: ${allowed.join(', ')}`);
}
