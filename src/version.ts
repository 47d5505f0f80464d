/** faultline's version and the git revision it was built from, for --version, faultline_build_info and OTLP's resource. */
import { readFileSync } from 'node:fs';

function readJson(relative: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

let version: string | null = null;
let revision: string | null | undefined;

/** faultline's version, from package.json (read once). */
export function packageVersion(): string {
  if (version === null) {
    const v = readJson('../package.json')?.version;
    version = typeof v === 'string' ? v : 'unknown';
  }
  return version;
}

/** The git revision of the build (`-dirty` when built with uncommitted changes), from dist/build-info.json; null when unknown. */
export function buildRevision(): string | null {
  if (revision === undefined) {
    const r = readJson('./build-info.json')?.revision;
    revision = typeof r === 'string' && /^[0-9a-f]{7,40}(-dirty)?$/.test(r) ? r : null;
  }
  return revision;
}

/** What --version prints: `faultline 0.2.0 (revision 0320959abcde, Node.js v20.19.2)`. */
export function versionLine(): string {
  const revision = buildRevision();
  return `faultline ${packageVersion()} (${revision ? `revision ${revision}, ` : ''}Node.js ${process.version})`;
}
