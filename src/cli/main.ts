#!/usr/bin/env node
/** faultline's entry point: dispatches to a command and turns errors into one line. */
import { FaultlineError } from '../errors.js';
import { packageVersion } from '../version.js';
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

faultline --version prints the version.
`;

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === 'trace' || first === 'check' || first === 'help') {
    // `faultline trace | head`: a closed pipe ends the command (and detaches), it is not a crash.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.kill(process.pid, 'SIGTERM');
    });
  }
  if (first === undefined || first.startsWith('-')) {
    if (first === '--version' || first === '-v') return void process.stdout.write(`faultline ${packageVersion()}\n`);
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
    process.stderr.write(`faultline: ${err.message}\n`);
    for (const line of err.detail) process.stderr.write(`  libbpf: ${line}\n`);
  } else {
    process.stderr.write(`faultline: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
