// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * What every feature's programs share: the includes, the lost-record counts,
 * per-CPU counting, a compiler barrier and the task's cgroup ids. Included
 * once, by faultline.bpf.c, before the features.
 */
#ifndef FAULTLINE_COMMON_BPF_H
#define FAULTLINE_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "faultline.h"

/*
 * Tests only (test/live-fallback.test.ts builds with -DFAULTLINE_TEST_REFUSE_OOM
 * or _FAULTS): a load from a scalar, which every verifier refuses, in one
 * tp_btf program, as Debian's 6.1 refused mark_victim_btf.
 */
#define REFUSED_BY_VERIFIER() (*(volatile int *)(long)bpf_get_prandom_u32())

/* Records a ring buffer could not reserve, by enum ringbuf_id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RINGBUF_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} lost_records SEC(".maps");

static __always_inline void percpu_inc(void *map, __u32 slot, __u64 n)
{
	__u64 *count = bpf_map_lookup_elem(map, &slot);

	if (count)
		*count += n;
}

/* A compiler barrier: the task iterator on another CPU reads a thread's record between two reads of seq. */
#define barrier() asm volatile("" ::: "memory")

/*
 * The task's cgroup v2 id and its memory controller's cgroup id (kernfs ids,
 * i.e. directory inodes). Direct loads through the task's BTF pointer (every
 * caller has one; the verifier guards each load like a probe read): ~10 ns,
 * against ~300 ns for eight bpf_probe_read_kernel calls, which a traced fault
 * and every thread of a scrape's iterator pay.
 */
static __always_inline void task_cgroups(struct task_struct *task, __u64 *cgroup_id, __u64 *memcg_id)
{
	struct css_set *cgroups = task->cgroups;
	struct cgroup_subsys_state *css;

	*cgroup_id = cgroups->dfl_cgrp->kn->id;
	*memcg_id = 0;
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return;
	css = cgroups->subsys[bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id)];
	if (css)
		*memcg_id = css->cgroup->kn->id;
}

#endif /* FAULTLINE_COMMON_BPF_H */
