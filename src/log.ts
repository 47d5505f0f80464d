/**
 * faultline's one logger: pino, writing to stderr synchronously (a line is out
 * before the process exits), as logfmt (the default; what Prometheus
 * exporters print) or JSON lines for log shippers. Every command sets it up
 * from --log.level and --log.format before it does anything else; until then
 * it logs at info, as logfmt.
 *
 *   ts=2026-11-27T02:31:07.412Z level=info msg="serving http://0.0.0.0:10190/metrics (…)"
 *   {"level":"info","time":"2026-11-27T02:31:07.412Z","msg":"serving http://0.0.0.0:10190/metrics (…)"}
 */
import { writeSync } from 'node:fs';
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['logfmt', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** A logfmt value: bare when it is a plain word, else quoted with JSON's escapes (quotes, backslashes, newlines). */
export function logfmtValue(value: unknown): string {
  const text = typeof value === 'string' ? value : value !== null && typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text !== '' && /^[^\s"=\\\p{Cc}]+$/u.test(text) ? text : JSON.stringify(text);
}

/** One pino record (a JSON line) as a logfmt line: ts, level and msg first, then the other fields in their order. */
export function logfmtLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return `msg=${logfmtValue(json.trimEnd())}\n`;
  }
  const { time, level, msg, ...rest } = record;
  const pairs: string[] = [`ts=${logfmtValue(time)}`, `level=${logfmtValue(level)}`];
  if (msg !== undefined) pairs.push(`msg=${logfmtValue(msg)}`);
  for (const [key, value] of Object.entries(rest)) pairs.push(`${key}=${logfmtValue(value)}`);
  return pairs.join(' ') + '\n';
}

/** Where a logger writes: stderr, or (tests) a function. */
export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => {
  try {
    writeSync(2, line);
  } catch {
    // stderr closed or full (EAGAIN on a non-blocking pipe): a log line is not worth a crash.
  }
};

export function createLogger(level: LogLevel, format: LogFormat, sink: LogSink = stderrSink): Logger {
  const stream: DestinationStream = { write: format === 'json' ? sink : (line: string) => sink(logfmtLine(line)) };
  return pino(
    {
      level,
      base: undefined, // no pid or hostname on every line: a node's log already says which host it is
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

let current = createLogger('info', 'logfmt');

/** The logger every module writes through. */
export const log = {
  debug: (msg: string, fields?: Record<string, unknown>): void => (fields ? current.debug(fields, msg) : current.debug(msg)),
  info: (msg: string, fields?: Record<string, unknown>): void => (fields ? current.info(fields, msg) : current.info(msg)),
  warn: (msg: string, fields?: Record<string, unknown>): void => (fields ? current.warn(fields, msg) : current.warn(msg)),
  error: (msg: string, fields?: Record<string, unknown>): void => (fields ? current.error(fields, msg) : current.error(msg)),
};

/** Sets the level and format for everything logged from now on. */
export function configureLog(level: LogLevel, format: LogFormat, sink?: LogSink): void {
  current = createLogger(level, format, sink);
}
