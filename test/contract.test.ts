/* The TypeScript mirror against bpf/faultline.h itself, compiled here with cc. */
import { ROOT } from './helpers/live.js';
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FAULT_EVENT,
  FAULT_EVENT_FLAG,
  FAULT_EVENT_SIZE,
  LAYOUTS,
  OOM_EVENT,
  PROCESS_FAULTS,
  TASK_COMM_LEN,
  FAULT_TYPES,
  MAP_SIZES,
  OOM_EVENT_SIZE,
  REGIONS,
  RINGBUFS,
  PROCESS_FAULTS_SIZE,
  STALL_HIST_SIZE,
  STALL_HIST,
  STALL_KEY,
  STALL_KEY_SIZE,
  STALL_KINDS,
  STALL_SLOTS,
  encodeStallKey,
  THREAD_RECORD,
  THREAD_RECORD_SIZE,
  TRACE_FIELDS,
  traceFieldBits,
  PF_ERROR,
} from '../src/bpf/contract.js';
import {
  accessOfSlot,
  mergeProcessFaults,
  decodeProcessFaults,
  decodeThreadRecords,
  THREAD_EXITED,
  THREAD_INCOMPLETE,
} from '../src/features/faults/decode.js';
import { tempDir } from './helpers/temp.js';
import { decodeStall } from '../src/features/stalls/decode.js';
import { decodeFaultEvent } from '../src/features/trace/decode.js';
import { decodeOomEvent } from '../src/features/oom/decode.js';

/** A field's C member: the camelCase name in snake_case (timestampNs is timestamp_ns). */
const member = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const header = `${ROOT}bpf/faultline.h`;
/** Each name printed by the compiled program, with what contract.ts says it is. */
const expected = new Map<string, number>([
  ...Object.entries(LAYOUTS).flatMap(([struct, layout]) => [
    [`sizeof(struct ${struct})`, layout.size] as const,
    ...Object.entries(layout.offsets).map(([field, offset]) => [`offsetof(struct ${struct}, ${member(field)})`, offset] as const),
  ]),
  ['sizeof(struct thread_faults)', MAP_SIZES.thread_faults![1]],
  ['sizeof(struct thread_slot)', MAP_SIZES.thread_slots![1]],
  ['sizeof(struct stall_start)', MAP_SIZES.stall_start![1]],
  ['THREAD_INCOMPLETE', THREAD_INCOMPLETE],
  ['THREAD_EXITED', THREAD_EXITED],
  ['REGION_COUNT', REGIONS.length],
  ['REGION_OTHER', REGIONS.indexOf('other')],
  ['FAULT_TYPE_COUNT', FAULT_TYPES.length],
  ['RINGBUF_COUNT', RINGBUFS.length],
  ['FAULT_EVENT_TRACED', FAULT_EVENT_FLAG.traced],
  ['FAULT_EVENT_LIVE', FAULT_EVENT_FLAG.live],
  ['TRACE_FIELD_TIMESTAMP', traceFieldBits(['timestamp'])],
  ['TRACE_FIELD_IP', traceFieldBits(['ip'])],
  ['TRACE_FIELD_CGROUPS', traceFieldBits(['cgroups'])],
  ['TRACE_FIELDS_ALL', traceFieldBits(TRACE_FIELDS)],
  ['STALL_SLOTS', STALL_SLOTS],
  ['STALL_KIND_COUNT', STALL_KINDS.length],
  ['STALL_COMPACTION', STALL_KINDS.indexOf('compaction')],
  ['TASK_COMM_LEN', TASK_COMM_LEN],
  ['PF_PROT', PF_ERROR.present],
  ['PF_WRITE', PF_ERROR.write],
  ['PF_INSTR', PF_ERROR.exec],
]);
const program = `
#include <stdio.h>
#include <stddef.h>
#include <linux/types.h>
#include "${header}"
int main(void) {
${[...expected.keys()].map((expr) => `  printf("%s\\t%zu\\n", ${JSON.stringify(expr)}, (size_t)(${expr}));`).join('\n')}
  return 0;
}
`;

