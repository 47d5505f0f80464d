/* The TypeScript mirror against bpf/faultline.h itself, compiled here with cc. */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FAULT_EVENT,
  FAULT_EVENT_SIZE,
  FAULT_TYPES,
  MAP_SIZES,
  OOM_EVENT_SIZE,
  REGIONS,
  RINGBUFS,
  PROCESS_FAULTS_SIZE,
  STALL_HIST_SIZE,
  STALL_KEY_SIZE,
  STALL_KINDS,
  STALL_SLOTS,
  accessOfSlot,
  decodeStall,
  encodeStallKey,
  mergeProcessFaults,
  decodeFaultEvent,
  decodeOomEvent,
  decodeProcessFaults,
  decodeThreadRecords,
  THREAD_EXITED,
  THREAD_INCOMPLETE,
  THREAD_RECORD_SIZE,
  TRACE_FIELDS,
  traceFieldBits,
} from '../src/bpf/contract.js';

/** FAULT_EVENT's names, as the C header spells them. */
const FAULT_EVENT_FIELDS: Record<keyof typeof FAULT_EVENT, string> = {
  kind: 'kind',
  pid: 'pid',
  tid: 'tid',
  cpu: 'cpu',
  timestampNs: 'timestamp_ns',
  address: 'address',
  ip: 'ip',
  errorCode: 'error_code',
  comm: 'comm',
  region: 'region',
  cgroupId: 'cgroup_id',
  memcgId: 'memcg_id',
};

const header = fileURLToPath(new URL('../bpf/faultline.h', import.meta.url));
const program = `
#include <stdio.h>
#include <stddef.h>
#include <linux/types.h>
#include "${header}"
#define P(name, v) printf("%s %zu\\n", name, (size_t)(v))
int main(void) {
  P("process_faults", sizeof(struct process_faults));
  P("thread_faults", sizeof(struct thread_faults));
  P("thread_slot", sizeof(struct thread_slot));
  P("thread_record", sizeof(struct thread_record));
  P("tr.flags", offsetof(struct thread_record, flags));
  P("tr.faults", offsetof(struct thread_record, faults));
  P("tr.comm", offsetof(struct thread_record, comm));
  P("tr.cgroup_id", offsetof(struct thread_record, cgroup_id));
  P("tr.memcg_id", offsetof(struct thread_record, memcg_id));
  P("THREAD_INCOMPLETE", THREAD_INCOMPLETE);
  P("THREAD_EXITED", THREAD_EXITED);
  P("fault_event", sizeof(struct fault_event));
  P("oom_event", sizeof(struct oom_event));
  P("REGION_COUNT", REGION_COUNT);
  P("FAULT_TYPE_COUNT", FAULT_TYPE_COUNT);
  P("RINGBUF_COUNT", RINGBUF_COUNT);
  P("TRACE_FIELD_TIMESTAMP", TRACE_FIELD_TIMESTAMP);
  P("TRACE_FIELD_IP", TRACE_FIELD_IP);
  P("TRACE_FIELD_CGROUPS", TRACE_FIELD_CGROUPS);
  P("TRACE_FIELDS_ALL", TRACE_FIELDS_ALL);
  P("REGION_OTHER", REGION_OTHER);
  P("pf.exit_ns", offsetof(struct process_faults, exit_ns));
  P("pf.comm", offsetof(struct process_faults, comm));
  P("pf.cgroup_id", offsetof(struct process_faults, cgroup_id));
  P("pf.pid", offsetof(struct process_faults, pid));
  P("oe.cgroup_id", offsetof(struct oom_event, cgroup_id));
${Object.entries(FAULT_EVENT_FIELDS)
  .map(([name, field]) => `  P("fe.${name}", offsetof(struct fault_event, ${field}));`)
  .join('\n')}
  P("oe.timestamp_ns", offsetof(struct oom_event, timestamp_ns));
  P("oe.pgtables_bytes", offsetof(struct oom_event, pgtables_bytes));
  P("oe.comm", offsetof(struct oom_event, comm));
  P("oe.trigger_comm", offsetof(struct oom_event, trigger_comm));
  P("stall_key", sizeof(struct stall_key));
  P("sk.kind", offsetof(struct stall_key, kind));
  P("stall_hist", sizeof(struct stall_hist));
  P("sh.count", offsetof(struct stall_hist, count));
  P("sh.reclaimed_pages", offsetof(struct stall_hist, reclaimed_pages));
  P("stall_start", sizeof(struct stall_start));
  P("STALL_SLOTS", STALL_SLOTS);
  P("STALL_KIND_COUNT", STALL_KIND_COUNT);
  P("STALL_COMPACTION", STALL_COMPACTION);
  return 0;
}
`;

