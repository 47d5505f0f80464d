import t from 'tap';
import type { OomKillEvent, PageFaultEvent } from '../src/bpf/contract.js';
import { formatEvent, formatJson, formatText } from '../src/deliver/trace-format.js';

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
t.same(JSON.parse(formatEvent(fault, 'json')).pid, 5200);

t.test('timestamps past 2^53 ns keep every digit', async (t) => {
  const line = formatJson({ ...fault, timestampNs: 18446744073709551615n });
  t.match(line, /"timestamp_ns":18446744073709551615,/);
});

t.test('comms are JSON-escaped', async (t) => {
  const line = formatJson({ ...fault, comm: 'a"b\\c' });
  t.equal(JSON.parse(line).comm, 'a"b\\c');
});