t.test('every layout, size and constant contract.ts declares matches bpf/faultline.h', async (t) => {
  const dir = tempDir(t, 'faultline-contract-');
  writeFileSync(join(dir, 'c.c'), program);
  execFileSync('cc', ['-o', join(dir, 'c'), join(dir, 'c.c')]);
  const compiled = new Map(
    execFileSync(join(dir, 'c'), { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split('\t'))
      .map(([k, v]) => [k!, Number(v)] as const),
  );
  t.equal(compiled.size, expected.size, 'one line per expression');
  for (const [expr, value] of expected) t.equal(compiled.get(expr), value, expr);
  // The fields of each struct, in order, each fitting before the next: no two declared on top of each other.
  for (const [struct, layout] of Object.entries(LAYOUTS)) {
    const offsets = Object.values(layout.offsets);
    t.strictSame(offsets, [...offsets].sort((a, b) => a - b), `struct ${struct}: fields in order`);
    t.ok(offsets.every((o) => o < layout.size), `struct ${struct}: every field inside it`);
  }
});

t.test('decoders', async (t) => {
  // Records built field by field through the declared offsets, every field a different value: a decoder that reads
  // one field for another, or at a literal offset, gives a different object.
  const pf = Buffer.alloc(PROCESS_FAULTS_SIZE);
  pf.writeBigUInt64LE(7n, PROCESS_FAULTS.faults + (REGIONS.indexOf('anon') * 2 + 0) * 8);
  pf.writeBigUInt64LE(3n, PROCESS_FAULTS.faults + (REGIONS.indexOf('file') * 2 + 1) * 8);
  pf.writeBigUInt64LE(99n, PROCESS_FAULTS.exitNs);
  pf.write('demo\0', PROCESS_FAULTS.comm);
  pf.writeBigUInt64LE(7777n, PROCESS_FAULTS.cgroupId);
  pf.writeBigUInt64LE(8888n, PROCESS_FAULTS.memcgId);
  pf.writeBigUInt64LE(42n, PROCESS_FAULTS.pid);
  const rec = decodeProcessFaults(pf);
  t.strictSame(rec, { pid: 42, faults: [[0n, 0n], [0n, 0n], [7n, 0n], [0n, 3n], [0n, 0n]], exitNs: 99n, comm: 'demo', cgroupId: 7777n, memcgId: 8888n });
  const merged = mergeProcessFaults(rec, { ...rec, exitNs: 5n, comm: '' });
  t.equal(merged.faults[2]![0], 14n);
  t.equal(merged.exitNs, 99n);
  t.equal(merged.comm, 'demo');

  const F = FAULT_EVENT;
  const fe = Buffer.alloc(FAULT_EVENT_SIZE);
  fe.writeUInt32LE(1, F.kind); // EVENT_PAGE_FAULT
  fe.writeUInt32LE(5200, F.pid);
  fe.writeUInt32LE(5201, F.tid);
  fe.writeUInt32LE(3, F.cpu);
  fe.writeBigUInt64LE(123456789n, F.timestampNs);
  fe.writeBigUInt64LE(0x7f3a4c000000n, F.address);
  fe.writeBigUInt64LE(0x401000n, F.ip);
  fe.writeBigUInt64LE(0x6n, F.errorCode);
  fe.write('pagefault_demo', F.comm);
  fe.writeUInt32LE(REGIONS.indexOf('stack'), F.region);
  fe.writeBigUInt64LE(77n, F.cgroupId);
  fe.writeBigUInt64LE(78n, F.memcgId);
  fe.writeUInt32LE(FAULT_EVENT_FLAG.live, F.flags);
  t.strictSame(decodeFaultEvent(fe), {
    kind: 'page_fault',
    pid: 5200,
    tid: 5201,
    cpu: 3,
    timestampNs: 123456789n,
    address: 0x7f3a4c000000n,
    ip: 0x401000n,
    errorCode: 0x6n,
    comm: 'pagefault_demo',
    region: 'stack',
    cgroupId: 77n,
    memcgId: 78n,
    traced: false,
    live: true,
  });
  // A whole record whose kind says OOM kill: only the kind check can refuse it.
  const wrongKind = Buffer.from(fe);
  wrongKind.writeUInt32LE(2, F.kind);
  t.equal(decodeFaultEvent(wrongKind), null, 'wrong kind');
  t.equal(decodeFaultEvent(fe.subarray(0, FAULT_EVENT_SIZE - 1)), null, 'one byte short');
  // As the ring reader calls it: the record in place, at an offset of the ring.
  const ring = Buffer.concat([Buffer.alloc(24, 0xff), fe, Buffer.alloc(16, 0xff)]);
  t.strictSame(decodeFaultEvent(ring, 24, fe.length), decodeFaultEvent(fe), 'at an offset: the same event');
  t.equal(decodeFaultEvent(ring, 24, 40), null, 'a record shorter than an event');
  t.equal(decodeFaultEvent(ring, ring.length - 8), null, 'past the end of the ring');

  const O = OOM_EVENT;
  const oe = Buffer.alloc(OOM_EVENT_SIZE);
  oe.writeUInt32LE(2, O.kind); // EVENT_OOM_KILL
  oe.writeUInt32LE(6100, O.pid);
  oe.writeUInt32LE(6102, O.tid);
  oe.writeUInt32LE(1000, O.uid);
  oe.writeUInt32LE(6101, O.triggerPid);
  oe.writeInt32LE(-500, O.oomScoreAdj);
  oe.writeBigUInt64LE(11n, O.timestampNs);
  oe.writeBigUInt64LE(12n, O.totalVmBytes);
  oe.writeBigUInt64LE(13n, O.anonRssBytes);
  oe.writeBigUInt64LE(14n, O.fileRssBytes);
  oe.writeBigUInt64LE(15n, O.shmemRssBytes);
  oe.writeBigUInt64LE(16n, O.pgtablesBytes);
  oe.write('stress-ng', O.comm);
  oe.write('trigger', O.triggerComm);
  oe.writeBigUInt64LE(98n, O.cgroupId);
  oe.writeBigUInt64LE(99n, O.memcgId);
  t.strictSame(decodeOomEvent(oe), {
    kind: 'oom_kill',
    pid: 6100,
    tid: 6102,
    uid: 1000,
    triggerPid: 6101,
    oomScoreAdj: -500,
    timestampNs: 11n,
    totalVmBytes: 12n,
    anonRssBytes: 13n,
    fileRssBytes: 14n,
    shmemRssBytes: 15n,
    pgtablesBytes: 16n,
    comm: 'stress-ng',
    triggerComm: 'trigger',
    cgroupId: 98n,
    memcgId: 99n,
  });
  const notOom = Buffer.from(oe);
  notOom.writeUInt32LE(1, O.kind);
  t.equal(decodeOomEvent(notOom), null, 'a page fault record is not an OOM kill');
  t.equal(decodeOomEvent(oe.subarray(0, OOM_EVENT_SIZE - 1)), null, 'one byte short');
  const oomInRing = Buffer.concat([Buffer.alloc(8, 0xff), oe]);
  t.strictSame(decodeOomEvent(oomInRing, 8, OOM_EVENT_SIZE), decodeOomEvent(oe), 'at an offset: the same kill');
  t.equal(decodeOomEvent(oomInRing, 8, OOM_EVENT_SIZE - 8), null, 'a record shorter than a kill');
});


t.test('stall records', async (t) => {
  const key = encodeStallKey(11n, 22n, 'memcg_reclaim');
  t.equal(key.length, STALL_KEY_SIZE);
  t.equal(key.readBigUInt64LE(STALL_KEY.memcgId), 22n, 'encoded through the declared offsets');
  const value = Buffer.alloc(STALL_HIST_SIZE);
  value.writeBigUInt64LE(4n, STALL_HIST.slots + 20 * 8); // slot 20: [2^20, 2^21) ns
  value.writeBigUInt64LE(4n, STALL_HIST.count);
  value.writeBigUInt64LE(5_000_000n, STALL_HIST.sumNs);
  value.writeBigUInt64LE(96n, STALL_HIST.reclaimedPages);
  // In place, at offsets of a batch of keys and values, as the batch reader calls it.
  const keys = Buffer.concat([Buffer.alloc(STALL_KEY_SIZE), key]);
  const values = Buffer.concat([Buffer.alloc(STALL_HIST_SIZE), value]);
  t.strictSame(decodeStall(keys, STALL_KEY_SIZE, values, STALL_HIST_SIZE), {
    cgroupId: 11n,
    memcgId: 22n,
    kind: 'memcg_reclaim',
    slots: Array.from({ length: STALL_SLOTS }, (_, i) => (i === 20 ? 4n : 0n)),
    count: 4n,
    sumNs: 5_000_000n,
    reclaimedPages: 96n,
  });
  key.writeUInt32LE(STALL_KINDS.length, STALL_KEY.kind);
  t.equal(decodeStall(key, 0, value, 0), null, 'a kind this build does not know');
});


t.test('access slots', async (t) => {
  t.strictSame(accessOfSlot(0), { access: 'read', present: false });
  t.strictSame(accessOfSlot(1), { access: 'read', present: true });
  t.strictSame(accessOfSlot(2), { access: 'write', present: false });
  t.strictSame(accessOfSlot(3), { access: 'write', present: true });
  t.strictSame(accessOfSlot(4), { access: 'exec', present: false });
  t.strictSame(accessOfSlot(5), { access: 'exec', present: true });
});

t.test('thread records decode from the iterator\'s output, a torn tail ignored', async (t) => {
  const buf = Buffer.alloc(THREAD_RECORD_SIZE * 2 + 40);
  const R = THREAD_RECORD;
  buf.writeUInt32LE(4242, R.pid);
  buf.writeUInt32LE(4243, R.tid);
  buf.writeUInt32LE(THREAD_INCOMPLETE, R.flags);
  buf.writeBigUInt64LE(7n, R.faults + (REGIONS.indexOf('anon') * 2 + 0) * 8);
  buf.writeBigUInt64LE(3n, R.faults + (REGIONS.indexOf('file') * 2 + 1) * 8);
  buf.write('worker', R.comm);
  buf.writeBigUInt64LE(11n, R.cgroupId);
  buf.writeBigUInt64LE(12n, R.memcgId);
  buf.writeUInt32LE(9, THREAD_RECORD_SIZE + R.pid);
  const records = decodeThreadRecords(buf);
  t.equal(records.length, 2);
  t.strictSame(records[0], { pid: 4242, tid: 4243, flags: THREAD_INCOMPLETE, faults: [[0n, 0n], [0n, 0n], [7n, 0n], [0n, 3n], [0n, 0n]], comm: 'worker', cgroupId: 11n, memcgId: 12n });
  t.equal(records[1]!.pid, 9);
  t.equal(decodeThreadRecords(Buffer.alloc(THREAD_RECORD_SIZE - 1)).length, 0);
});
