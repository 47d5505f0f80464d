/** The stalls map's entries (struct stall_key, struct stall_hist), decoded. */
import { STALL_HIST, STALL_KEY, STALL_KINDS, STALL_SLOTS, type StallKind } from '../../bpf/contract.js';

/** One cgroup's stalls of one kind (struct stall_key + struct stall_hist). All-zero ids: cgroups beyond the map. */
export interface StallRecord {
  readonly cgroupId: bigint;
  readonly memcgId: bigint;
  readonly kind: StallKind;
  /** STALL_SLOTS log2 buckets of nanoseconds. */
  readonly slots: readonly bigint[];
  readonly count: bigint;
  readonly sumNs: bigint;
  /** Pages the reclaim freed (nr_reclaimed); 0 for compaction. */
  readonly reclaimedPages: bigint;
}

/** A stalls map entry; null for a kind this build does not know. */
export function decodeStall(key: Buffer, keyOffset: number, value: Buffer, valueOffset: number): StallRecord | null {
  const kind = STALL_KINDS[key.readUInt32LE(keyOffset + STALL_KEY.kind)];
  if (!kind) return null;
  const slots: bigint[] = [];
  for (let i = 0; i < STALL_SLOTS; i++) slots.push(value.readBigUInt64LE(valueOffset + STALL_HIST.slots + i * 8));
  return {
    cgroupId: key.readBigUInt64LE(keyOffset + STALL_KEY.cgroupId),
    memcgId: key.readBigUInt64LE(keyOffset + STALL_KEY.memcgId),
    kind,
    slots,
    count: value.readBigUInt64LE(valueOffset + STALL_HIST.count),
    sumNs: value.readBigUInt64LE(valueOffset + STALL_HIST.sumNs),
    reclaimedPages: value.readBigUInt64LE(valueOffset + STALL_HIST.reclaimedPages),
  };
}
