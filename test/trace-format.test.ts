import fc from 'fast-check';
import t from 'tap';
import { FAULT_EVENT, FAULT_EVENT_SIZE, TASK_COMM_LEN } from '../src/bpf/contract.js';
import { decodeFaultEvent, type PageFaultEvent } from '../src/features/trace/decode.js';
import { type OomKillEvent } from '../src/features/oom/decode.js';
import { LineBuffer, formatEvent, formatJson, formatText } from '../src/deliver/trace-format.js';

const fault: PageFaultEvent = {
  kind: 'page_fault',
  pid: 5200,
  tid: 5201,
  cpu: 1,
  timestampNs: 230481567890n,
  address: 0x7f3a4c000000n,
  ip: 0x401000n,
  errorCode: 6n,
  comm: 'pagefault_demo',
  region: 'anon',
  cgroupId: 0n,
  memcgId: 0n,
  traced: true,
  live: false,
};
const kill: OomKillEvent = {
  kind: 'oom_kill',
  pid: 6100,
  tid: 6100,
  uid: 0,
  triggerPid: 6100,
  triggerComm: 'stress-ng',
  oomScoreAdj: 0,
  timestampNs: 230481600000n,
  totalVmBytes: 0n,
  anonRssBytes: 0n,
  fileRssBytes: 0n,
  shmemRssBytes: 0n,
  pgtablesBytes: 0n,
  comm: 'stress-ng',
  cgroupId: 0n,
  memcgId: 0n,
};

t.equal(formatText(fault), '[PAGE_FAULT] pid=5200 address=0x7f3a4c000000 comm=pagefault_demo');
t.equal(formatText(kill), '[OOM_KILL] pid=6100 comm=stress-ng');
t.equal(
  formatJson(fault),
  '{"pid":5200,"event_type":"page_fault","address":"0x7f3a4c000000","timestamp_ns":230481567890,"comm":"pagefault_demo"}',
);
t.equal(formatJson(kill), '{"pid":6100,"event_type":"oom_kill","address":"0x0","timestamp_ns":230481600000,"comm":"stress-ng"}');
t.strictSame(JSON.parse(formatEvent(fault, 'json')).pid, 5200);

t.test('timestamps past 2^53 ns keep every digit', async (t) => {
  const line = formatJson({ ...fault, timestampNs: 18446744073709551615n });
  t.match(line, /"timestamp_ns":18446744073709551615,/);
});

t.test('comms are JSON-escaped', async (t) => {
  const line = formatJson({ ...fault, comm: 'a"b\\c' });
  t.equal(JSON.parse(line).comm, 'a"b\\c');
});

/** A ring record of `event` (struct fault_event) at `offset` of a zeroed buffer, the comm given as raw bytes. */
function record(event: { pid: number; address: bigint }, comm: Buffer, offset = 0): Buffer {
  const ring = Buffer.alloc(offset + FAULT_EVENT_SIZE);
  ring.writeUInt32LE(1, offset + FAULT_EVENT.kind); // EVENT_PAGE_FAULT
  ring.writeUInt32LE(event.pid, offset + FAULT_EVENT.pid);
  ring.writeBigUInt64LE(event.address, offset + FAULT_EVENT.address);
  comm.copy(ring, offset + FAULT_EVENT.comm, 0, TASK_COMM_LEN);
  return ring;
}

t.test('LineBuffer writes the bytes formatText gives, straight from a ring record', async (t) => {
  const cases: Array<[number, bigint, Buffer]> = [
    [5200, 0x7f3a4c000000n, Buffer.from('pagefault_demo')],
    [0, 0n, Buffer.alloc(0)],
    [4294967295, 0xffffffffffffffffn, Buffer.from('0123456789abcdef')], // 16 bytes: no NUL
    [1, 0xffffffffn, Buffer.from([0xff, 0xfe, 0x41])], // invalid UTF-8: U+FFFD, as decodeComm gives
    [42, 0x100000000n, Buffer.from('ä ü')],
    [7, 0x10n, Buffer.from('a\nb')],
  ];
  for (const [pid, address, comm] of cases) {
    const lines = new LineBuffer();
    const ring = record({ pid, address }, comm, 8);
    t.ok(lines.appendFaultText(ring, 8, FAULT_EVENT_SIZE));
    t.equal(Buffer.concat(lines.take()).toString(), formatText(decodeFaultEvent(ring, 8)!) + '\n', `pid ${pid} address ${address}`);
  }
});

t.test('LineBuffer agrees with formatText on any record', async () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.uint8Array({ maxLength: TASK_COMM_LEN }),
      (pid, address, comm) => {
        const lines = new LineBuffer();
        const ring = record({ pid, address }, Buffer.from(comm));
        lines.appendFaultText(ring, 0, FAULT_EVENT_SIZE);
        return Buffer.concat(lines.take()).toString() === formatText(decodeFaultEvent(ring)!) + '\n';
      },
    ),
  );
});

t.test('LineBuffer keeps lines whole and in order across chunks, and skips what is not a fault record', async (t) => {
  const lines = new LineBuffer(128); // a chunk holds one line or two: every few lines start a new one
  const expected: string[] = [];
  for (let i = 0; i < 500; i++) {
    if (i % 7 === 0) {
      const kill = `[OOM_KILL] pid=${i} comm=${'x'.repeat(i % 300)}`; // longer than a chunk at times
      lines.appendLine(kill);
      expected.push(kill);
    }
    const ring = record({ pid: i, address: BigInt(i) << 12n }, Buffer.from(`p${i % 3}`));
    lines.appendFaultText(ring, 0, FAULT_EVENT_SIZE);
    expected.push(`[PAGE_FAULT] pid=${i} address=0x${(BigInt(i) << 12n).toString(16)} comm=p${i % 3}`);
    if (i % 50 === 0) t.equal(lines.length > 0, true);
  }
  t.equal(Buffer.concat(lines.take()).toString(), expected.join('\n') + '\n');
  t.strictSame(lines.take(), [], 'empty after take()');
  t.equal(lines.length, 0);

  const oom = Buffer.alloc(FAULT_EVENT_SIZE);
  oom.writeUInt32LE(2, 0); // EVENT_OOM_KILL in the fault ring: not a fault
  t.notOk(lines.appendFaultText(oom, 0, FAULT_EVENT_SIZE));
  const fault = record({ pid: 1, address: 1n }, Buffer.from('a'));
  t.notOk(lines.appendFaultText(fault, 0, FAULT_EVENT_SIZE - 8), 'a record shorter than a fault_event');
  t.notOk(lines.appendFaultText(fault, 8, FAULT_EVENT_SIZE), 'a record past the end of the ring');
  t.strictSame(lines.take(), []);
});
