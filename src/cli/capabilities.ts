/**
 * Least privilege: which capabilities faultline keeps for its lifetime, and
 * the plan that gets rid of the rest (carried out by execWithCapabilities).
 *
 * Loading BPF needs CAP_SYS_ADMIN for the run-time statistics and CAP_SYSLOG
 * for /dev/kmsg, but only to open one descriptor each. faultline opens them,
 * then re-executes itself with CAP_BPF and CAP_PERFMON only (both needed for
 * as long as it runs: before Linux 6.5 every bpf() call needs CAP_BPF when
 * unprivileged BPF is disabled, and the overhead governor attaches programs
 * again), no_new_privs set, and the descriptors passed on. Pure but for
 * descriptorTarget, which reads /proc/self/fd.
 */
import { readlinkSync } from 'node:fs';
import { FaultlineError } from '../errors.js';

export const CAP = {
  DAC_READ_SEARCH: 2,
  NET_BIND_SERVICE: 10,
  SETPCAP: 8,
  SYS_ADMIN: 21,
  PERFMON: 38,
  BPF: 39,
} as const;

/** capabilities(7) names, by number, for messages. */
const CAP_NAMES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'linux_immutable',
  'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner', 'sys_module', 'sys_rawio', 'sys_chroot',
  'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice', 'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease',
  'audit_write', 'audit_control', 'setfcap', 'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read',
  'perfmon', 'bpf', 'checkpoint_restore',
];

export function capabilityNames(mask: bigint): string {
  const names: string[] = [];
  for (let cap = 0; cap < 64; cap++) if (mask & (1n << BigInt(cap))) names.push(`cap_${CAP_NAMES[cap] ?? cap}`);
  return names.length ? names.join(',') : 'none';
}

export const bit = (cap: number): bigint => 1n << BigInt(cap);

/** The credentials /proc/PID/status (or /proc/PID/task/TID/status) shows. */
export interface Credentials {
  /** Real, effective, saved and filesystem uids. */
  readonly uids: readonly [number, number, number, number];
  readonly inheritable: bigint;
  readonly permitted: bigint;
  readonly effective: bigint;
  readonly bounding: bigint;
  readonly ambient: bigint;
  readonly noNewPrivs: boolean;
}

export function parseCredentials(status: string): Credentials {
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status);
    if (!m) throw new FaultlineError('PROC_FORMAT', `/proc status has no ${name} line`);
    return m[1]!.trim();
  };
  const mask = (name: string, missing?: bigint): bigint => {
    if (missing !== undefined && !new RegExp(`^${name}:`, 'm').test(status)) return missing; // CapAmb: Linux >= 4.3
    const text = field(name);
    if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw new FaultlineError('PROC_FORMAT', `/proc status ${name} ${JSON.stringify(text.slice(0, 40))} is not a capability mask`);
    return BigInt(`0x${text}`);
  };
  const uids = field('Uid').split(/\s+/);
  if (uids.length !== 4 || !uids.every((u) => /^\d{1,10}$/.test(u) && Number(u) <= 0xffffffff)) {
    throw new FaultlineError('PROC_FORMAT', `/proc status Uid ${JSON.stringify(uids.join(' ').slice(0, 60))} is not four uids`);
  }
  const nnp = /^NoNewPrivs:\s*(\d)$/m.exec(status);
  return {
    uids: uids.map(Number) as unknown as Credentials['uids'],
    inheritable: mask('CapInh'),
    permitted: mask('CapPrm'),
    effective: mask('CapEff'),
    bounding: mask('CapBnd'),
    ambient: mask('CapAmb', 0n),
    noNewPrivs: nnp?.[1] === '1',
  };
}

/** What faultline needs for its lifetime, beyond what a start-up descriptor gave it. */
export interface KeepContext {
  /** The TCP port it listens on, and the lowest port that needs no privilege (net.ipv4.ip_unprivileged_port_start). */
  readonly port: number;
  readonly unprivilegedPortStart: number;
  /** Whether loading may read tracefs (classic tracepoints) and this uid cannot reach it without a capability. */
  readonly tracefsNeedsCapability: boolean;
  /** Whether perf_event_open wants CAP_SYS_ADMIN here (kernel.perf_event_paranoid=3 on Debian's and Ubuntu's kernels). */
  readonly perfEventsNeedSysAdmin: boolean;
}

