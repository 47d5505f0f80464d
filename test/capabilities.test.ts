import t from 'tap';
import {
  CAP,
  bit,
  capabilitiesToKeep,
  capabilityNames,
  capabilityNumbers,
  checkInheritedFds,
  formatInheritedFds,
  parseCredentials,
  parseInheritedFds,
  planDrop,
  type Credentials,
} from '../src/cli/capabilities.js';

const STATUS = `Name:\tnode
Umask:\t0022
State:\tS (sleeping)
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
CapInh:\t0000000000000000
CapPrm:\t000001ffffffffff
CapEff:\t000001ffffffffff
CapBnd:\t000001ffffffffff
CapAmb:\t0000000000000000
NoNewPrivs:\t0
Seccomp:\t0
`;
const ALL = 0x1ffffffffffn;
const BPF_PERFMON = bit(CAP.BPF) | bit(CAP.PERFMON);
const ctx = { port: 10190, unprivilegedPortStart: 1024, tracefsNeedsCapability: false, perfEventsNeedSysAdmin: false };

t.test('credentials from /proc status', async (t) => {
  const root = parseCredentials(STATUS);
  t.strictSame(root.uids, [0, 0, 0, 0]);
  t.equal(root.effective, ALL);
  t.equal(root.ambient, 0n);
  t.equal(root.noNewPrivs, false);
  t.equal(parseCredentials(STATUS.replace(/CapAmb.*\n/, '')).ambient, 0n, 'no CapAmb line (Linux < 4.3): none');
  t.throws(() => parseCredentials(STATUS.replace(/CapEff.*\n/, '')), { code: 'PROC_FORMAT', message: /no CapEff line/ });
  t.throws(() => parseCredentials(STATUS.replace('CapEff:\t000001ffffffffff', 'CapEff:\t' + 'f'.repeat(17))), { message: /not a capability mask/ });
  t.throws(() => parseCredentials(STATUS.replace('Uid:\t0\t0\t0\t0', 'Uid:\t0\t0')), { message: /not four uids/ });
  t.throws(() => parseCredentials(STATUS.replace('Uid:\t0\t0\t0\t0', 'Uid:\t0\t0\t0\t4294967296')), { message: /not four uids/ });
  t.equal(capabilityNames(BPF_PERFMON), 'cap_perfmon,cap_bpf');
  t.equal(capabilityNames(0n), 'none');
  t.strictSame(capabilityNumbers(BPF_PERFMON | bit(2)), [2, 38, 39]);
});

const creds = (over: Partial<Credentials>): Credentials => ({ ...parseCredentials(STATUS), ...over });

t.test('what it keeps', async (t) => {
  const root = creds({});
  t.equal(capabilitiesToKeep(root, ctx), BPF_PERFMON, 'CAP_BPF and CAP_PERFMON, for as long as it runs');
  t.equal(capabilitiesToKeep(root, { ...ctx, port: 443 }), BPF_PERFMON | bit(CAP.NET_BIND_SERVICE), 'a privileged port keeps CAP_NET_BIND_SERVICE');
  t.equal(capabilitiesToKeep(root, { ...ctx, port: 0 }), BPF_PERFMON, 'port 0 binds anywhere');
  t.equal(capabilitiesToKeep(root, { ...ctx, port: 80, unprivilegedPortStart: 0 }), BPF_PERFMON, 'net.ipv4.ip_unprivileged_port_start=0');
  t.equal(capabilitiesToKeep(root, { ...ctx, tracefsNeedsCapability: true }), BPF_PERFMON | bit(CAP.DAC_READ_SEARCH), 'tracefs out of reach');
  t.equal(
    capabilitiesToKeep(root, { ...ctx, perfEventsNeedSysAdmin: true }),
    BPF_PERFMON | bit(CAP.SYS_ADMIN),
    'kernel.perf_event_paranoid=3 on Debian\'s kernels: perf events need CAP_SYS_ADMIN',
  );
  const sysAdminOnly = creds({ effective: bit(CAP.SYS_ADMIN), permitted: bit(CAP.SYS_ADMIN) });
  t.equal(capabilitiesToKeep(sysAdminOnly, ctx), bit(CAP.SYS_ADMIN), 'without CAP_BPF and CAP_PERFMON, CAP_SYS_ADMIN loads BPF');
  t.equal(capabilitiesToKeep(creds({ effective: bit(CAP.BPF) | bit(CAP.PERFMON) }), { ...ctx, tracefsNeedsCapability: true }), BPF_PERFMON, 'never more than it has');
});