t.test('layouts match bpf/faultline.h', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-contract-'));
  writeFileSync(join(dir, 'c.c'), program);
  execFileSync('cc', ['-o', join(dir, 'c'), join(dir, 'c.c')]);
  const c = Object.fromEntries(
    execFileSync(join(dir, 'c'), { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k, Number(v)]),
  );
  t.equal(c.process_faults, MAP_SIZES.process_faults![1]);
  t.equal(c.thread_faults, MAP_SIZES.thread_faults![1]);
  t.equal(c.thread_slot, MAP_SIZES.thread_slots![1]);
  t.equal(c.thread_record, THREAD_RECORD_SIZE);
  t.equal(c['tr.flags'], 8);
  t.equal(c['tr.faults'], 16);
  t.equal(c['tr.comm'], 96);
  t.equal(c['tr.cgroup_id'], 112);
  t.equal(c['tr.memcg_id'], 120);
  t.equal(c.THREAD_INCOMPLETE, THREAD_INCOMPLETE);
  t.equal(c.THREAD_EXITED, THREAD_EXITED);
  t.equal(c.fault_event, FAULT_EVENT_SIZE);
  t.equal(c.oom_event, OOM_EVENT_SIZE);
  t.equal(c.REGION_COUNT, REGIONS.length);
  t.equal(c.REGION_OTHER, REGIONS.indexOf('other'));
  t.equal(c.FAULT_TYPE_COUNT, FAULT_TYPES.length);
  t.equal(c.RINGBUF_COUNT, RINGBUFS.length);
  t.equal(c.TRACE_FIELD_TIMESTAMP, traceFieldBits(['timestamp']));
  t.equal(c.TRACE_FIELD_IP, traceFieldBits(['ip']));
  t.equal(c.TRACE_FIELD_CGROUPS, traceFieldBits(['cgroups']));
  t.equal(c.TRACE_FIELDS_ALL, traceFieldBits(TRACE_FIELDS), 'every field');
  t.equal(c['pf.exit_ns'], 80);
  t.equal(c['pf.comm'], 88);
  t.equal(c['pf.cgroup_id'], 104);
  t.equal(c['pf.pid'], 120, 'pid is the last field');
  t.equal(c['oe.cgroup_id'], 104);
  t.equal(c.process_faults, PROCESS_FAULTS_SIZE);
  for (const [name, offset] of Object.entries(FAULT_EVENT)) t.equal(c[`fe.${name}`], offset, `fault_event.${FAULT_EVENT_FIELDS[name as keyof typeof FAULT_EVENT]}`);
  t.equal(c['oe.timestamp_ns'], 24);
  t.equal(c['oe.pgtables_bytes'], 64);
  t.equal(c['oe.comm'], 72);
  t.equal(c['oe.trigger_comm'], 88);
  t.equal(c.stall_key, STALL_KEY_SIZE);
  t.equal(c['sk.kind'], 16);
  t.equal(c.stall_hist, STALL_HIST_SIZE);
  t.equal(c['sh.count'], STALL_SLOTS * 8);
  t.equal(c['sh.reclaimed_pages'], STALL_SLOTS * 8 + 16);
  t.equal(c.stall_start, MAP_SIZES.stall_start![1]);
  t.equal(c.STALL_SLOTS, STALL_SLOTS);
  t.equal(c.STALL_KIND_COUNT, STALL_KINDS.length);
  t.equal(c.STALL_COMPACTION, STALL_KINDS.indexOf('compaction'));
});

