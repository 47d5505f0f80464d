/** Checks made before touching the kernel, so failures say what to do. */
import { readFileSync } from 'node:fs';
import { FaultlineError } from '../errors.js';
import { CAP, bit } from './capabilities.js';

/** Effective capabilities from /proc/self/status's CapEff line. */
export function parseCapEff(status: string): bigint {
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function hasBpfCapabilities(capEff: bigint): boolean {
  const has = (cap: number): boolean => (capEff & bit(cap)) !== 0n;
  return (has(CAP.BPF) && has(CAP.PERFMON)) || has(CAP.SYS_ADMIN);
}

export function requireBpfCapabilities(): void {
  const capEff = parseCapEff(readFileSync('/proc/self/status', 'utf8'));
  if (!hasBpfCapabilities(capEff)) {
    throw new FaultlineError(
      'NO_PRIVILEGE',
      'faultline needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to load BPF programs: run it as root, ' +
        'or grant them (setcap cap_bpf,cap_perfmon+ep on the node binary, or securityContext.capabilities in Kubernetes)',
    );
  }
}

/** The thread group (process) a pid belongs to, or null if there is no such task. */
export function threadGroupOf(pid: number): number | null {
  try {
    const m = /^Tgid:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