t.test('the plan', async (t) => {
  t.strictSame(planDrop(creds({}), BPF_PERFMON), { action: 'exec', keep: BPF_PERFMON, dropBounding: ALL & ~BPF_PERFMON, noRoot: true }, 'root: bounding set and SECBIT_NOROOT too');
  const chart = creds({ effective: BPF_PERFMON | bit(34), permitted: BPF_PERFMON | bit(34), bounding: BPF_PERFMON | bit(34), noNewPrivs: true });
  t.strictSame(planDrop(chart, BPF_PERFMON), { action: 'exec', keep: BPF_PERFMON, dropBounding: 0n, noRoot: false }, 'uid 0 without CAP_SETPCAP: no_new_privs does it');
  const user = creds({ uids: [65534, 65534, 65534, 65534], inheritable: ALL, permitted: BPF_PERFMON | bit(21), effective: BPF_PERFMON | bit(21), ambient: BPF_PERFMON | bit(21) });
  t.strictSame(planDrop(user, BPF_PERFMON), { action: 'exec', keep: BPF_PERFMON, dropBounding: 0n, noRoot: false }, 'a dedicated user: ambient capabilities');
  const done = creds({ inheritable: BPF_PERFMON, permitted: BPF_PERFMON, effective: BPF_PERFMON, ambient: BPF_PERFMON, noNewPrivs: true });
  t.strictSame(planDrop(done, BPF_PERFMON), { action: 'none' }, 'nothing to drop, no_new_privs set');
  t.equal(planDrop({ ...done, noNewPrivs: false }, BPF_PERFMON).action, 'exec', 'no_new_privs not set yet');
  t.equal(planDrop({ ...done, inheritable: ALL }, BPF_PERFMON).action, 'exec', 'an inheritable capability is one more to drop');
});

t.test('descriptors passed from one image to the next', async (t) => {
  t.strictSame(parseInheritedFds(''), {}, 'none');
  t.strictSame(parseInheritedFds(formatInheritedFds({ kmsg: 5, 'bpf-stats': 6 })), { kmsg: 5, 'bpf-stats': 6 });
  for (const [bad, why] of [
    ['kmsg', /not NAME=FD/],
    ['kmsg=2', /out of range/],
    ['kmsg=70000', /out of range/],
    ['kmsg=5,kmsg=6', /given twice/],
    ['shadow=5', /unknown descriptor/],
    ['kmsg=5,', /not NAME=FD/],
    ['x'.repeat(300), /too long/],
  ] as const) {
    t.throws(() => parseInheritedFds(bad), { code: 'BAD_ENVIRONMENT', message: why }, bad.slice(0, 20));
  }
  t.throws(() => parseInheritedFds('kmsg=1x'), { message: /FAULTLINE_INHERITED_FDS=.*unset it$/ }, 'the error says what to do');
  const targets: Record<number, string> = { 5: '/dev/kmsg', 6: 'anon_inode:bpf-stats', 7: '/etc/shadow' };
  const read = (fd: number): string | null => targets[fd] ?? null;
  t.strictSame(checkInheritedFds({ kmsg: 5, 'bpf-stats': 6 }, read), { kmsg: 5, 'bpf-stats': 6 });
  t.throws(() => checkInheritedFds({ kmsg: 7 }, read), { message: /descriptor 7 is "\/etc\/shadow", not \/dev\/kmsg/ });
  t.throws(() => checkInheritedFds({ 'bpf-stats': 9 }, read), { message: /descriptor 9 is not open/ });
});