export function capabilitiesToKeep(creds: Credentials, ctx: KeepContext): bigint {
  const bpf = bit(CAP.BPF) | bit(CAP.PERFMON);
  // Kernels (or runtimes) without CAP_BPF and CAP_PERFMON load BPF with CAP_SYS_ADMIN: keep that instead.
  let keep = (creds.effective & bpf) === bpf ? bpf : bit(CAP.SYS_ADMIN);
  if (ctx.port !== 0 && ctx.port < ctx.unprivilegedPortStart) keep |= bit(CAP.NET_BIND_SERVICE);
  if (ctx.tracefsNeedsCapability) keep |= bit(CAP.DAC_READ_SEARCH);
  if (ctx.perfEventsNeedSysAdmin) keep |= bit(CAP.SYS_ADMIN);
  return keep & creds.effective;
}

export type DropPlan =
  | { readonly action: 'none' }
  | { readonly action: 'exec'; readonly keep: bigint; readonly dropBounding: bigint; readonly noRoot: boolean };

/**
 * What to do: nothing (holds no more than it keeps, and no_new_privs is set),
 * or re-execute keeping `keep`. As uid 0 without CAP_SETPCAP the bounding set
 * and securebits stay as they are; no_new_privs alone then stops execve from
 * granting root's capabilities back (it limits them to the permitted set).
 */
export function planDrop(creds: Credentials, keep: bigint): DropPlan {
  const held = creds.effective | creds.permitted | creds.inheritable | creds.ambient;
  if ((held & ~keep) === 0n && creds.noNewPrivs) return { action: 'none' };
  const root = creds.uids[0] === 0 || creds.uids[1] === 0;
  const setpcap = (creds.effective & bit(CAP.SETPCAP)) !== 0n;
  return {
    action: 'exec',
    keep,
    dropBounding: root && setpcap ? creds.bounding & ~keep : 0n,
    noRoot: root && setpcap,
  };
}

export function capabilityNumbers(mask: bigint): number[] {
  const out: number[] = [];
  for (let cap = 0; cap < 64; cap++) if (mask & bit(cap)) out.push(cap);
  return out;
}

/** Descriptors one image of faultline passes to the next, by what they are. */
export const INHERITED_FDS_ENV = 'FAULTLINE_INHERITED_FDS';
const INHERITED_TARGETS = { kmsg: '/dev/kmsg', 'bpf-stats': 'anon_inode:bpf-stats' } as const;
export type InheritedName = keyof typeof INHERITED_TARGETS;
export type InheritedFds = Partial<Record<InheritedName, number>>;

export function formatInheritedFds(fds: InheritedFds): string {
  return Object.entries(fds)
    .map(([name, fd]) => `${name}=${fd}`)
    .join(',');
}

/** Parses FAULTLINE_INHERITED_FDS ("kmsg=5,bpf-stats=6", possibly empty); throws a one-line error on anything else. */
export function parseInheritedFds(text: string): InheritedFds {
  const out: InheritedFds = {};
  const bad = (why: string): FaultlineError =>
    new FaultlineError('BAD_ENVIRONMENT', `${INHERITED_FDS_ENV}=${JSON.stringify(text.slice(0, 80))}: ${why}; faultline sets it for itself when it drops capabilities: unset it`);
  if (text.length > 200) throw bad('too long');
  for (const part of text === '' ? [] : text.split(',')) {
    const m = /^([a-z-]{1,20})=(\d{1,5})$/.exec(part);
    if (!m) throw bad(`${JSON.stringify(part.slice(0, 30))} is not NAME=FD`);
    const name = m[1] as InheritedName;
    const fd = Number(m[2]);
    if (!(name in INHERITED_TARGETS)) throw bad(`unknown descriptor ${JSON.stringify(name)}`);
    if (fd < 3 || fd > 65535) throw bad(`descriptor ${fd} is out of range (3 to 65535)`);
    if (out[name] !== undefined) throw bad(`${name} is given twice`);
    out[name] = fd;
  }
  return out;
}

/** Checks each inherited descriptor is what its name says (readTarget: readlink of /proc/self/fd/N, null if closed). */
export function checkInheritedFds(fds: InheritedFds, readTarget: (fd: number) => string | null = descriptorTarget): InheritedFds {
  for (const [name, fd] of Object.entries(fds) as [InheritedName, number][]) {
    const target = readTarget(fd);
    if (target !== INHERITED_TARGETS[name]) {
      throw new FaultlineError(
        'BAD_ENVIRONMENT',
        `${INHERITED_FDS_ENV}: descriptor ${fd} is ${target === null ? 'not open' : JSON.stringify(target)}, not ${INHERITED_TARGETS[name]}; unset ${INHERITED_FDS_ENV}`,
      );
    }
  }
  return fds;
}

export function descriptorTarget(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}