t.test('decoders', async (t) => {
  const pf = Buffer.alloc(128);
  pf.writeBigUInt64LE(7n, (2 * 2 + 0) * 8); // anon minor
  pf.writeBigUInt64LE(3n, (3 * 2 + 1) * 8); // file major
  pf.writeBigUInt64LE(99n, 80);
  pf.write('demo\0', 88);
  pf.writeBigUInt64LE(42n, 120);
  pf.writeBigUInt64LE(7777n, 104);
  const rec = decodeProcessFaults(pf);
  t.equal(rec.pid, 42);
  t.equal(rec.cgroupId, 7777n);
  t.equal(rec.faults[2]![0], 7n);
  t.equal(rec.faults[3]![1], 3n);
  t.equal(rec.exitNs, 99n);
  t.equal(rec.comm, 'demo');
  const merged = mergeProcessFaults(rec, { ...rec, exitNs: 5n, comm: '' });
  t.equal(merged.faults[2]![0], 14n);
  t.equal(merged.exitNs, 99n);
  t.equal(merged.comm, 'demo');

  const fe = Buffer.alloc(FAULT_EVENT_SIZE);
  fe.writeUInt32LE(1, 64); // stack
  fe.writeBigUInt64LE(77n, 72);
  fe.writeBigUInt64LE(78n, 80);
  fe.writeUInt32LE(1, 0);
  fe.writeUInt32LE(5200, 4);
  fe.writeBigUInt64LE(0x7f3a4c000000n, 24);
  fe.write('pagefault_demo', 48);
  t.match(decodeFaultEvent(fe), { kind: 'page_fault', pid: 5200, address: 0x7f3a4c000000n, comm: 'pagefault_demo', region: 'stack', cgroupId: 77n, memcgId: 78n });
  // A whole record whose kind says OOM kill: only the kind check can refuse it.
  const wrongKind = Buffer.from(fe);
  wrongKind.writeUInt32LE(2, 0);
  t.equal(decodeFaultEvent(wrongKind), null, 'wrong kind');
  t.equal(decodeFaultEvent(fe.subarray(0, FAULT_EVENT_SIZE - 1)), null, 'one byte short');
  // As the ring reader calls it: the record in place, at an offset of the ring.
  const ring = Buffer.concat([Buffer.alloc(24, 0xff), fe, Buffer.alloc(16, 0xff)]);
  t.strictSame(decodeFaultEvent(ring, 24, fe.length), decodeFaultEvent(fe), 'at an offset: the same event');
  t.equal(decodeFaultEvent(ring, 24, 40), null, 'a record shorter than an event');
  t.equal(decodeFaultEvent(ring, ring.length - 8), null, 'past the end of the ring');

  const oe = Buffer.alloc(120);
  oe.writeBigUInt64LE(99n, 112);
  oe.writeUInt32LE(2, 0);
  oe.writeUInt32LE(6100, 4);
  oe.writeInt32LE(-500, 20);
  oe.write('stress-ng', 72);
  oe.write('trigger', 88);
  t.match(decodeOomEvent(oe), { kind: 'oom_kill', pid: 6100, oomScoreAdj: -500, comm: 'stress-ng', triggerComm: 'trigger', memcgId: 99n });
  t.equal(oe.length, OOM_EVENT_SIZE);
  const notOom = Buffer.from(oe);
  notOom.writeUInt32LE(1, 0);
  t.equal(decodeOomEvent(notOom), null, 'a page fault record is not an OOM kill');
  t.equal(decodeOomEvent(oe.subarray(0, OOM_EVENT_SIZE - 1)), null, 'one byte short');
  const oomInRing = Buffer.concat([Buffer.alloc(8, 0xff), oe]);
  t.strictSame(decodeOomEvent(oomInRing, 8, OOM_EVENT_SIZE), decodeOomEvent(oe), 'at an offset: the same kill');
  t.equal(decodeOomEvent(oomInRing, 8, OOM_EVENT_SIZE - 8), null, 'a record shorter than a kill');
});

t.test('stall records', async (t) => {
  const key = encodeStallKey(11n, 22n, 'memcg_reclaim');
  const value = Buffer.alloc(STALL_HIST_SIZE);
  value.writeBigUInt64LE(4n, 20 * 8); // slot 20: [2^20, 2^21) ns
  value.writeBigUInt64LE(4n, STALL_SLOTS * 8);
  value.writeBigUInt64LE(5_000_000n, STALL_SLOTS * 8 + 8);
  value.writeBigUInt64LE(96n, STALL_SLOTS * 8 + 16);
  const rec = decodeStall(key, 0, value, 0)!;
  t.match(rec, { cgroupId: 11n, memcgId: 22n, kind: 'memcg_reclaim', count: 4n, sumNs: 5_000_000n, reclaimedPages: 96n });
  t.equal(rec.slots.length, STALL_SLOTS);
  t.equal(rec.slots[20], 4n);
  key.writeUInt32LE(STALL_KINDS.length, 16);
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
  buf.writeUInt32LE(4242, 0);
  buf.writeUInt32LE(4243, 4);
  buf.writeUInt32LE(THREAD_INCOMPLETE, 8);
  buf.writeBigUInt64LE(7n, 16 + (2 * 2 + 0) * 8); // anon, minor
  buf.writeBigUInt64LE(3n, 16 + (3 * 2 + 1) * 8); // file, major
  buf.write('worker', 96);
  buf.writeBigUInt64LE(11n, 112);
  buf.writeBigUInt64LE(12n, 120);
  buf.writeUInt32LE(9, THREAD_RECORD_SIZE);
  const records = decodeThreadRecords(buf);
  t.equal(records.length, 2);
  t.match(records[0], { pid: 4242, tid: 4243, flags: THREAD_INCOMPLETE, comm: 'worker', cgroupId: 11n, memcgId: 12n });
  t.strictSame(records[0]!.faults, [[0n, 0n], [0n, 0n], [7n, 0n], [0n, 3n], [0n, 0n]]);
  t.equal(records[1]!.pid, 9);
  t.equal(decodeThreadRecords(Buffer.alloc(THREAD_RECORD_SIZE - 1)).length, 0);
});
