/**
 * Carries out the capability drop (capabilities.ts) for `faultline serve`:
 * the first image opens what needs more than CAP_BPF and CAP_PERFMON and
 * re-executes itself; the second adopts those descriptors and runs.
 */
import { accessSync, constants, openSync, readFileSync } from 'node:fs';
import { enableBpfStats, execWithCapabilities, perfEventsNeedSysAdmin } from '../bpf/libbpf.js';
import { onlineCpus } from '../bpf/probe.js';
import {
  INHERITED_FDS_ENV,
  capabilityNames,
  capabilityNumbers,
  capabilitiesToKeep,
  checkInheritedFds,
  formatInheritedFds,
  parseCredentials,
  parseInheritedFds,
  planDrop,
  type Credentials,
  type InheritedFds,
} from './capabilities.js';

export interface LeastPrivilegeOptions {
  /** --keep-capabilities: run with what it was started with. */
  readonly keepAll: boolean;
  /** The port it will listen on (a privileged one keeps CAP_NET_BIND_SERVICE). */
  readonly port: number;
  /** Whether loading may read tracefs (not with --bpf.tracepoints=tp_btf, --bpf.fault-hook=perf-event and no stalls collector). */
  readonly readsTracefs: boolean;
  /** Descriptors to open while the capabilities are still there. */
  readonly kmsg: boolean;
  readonly bpfStats: boolean;
  readonly log: (line: string) => void;
}

/** The descriptors the first image opened; returns only in the image that goes on to run. */
export function dropCapabilities(opts: LeastPrivilegeOptions): InheritedFds {
  const inherited = process.env[INHERITED_FDS_ENV];
  if (inherited !== undefined) {
    Reflect.deleteProperty(process.env, INHERITED_FDS_ENV); // nothing it starts inherits the marker
    const fds = checkInheritedFds(parseInheritedFds(inherited));
    const creds = ownCredentials();
    const perfNeedsSysAdmin = perfEventsNeedSysAdmin(onlineCpus()[0] ?? 0);
    const keep = capabilitiesToKeep(creds, keepContext(creds, opts, perfNeedsSysAdmin));
    const extra = (creds.effective | creds.permitted | creds.ambient) & ~keep;
    opts.log(
      `capabilities: ${capabilityNames(creds.effective)} only${creds.noNewPrivs ? ', no_new_privs set' : ''}` +
        (perfNeedsSysAdmin ? '; cap_sys_admin stays: at kernel.perf_event_paranoid > 2 this kernel opens perf events for no other capability (2 lets it go)' : '') +
        (extra ? `; could not drop ${capabilityNames(extra)}` : ''),
    );
    return fds;
  }
  if (opts.keepAll) return {};
  const creds = ownCredentials();
  const keep = capabilitiesToKeep(creds, keepContext(creds, opts, perfEventsNeedSysAdmin(onlineCpus()[0] ?? 0)));
  const plan = planDrop(creds, keep);
  if (plan.action === 'none') return {};
  const fds: InheritedFds = {};
  // Failures here are left for the next image to meet again and report, as a run without the drop would.
  if (opts.kmsg) {
    try {
      fds.kmsg = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      // no CAP_SYSLOG where kernel.dmesg_restrict=1
    }
  }
  if (opts.bpfStats) {
    try {
      fds['bpf-stats'] = enableBpfStats().fd;
    } catch {
      // no CAP_SYS_ADMIN
    }
  }
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  return execWithCapabilities({
    keep: capabilityNumbers(plan.keep),
    dropBounding: capabilityNumbers(plan.dropBounding),
    noRoot: plan.noRoot,
    inheritFds: Object.values(fds),
    path: process.execPath,
    argv: [process.argv0, ...process.execArgv, ...process.argv.slice(1)],
    env: [...env, `${INHERITED_FDS_ENV}=${formatInheritedFds(fds)}`],
  });
}

function ownCredentials(): Credentials {
  return parseCredentials(readFileSync('/proc/self/status', 'utf8'));
}

function keepContext(creds: Credentials, opts: LeastPrivilegeOptions, perfEventsNeedSysAdmin: boolean): Parameters<typeof capabilitiesToKeep>[1] {
  return {
    perfEventsNeedSysAdmin,
    port: opts.port,
    unprivilegedPortStart: unprivilegedPortStart(),
    // uid 0 owns tracefs; any other uid reaches it (mode 0700) only through CAP_DAC_READ_SEARCH.
    tracefsNeedsCapability: opts.readsTracefs && creds.uids[0] !== 0 && !['/sys/kernel/tracing/events', '/sys/kernel/debug/tracing/events'].some(reachable),
  };
}

/** Whether this uid reaches path without capabilities (access(2) checks the real uid, capabilities aside). */
function reachable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function unprivilegedPortStart(): number {
  try {
    const n = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
    return Number.isInteger(n) && n >= 0 && n <= 65536 ? n : 1024;
  } catch {
    return 1024;
  }
}
