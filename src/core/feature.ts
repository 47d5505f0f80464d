/**
 * A feature of faultline, as the core sees it: its collector switch, its
 * metric families and its lines in `faultline check`. Each feature lives in
 * src/features/<feature>/ (its kernel program in bpf/<feature>.bpf.c, its
 * decoder, reader, state, families and this declaration) and is registered
 * by one line in src/core/features.ts, the way node_exporter registers
 * collectors.
 */
import type { Family } from '../metrics/family.js';
import type { TracepointMode } from '../bpf/probe.js';

/** The parts of serve that cost something, each switched by --[no-]collector.NAME (node_exporter style). */
export const COLLECTORS = ['fault-detail', 'processes', 'oom', 'stalls', 'headroom', 'oom-eta'] as const;
export type CollectorName = (typeof COLLECTORS)[number];

/** What a feature's `faultline check` line can use. */
export interface CheckContext {
  /** The compiled kernel programs (--bpf.object). */
  readonly objectPath: string;
  /** The page-fault ring's size (--bpf.fault-ring-bytes), when given. */
  readonly faultRingBytes: number | undefined;
  /** 'auto' where the tp_btf programs attach, else 'classic'. */
  readonly tracepoints: TracepointMode;
  /** What serve attaches with the fault counting on (loaded once per check, then detached): attach points, "xN" for N links. */
  attached(): readonly string[];
}

/** One line of `faultline check`: ok with what works, else FAIL (required) or warn with why. */
export interface CheckLine {
  readonly label: string;
  /** Whether faultline cannot serve without it (FAIL) or serves with less (warn). */
  readonly required: boolean;
  /** What works, in one line; throws with what does not and what to do. */
  readonly run: (ctx: CheckContext) => string;
}

/**
 * `View` is what the feature's families read of the state: declared by the
 * feature, so that it names what it needs and nothing more (the core's
 * FaultlineState provides every view).
 */
export interface Feature<View> {
  readonly name: string;
  /** The --[no-]collector.NAME that switches the feature off, or null when it is always on. */
  readonly collector: CollectorName | null;
  /** Its metric families, each computed from the state when read. */
  readonly families?: (state: View) => Family[];
  readonly checks?: readonly CheckLine[];
}
