/**
 * The kernel's OOM report line, as /dev/kmsg gives it:
 *   6,1234,4397085025,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,
 *   mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=workload,pid=3365,uid=0
 * The constraint (memcg, global, cpuset, memory policy) is only there. Pure.
 */

export const OOM_CONSTRAINTS = ['memcg', 'global', 'cpuset', 'memory_policy', 'unknown'] as const;
export type OomConstraint = (typeof OOM_CONSTRAINTS)[number];

export interface OomReport {
  readonly pid: number;
  readonly constraint: OomConstraint;
  /** The memory cgroup whose limit was hit (memcg OOMs). */
  readonly oomMemcg: string;
  readonly taskMemcg: string;
}

const CONSTRAINTS: Record<string, OomConstraint> = {
  CONSTRAINT_NONE: 'global',
  CONSTRAINT_MEMCG: 'memcg',
  CONSTRAINT_CPUSET: 'cpuset',
  CONSTRAINT_MEMORY_POLICY: 'memory_policy',
};

/** Parses one /dev/kmsg record (or a dmesg line); null unless it is an oom-kill report. */
export function parseOomReport(record: string): OomReport | null {
  const at = record.indexOf('oom-kill:');
  if (at < 0) return null;
  const fields = new Map<string, string>();
  // Values such as cpuset paths may hold commas only inside task_memcg/oom_memcg; split on ",key=".
  for (const m of record.slice(at + 'oom-kill:'.length).trim().matchAll(/(?:^|,)([a-z_]+)=(.*?)(?=,[a-z_]+=|$)/g)) {
    fields.set(m[1]!, m[2]!);
  }
  const pid = Number(fields.get('pid'));
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return {
    pid,
    constraint: CONSTRAINTS[fields.get('constraint') ?? ''] ?? 'unknown',
    oomMemcg: fields.get('oom_memcg') ?? '',
    taskMemcg: fields.get('task_memcg') ?? '',
  };
}
