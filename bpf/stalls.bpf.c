// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Memory stalls: reclaim and compaction begin/end pairs, per thread, into log2 histograms by cgroup. Part of faultline.bpf.c, which includes it after common.bpf.h. */

/* ---- memory stalls: reclaim and compaction, begin/end pairs keyed by thread ---- */

/* 4096 cgroups per kind; user space folds the entries of removed cgroups and deletes them. */
#define STALL_CGROUPS 4096

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* + one all-zero key per kind, inserted by user space, for cgroups beyond the bound */
	__uint(max_entries, STALL_CGROUPS * STALL_KIND_COUNT + STALL_KIND_COUNT);
	__type(key, struct stall_key);
	__type(value, struct stall_hist);
} stalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stall_start);
} stall_start SEC(".maps");

/* A zero stall_hist to insert from (too large for the BPF stack); never written. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stall_hist);
} stall_zero SEC(".maps");

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
}

static __always_inline void stall_begin(__u32 kind)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct stall_start *start;

	/* kcompactd and kswapd compact and reclaim in the background: no task waits on them. */
	if (task->flags & PF_KTHREAD)
		return;
	start = bpf_task_storage_get(&stall_start, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (start && kind < STALL_KIND_COUNT)
		start->begin_ns[kind] = bpf_ktime_get_ns();
}

static __always_inline void stall_end(__u32 kind, __u64 reclaimed)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct stall_start *start = bpf_task_storage_get(&stall_start, task, 0, 0);
	struct stall_key key = { .kind = kind };
	struct stall_hist *hist, *zero;
	__u32 zero_key = 0, slot;
	__u64 ns;

	if (!start || kind >= STALL_KIND_COUNT || start->begin_ns[kind] == 0)
		return; /* began before faultline attached */
	ns = bpf_ktime_get_ns() - start->begin_ns[kind];
	start->begin_ns[kind] = 0;
	task_cgroups(task, &key.cgroup_id, &key.memcg_id);
	hist = bpf_map_lookup_elem(&stalls, &key);
	if (!hist) {
		zero = bpf_map_lookup_elem(&stall_zero, &zero_key);
		if (zero)
			bpf_map_update_elem(&stalls, &key, zero, BPF_NOEXIST);
		hist = bpf_map_lookup_elem(&stalls, &key);
	}
	if (!hist) {
		/* The map is full: count it for no cgroup rather than not at all. */
		key.cgroup_id = 0;
		key.memcg_id = 0;
		hist = bpf_map_lookup_elem(&stalls, &key);
		if (!hist)
			return;
	}
	slot = log2_u64(ns);
	if (slot >= STALL_SLOTS)
		slot = STALL_SLOTS - 1;
	__sync_fetch_and_add(&hist->slots[slot], 1);
	__sync_fetch_and_add(&hist->count, 1);
	__sync_fetch_and_add(&hist->sum_ns, ns);
	if (reclaimed)
		__sync_fetch_and_add(&hist->reclaimed_pages, reclaimed);
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(direct_reclaim_begin)
{
	stall_begin(STALL_DIRECT_RECLAIM);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(direct_reclaim_end, unsigned long nr_reclaimed)
{
	stall_end(STALL_DIRECT_RECLAIM, nr_reclaimed);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(memcg_reclaim_begin)
{
	stall_begin(STALL_MEMCG_RECLAIM);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(memcg_reclaim_end, unsigned long nr_reclaimed)
{
	stall_end(STALL_MEMCG_RECLAIM, nr_reclaimed);
	return 0;
}

SEC("tp_btf/mm_compaction_begin")
int BPF_PROG(compaction_begin)
{
	stall_begin(STALL_COMPACTION);
	return 0;
}

SEC("tp_btf/mm_compaction_end")
int BPF_PROG(compaction_end)
{
	stall_end(STALL_COMPACTION, 0);
	return 0;
}
