/** Reclaim and compaction stalls as the kernel keeps them: the stalls hash, one entry per cgroup and kind. */
import type { BpfMap } from '../../bpf/libbpf.js';
import { encodeStallKey } from '../../bpf/contract.js';
import { decodeStall, type StallRecord } from './decode.js';

/** What the state reads of the stalls (StallMaps reads the kernel's; tests give their own). */
export interface StallReader {
  readStalls(): StallRecord[];
  forgetStalls(records: Iterable<StallRecord>): void;
}

export class StallMaps implements StallReader {
  private readonly stalls: BpfMap;

  constructor(probe: { map(name: string): BpfMap }) {
    this.stalls = probe.map('stalls');
  }

  /** Every cgroup's stall histograms, one batch read. */
  readStalls(): StallRecord[] {
    const { keys, values, count } = this.stalls.lookupAll();
    const out: StallRecord[] = [];
    for (let i = 0; i < count; i++) {
      const record = decodeStall(keys, i * this.stalls.shape.keySize, values, i * this.stalls.valueBytes);
      if (record) out.push(record);
    }
    return out;
  }

  /** Deletes the stall entries of cgroups whose final counts user space has taken. */
  forgetStalls(records: Iterable<StallRecord>): void {
    for (const r of records) this.stalls.delete(encodeStallKey(r.cgroupId, r.memcgId, r.kind));
  }
}
