/** OOM kills: counts by victim and cgroup, the latest victims, their RSS. */
import { RSS_BUCKETS, type OomKills } from './oom-kills.js';
import type { Family, Labels } from '../../metrics/family.js';
import { familyList } from '../../metrics/family.js';

/** What the OOM families read of the state. */
export interface OomView {
  readonly oomKills: OomKills;
}

export function oomFamilies(state: OomView): Family[] {
  const { families, counter, gauge, histogram } = familyList();
  counter(
    'faultline_oom_kills_total',
    ['faultline.oom.kills', '{kill}'],
    'OOM kills, by the victim process comm, its memory cgroup (with the container and pod parsed from the path) and the constraint (memcg, global, cpuset, memory_policy; unknown without the kernel log).',
    ['comm', 'cgroup', 'container_id', 'pod_uid', 'constraint'],
    function* () {
      for (const { labels, count } of state.oomKills.counts()) yield [labels as unknown as Labels, count];
    },
  );

  const unixSeconds = (monotonicNs: bigint): number => Date.now() / 1000 - Number(process.hrtime.bigint() - monotonicNs) / 1e9;
  gauge(
    'faultline_oom_victim_info',
    ['faultline.oom.victim.time', 's'],
    'The latest OOM kill victims, one series each: the victim, the task whose allocation triggered the kill, the constraint and the cgroup; the value is the Unix time of the kill.',
    ['pid', 'comm', 'uid', 'oom_score_adj', 'trigger_pid', 'trigger_comm', 'constraint', 'cgroup', 'container_id', 'pod_uid', 'pod', 'namespace', 'container'],
    function* () {
      for (const { kill: k, labels, names } of state.oomKills.recent()) {
        yield [
          {
            pid: k.pid,
            comm: k.comm,
            uid: k.uid,
            oom_score_adj: k.oomScoreAdj,
            trigger_pid: k.triggerPid,
            trigger_comm: k.triggerComm,
            constraint: labels.constraint,
            cgroup: labels.cgroup,
            container_id: labels.container_id,
            pod_uid: labels.pod_uid,
            ...names,
          },
          Math.round(unixSeconds(k.timestampNs) * 1000) / 1000,
        ];
      }
    },
  );
  gauge(
    'faultline_oom_victim_memory_bytes',
    ['faultline.oom.victim.memory', 'By'],
    'Memory of the latest OOM kill victims when they were chosen, by kind (total_vm, anon_rss, file_rss, shmem_rss, pgtables).',
    ['pid', 'comm', 'memory'],
    function* () {
      for (const { kill: k } of state.oomKills.recent()) {
        const base = { pid: k.pid, comm: k.comm };
        yield [{ ...base, memory: 'total_vm' }, Number(k.totalVmBytes)];
        yield [{ ...base, memory: 'anon_rss' }, Number(k.anonRssBytes)];
        yield [{ ...base, memory: 'file_rss' }, Number(k.fileRssBytes)];
        yield [{ ...base, memory: 'shmem_rss' }, Number(k.shmemRssBytes)];
        yield [{ ...base, memory: 'pgtables' }, Number(k.pgtablesBytes)];
      }
    },
  );
  histogram(
    'faultline_oom_victim_rss_bytes',
    ['faultline.oom.victim.rss', 'By'],
    'Resident memory (anon + file + shmem) of OOM kill victims when they were chosen.',
    [],
    function* () {
      const kills = state.oomKills;
      yield { labels: [], bounds: RSS_BUCKETS, cumulative: kills.rssBuckets.slice(0, RSS_BUCKETS.length), count: kills.total, sum: kills.rssSum };
    },
  );

  return families;
}
