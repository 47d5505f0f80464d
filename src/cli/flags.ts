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
}

export type FlagSpecs = Record<string, FlagSpec>;
export type ParsedFlags = Record<string, string | boolean | undefined>;

export function parseFlags(command: string, specs: FlagSpecs, argv: string[]): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = spec.short ? { type: spec.type, short: spec.short } : { type: spec.type };
  }
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    const out: ParsedFlags = {};
    for (const [name, spec] of Object.entries(specs)) out[name] = (values[name] as string | boolean | undefined) ?? spec.default;
    return out;
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional.*$/s, '');
    throw new FaultlineError('BAD_FLAG', `${message}; see \`faultline ${command} --help\``);
  }
}

export function flagHelp(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const left = `  ${s.short ? `-${s.short}, ` : ''}--${name}${s.type === 'string' ? `=${s.value ?? 'VALUE'}` : ''}`;
    const def = s.default !== undefined ? ` (default: ${s.default})` : '';
    return [left, `${s.help}${def}`] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => l.padEnd(width) + r).join('\n');
}

export function positiveInt(flag: string, value: string | boolean | undefined, what = 'a whole number > 0'): number {
  const text = String(value);
  if (!/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) {
    throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(text)} is not ${what}`);
  }
  return Number(text);
}

const DURATION_UNITS: Record<string, number> = { ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Parses a Prometheus-style duration (`500ms`, `60s`, `5m`, `1h`) into seconds. */
export function durationSeconds(flag: string, value: string | boolean | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(String(value));
  if (!m) throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} is not a duration such as 30s, 5m or 1h`);
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}

export function oneOf<T extends string>(flag: string, value: string | boolean | undefined, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new FaultlineError('BAD_FLAG', `--${flag} ${JSON.stringify(String(value))} must be one of: ${allowed.join(', ')}`);
}
