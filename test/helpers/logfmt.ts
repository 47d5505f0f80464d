/** Reads faultline's logfmt log lines back: `key=value` pairs, quoted values unescaped (JSON's escapes). */
export function parseLogfmt(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)/g)) {
    out[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
  }
  return out;
}

/** Every log line of a process's stderr, parsed. */
export function logRecords(stderr: string): Record<string, string>[] {
  return stderr.split('\n').filter(Boolean).map(parseLogfmt);
}
