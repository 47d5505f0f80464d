#!/usr/bin/env node
/** faultline's entry point: dispatches to a command and turns errors into one line. */
import { FaultlineError } from '../errors.js';
import { LOG_FORMATS, LOG_LEVELS, configureLog, log, type LogFormat, type LogLevel } from '../log.js';
import { versionLine } from '../version.js';
import { CHECK_HELP, check } from './check.js';
import { serve } from './serve.js';
import { SERVE_HELP } from './serve-config.js';
import { TRACE_HELP, trace } from './trace.js';

const USAGE = `Usage: faultline [COMMAND] [flags]

Commands:
  serve   Serve page-fault and OOM-kill metrics for Prometheus (the default)
  trace   Stream OOM kills and one process's page faults live
  check   Attach everything, report each feature, detach: can faultline run here?
  help    Show help for a command: faultline help trace

Every command takes --log.level, --log.format, --version and --help.
`;

/**
 * --log.level and --log.format as given, before a command parses its flags: so that an error in the flags
 * is already logged the way they ask. Values that are not valid are left for the command to reject.
 */
function earlyLogFlags(argv: readonly string[]): void {
  const value = (name: string): string | undefined => {
    const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i < 0) return undefined;
    const arg = argv[i]!;
    return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
  };
  const level = value('log.level');
  const format = value('log.format');
  configureLog(
    (LOG_LEVELS as readonly string[]).includes(level ?? '') ? (level as LogLevel) : 'info',
    (LOG_FORMATS as readonly string[]).includes(format ?? '') ? (format as LogFormat) : 'logfmt',
  );
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  earlyLogFlags(argv);
  if (first === 'trace' || first === 'check' || first === 'help') {
    // `faultline trace | head`: a closed pipe ends the command (and detaches), it is not a crash.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.kill(process.pid, 'SIGTERM');
    });
  }
  if (first === undefined || first.startsWith('-')) {
    if (first === '--version' || first === '-v') return void process.stdout.write(`${versionLine()}\n`);
    if (first === '--help' || first === '-h') return void process.stdout.write(USAGE + '\n' + SERVE_HELP);
    return serve(argv);
  }
  switch (first) {
    case 'serve':
      return serve(rest);
    case 'trace':
      return trace(rest);
    case 'check':
      return check(rest);
    case 'help': {
      const help: Record<string, string> = { serve: SERVE_HELP, trace: TRACE_HELP, check: CHECK_HELP };
      return void process.stdout.write(help[rest[0] ?? ''] ?? USAGE);
    }
    default:
      throw new FaultlineError('BAD_COMMAND', `unknown command ${JSON.stringify(first)}; commands: serve, trace, check (see faultline --help)`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof FaultlineError) {
    log.error(err.message, { code: err.code });
    for (const line of err.detail) log.error(line, { source: 'libbpf' });
  } else {
    log.error(`unexpected error: ${(err as Error).message}`, { stack: (err as Error).stack ?? String(err) });
  }
  process.exit(1);
});
