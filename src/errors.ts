/** An error a user can act on: a stable code, what failed, why, and what to do. */
export class FaultlineError extends Error {
  readonly code: string;
  readonly detail: string[];

  constructor(code: string, message: string, detail: string[] = []) {
    super(message);
    this.name = 'FaultlineError';
    this.code = code;
    this.detail = detail;
  }
}

/** The Linux errno names faultline's messages mention. */
const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  7: 'E2BIG',
  9: 'EBADF',
  12: 'ENOMEM',
  13: 'EACCES',
  16: 'EBUSY',
  22: 'EINVAL',
  28: 'ENOSPC',
  95: 'EOPNOTSUPP',
  524: 'ENOTSUPP',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[Math.abs(errno)] ?? `errno ${Math.abs(errno)}`;
}
