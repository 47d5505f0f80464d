/**
 * `faultline check`: can the exporter run on this machine? Loads and attaches
 * everything, prints the core's lines and each registered feature's
 * (src/core/features.ts), detaches, and exits 0 only if `faultline serve`
 * would work.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseCgroupMounts } from '../readers/cgroups.js';
import { FaultlineError } from '../errors.js';
import { VMLINUX_BTF, enableBpfStats, libbpfVersion } from '../bpf/libbpf.js';
import { Probe, describeFallback, type TracepointMode } from '../bpf/probe.js';
import { BPF_FLAGS, GENERAL_FLAGS, bpfFlags, generalFlags } from './common.js';
import type { CheckContext } from '../core/feature.js';
import { FEATURES } from '../core/features.js';
import { flagHelp, parseFlags } from './flags.js';
import { requireBpfCapabilities } from './preflight.js';

const FLAGS = { ...BPF_FLAGS, ...GENERAL_FLAGS };

export const CHECK_HELP = `Usage: faultline check [flags]

Loads and attaches every faultline program, prints one line per feature,
detaches, and exits 0 if \`faultline serve\` can run here (1 otherwise, with
the reason on the failing line). Optional features print "warn".

${flagHelp(FLAGS)}
`;

type Level = 'ok' | 'warn' | 'FAIL';

export async function check(argv: string[]): Promise<void> {
  const flags = parseFlags('check', FLAGS, argv);
  const early = generalFlags(flags, CHECK_HELP);
  if (early !== null) return void process.stdout.write(early);
  const bpf = bpfFlags(flags);
  const failed: string[] = [];
  const line = (level: Level, feature: string, text: string): void => {
    if (level === 'FAIL') failed.push(feature);
    process.stdout.write(`${level.padEnd(5)}${feature.padEnd(16)}${text}\n`);
  };
  const attempt = (feature: string, required: boolean, run: () => string): boolean => {
    try {
      line('ok', feature, run());
      return true;
    } catch (err) {
      const detail = err instanceof FaultlineError && err.detail.length ? ` (libbpf: ${err.detail.at(-1)})` : '';
      line(required ? 'FAIL' : 'warn', feature, `${(err as Error).message}${detail}`);
      return false;
    }
  };
  /** Refused programs already reported: each probe below meets the same refusals (and the fault programs load only with countFaults). */
  const reported = new Set<string>();
  /** What attaches in `mode`, after a warn line for each refused program not reported yet. */
  const probeWith = (mode: TracepointMode, countFaults: boolean): string => {
    const probe = Probe.start({ objectPath: bpf.objectPath, tracepoints: mode, countFaults });
    try {
      for (const f of probe.fallbacks) {
        if (reported.has(f.program)) continue;
        reported.add(f.program);
        line('warn', 'fallback', describeFallback(f));
      }
      return probe.programs.map((p) => `${p.attachPoint}${p.links > 1 ? ` x${p.links}` : ''}`).join(', ');
    } finally {
      probe.close();
    }
  };

  attempt('privileges', true, () => (requireBpfCapabilities(), 'CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)'));
  attempt('libbpf', true, () => `libbpf ${libbpfVersion()}`);
  attempt('btf', true, () => {
    if (!existsSync(VMLINUX_BTF)) throw new Error(`${VMLINUX_BTF} missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y`);
    return VMLINUX_BTF;
  });
  // What serve would attach (tp_btf where the kernel takes it, program by program), then the classic twins alone.
  const typed = attempt('tracepoints', false, () => probeWith('auto', false));
  const classic = attempt('classic', false, () => probeWith('classic', false));
  if (!typed && !classic) line('FAIL', 'tracepoints', 'neither tp_btf nor the classic tracepoints attach');
  // What serve attaches with the fault counting on, loaded once for every feature's line (a failure too).
  let attachedOnce: { points: readonly string[] } | { error: unknown } | null = null;
  const context: CheckContext = {
    objectPath: bpf.objectPath,
    faultRingBytes: bpf.faultRingBytes,
    tracepoints: typed ? 'auto' : 'classic',
    attached: () => {
      if (!attachedOnce) {
        try {
          attachedOnce = { points: probeWith(typed ? 'auto' : 'classic', true).split(', ') };
        } catch (err) {
          attachedOnce = { error: err };
        }
      }
      if ('error' in attachedOnce) throw attachedOnce.error;
      return attachedOnce.points;
    },
  };
  for (const feature of FEATURES) for (const c of feature.checks ?? []) attempt(c.label, c.required, () => c.run(context));
  attempt('cgroups', false, () => {
    const m = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    if (!m.memoryV1 && !m.unified) throw new Error('no cgroup v1 memory or v2 hierarchy mounted: no cgroup labels');
    return m.memoryV1 ? `memory cgroup v1 at ${m.memoryV1}${m.unified ? `, v2 at ${m.unified}` : ''}` : `cgroup v2 at ${m.unified}`;
  });
  attempt('bpf stats', false, () => {
    enableBpfStats().close();
    return 'BPF_ENABLE_STATS works: --bpf.stats can count program run time';
  });
  process.stdout.write(failed.length === 0 ? 'faultline can run here\n' : 'faultline cannot run here: see FAIL above\n');
  if (failed.length > 0) process.exitCode = 1;
}
