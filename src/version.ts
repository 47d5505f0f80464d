/** faultline's version, for --version, faultline_build_info and OTLP's resource. */
import { readFileSync } from 'node:fs';

let version: string | null = null;

/** faultline's version, from package.json (read once). */
export function packageVersion(): string {
  if (version === null) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
      version = pkg.version ?? 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
