/**
 * Flags, declared once with type, default and help; parsed with node:util
 * parseArgs and validated here, at the boundary.
 */
import { parseArgs } from 'node:util';
import { FaultlineError } from '../bpf/errors.js';

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
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    const out: ParsedFlags = {};
    for (const [name, spec] of Object.entries(specs)) out[name] = (values[name] as string | boolean | string[] | undefined) ?? spec.default;
    return out;
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional.*$/s, '');
    throw new FaultlineError('BAD_FLAG', `${message}; see \`faultline ${command} --help\``);
  }
}

export function flagHelp(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const left = `  ${s.short ? `-${s.short}, ` : ''}--${name}${s.type === 'string' ? `=${s.value ?? 'VALUE'}` : ''}${s.multiple ? ' …' : ''}`;
    const def = s.default !== undefined ? ` (default: ${s.default})` : '';
    return [left, `${s.help}${def}`] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => l.padEnd(width) + r).join('\n');
}

type FlagValue = string | boolean | string[] | undefined;

const BYTE_UNITS: Record<string, number> = { '': 1, B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, KB: 1e3, MB: 1e6, GB: 1e9 };

/** Parses a size such as `100MiB`, `1GiB`, `500KB` or `4096`, in bytes. */
export function byteSize(flag: string, value: FlagValue): number {
  const m = /^(\d+(?:\.\d+)?)\s*(|B|KiB|MiB|GiB|KB|MB|GB)$/.exec(String(value));
  if (!m) throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} is not a size such as 100MiB, 1GiB or 4096`);
  return Math.round(Number(m[1]) * BYTE_UNITS[m[2]!]!);
}

export function positiveInt(flag: string, value: FlagValue, what = 'a whole number > 0'): number {
  const text = String(value);
  if (!/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) {
    throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(text)} is not ${what}`);
  }
  return Number(text);
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

/** A whole number >= 0 (0 is allowed, e.g. --processes.max=0: no per-process series). */
export function wholeNumber(flag: string, value: FlagValue): number {
  const text = String(value);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(text)} is not a whole number >= 0`);
  }
  return Number(text);
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

/** Parses a Prometheus-style duration (`500ms`, `60s`, `5m`, `1h`) into seconds. */
export function durationSeconds(flag: string, value: FlagValue): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(String(value));
  if (!m) throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} is not a duration such as 30s, 5m or 1h`);
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}

export function oneOf<T extends string>(flag: string, value: FlagValue, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} must be one of: ${allowed.join(', ')}`);
}
