// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* OOM kills: oom/mark_victim, one ring-buffer record per kill, and the victim's context kept at its SIGKILL. Part of faultline.bpf.c, which includes it after common.bpf.h. */

const volatile __s32 mv_pid_off = -1;
const volatile __s32 mv_comm_off = -1; /* __data_loc */
const volatile __s32 mv_total_vm_off = -1; /* the classic fields are in kB */
const volatile __s32 mv_anon_rss_off = -1;
const volatile __s32 mv_file_rss_off = -1;
const volatile __s32 mv_shmem_rss_off = -1;
const volatile __s32 mv_uid_off = -1;
const volatile __s32 mv_pgtables_off = -1;
const volatile __s32 mv_oom_score_adj_off = -1;

/* 256 KiB: ~2000 OOM records; kills come one at a time. */
#define OOM_EVENTS_BYTES (256 << 10)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, OOM_EVENTS_BYTES);
} oom_events SEC(".maps");

/* ---- oom/mark_victim ---- */

static __always_inline struct oom_event *oom_reserve(void)
{
	struct oom_event *e = bpf_ringbuf_reserve(&oom_events, sizeof(*e), 0);
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!e) {
		percpu_inc(&lost_records, RINGBUF_OOM_EVENTS, 1);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = EVENT_OOM_KILL;
	e->timestamp_ns = bpf_ktime_get_ns();
	/* mark_victim runs in the task whose allocation triggered the OOM. */
	e->trigger_pid = pid_tgid >> 32;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
	return e;
}

/* mm->rss_stat before 6.2: one struct of atomic counters (per-CPU counters since). */
struct mm_rss_stat___atomic {
	atomic_long_t count[NR_MM_COUNTERS];
} __attribute__((preserve_access_index));
struct mm_struct___atomic_rss {
	struct mm_rss_stat___atomic rss_stat;
} __attribute__((preserve_access_index));

/* Bytes of one rss counter (MM_FILEPAGES, ...): the read of the tracepoint's get_mm_counter(), negatives as 0. */
static __always_inline __u64 mm_rss_bytes(struct mm_struct *mm, int member)
{
	struct mm_struct___atomic_rss *atomic_rss = (void *)mm;
	__s64 pages;

	/* A probe read: 6.1's verifier cannot walk a direct load into an array of atomic_long_t. */
	if (bpf_core_type_exists(struct mm_rss_stat___atomic))
		pages = BPF_CORE_READ(atomic_rss, rss_stat.count[member].counter);
	else
		pages = mm->rss_stat[member].count;
	return pages > 0 ? pages * page_size : 0;
}

/* The victim's context from its task_struct, as the typed tracepoint and its own record read it. */
static __always_inline void victim_from_task(struct oom_event *e, struct task_struct *task)
{
	struct mm_struct *mm = task->mm;

	e->pid = task->tgid;
	e->tid = task->pid;
	e->oom_score_adj = task->signal->oom_score_adj;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), task->comm);
	if (mm) {
		/* The same approximate reads as the tracepoint's get_mm_counter(). */
		e->total_vm_bytes = mm->total_vm * page_size;
		e->file_rss_bytes = mm_rss_bytes(mm, MM_FILEPAGES);
		e->anon_rss_bytes = mm_rss_bytes(mm, MM_ANONPAGES);
		e->shmem_rss_bytes = mm_rss_bytes(mm, MM_SHMEMPAGES);
		e->pgtables_bytes = mm->pgtables_bytes.counter;
	}
	task_cgroups(task, &e->cgroup_id, &e->memcg_id);
}

/* The victim's task_struct: Linux >= 6.8, and stable kernels that took the change (Debian's 6.1). */
SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim_btf, struct task_struct *task, uid_t uid)
{
	struct oom_event *e = oom_reserve();

#ifdef FAULTLINE_TEST_REFUSE_OOM
	REFUSED_BY_VERIFIER();
#endif
	if (!e)
		return 0;
	victim_from_task(e, task);
	e->uid = uid;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * Where mark_victim_btf cannot run (a kernel whose mark_victim passes only a
 * pid, before 6.8), the victim's task is still seen once: __oom_kill_process
 * sends it SIGKILL (SEND_SIG_PRIV) from the killing task just before
 * mark_oom_victim(), on every kernel since 4.x. This keeps the victim's
 * context by the killing thread for mark_victim_tp, which takes it when the
 * pids match. Loaded only with mark_victim_tp; one compare for other signals.
 */
#define SIGKILL 9
#define SEND_SIG_PRIV 1UL

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);                 /* the killing thread */
	__type(value, struct oom_event);    /* the victim's context, without trigger and timestamp */
} oom_signalled SEC(".maps");

SEC("tp_btf/signal_generate")
int BPF_PROG(oom_victim_signal, int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result)
{
	struct oom_event e = {};
	__u32 killer;

	if (sig != SIGKILL || (unsigned long)info != SEND_SIG_PRIV)
		return 0;
	killer = (__u32)bpf_get_current_pid_tgid();
	victim_from_task(&e, task);
	e.uid = BPF_CORE_READ(task, real_cred, uid.val);
	bpf_map_update_elem(&oom_signalled, &killer, &e, BPF_ANY);
	return 0;
}

SEC("tracepoint/oom/mark_victim")
int mark_victim_tp(void *ctx)
{
	struct oom_event *e = oom_reserve();
	struct oom_event *seen;
	__u32 loc, killer;

	if (!e)
		return 0;
	e->pid = tp_field(ctx, mv_pid_off, 4);
	e->tid = e->pid;
	/* The victim as signalled a moment ago by this thread (oom_victim_signal): its process, comm, cgroups and the rest. */
	killer = (__u32)bpf_get_current_pid_tgid();
	seen = bpf_map_lookup_elem(&oom_signalled, &killer);
	if (seen && seen->tid == e->tid) {
		e->pid = seen->pid;
		e->uid = seen->uid;
		e->oom_score_adj = seen->oom_score_adj;
		e->total_vm_bytes = seen->total_vm_bytes;
		e->anon_rss_bytes = seen->anon_rss_bytes;
		e->file_rss_bytes = seen->file_rss_bytes;
		e->shmem_rss_bytes = seen->shmem_rss_bytes;
		e->pgtables_bytes = seen->pgtables_bytes;
		__builtin_memcpy(e->comm, seen->comm, sizeof(e->comm));
		e->cgroup_id = seen->cgroup_id;
		e->memcg_id = seen->memcg_id;
	}
	if (seen)
		bpf_map_delete_elem(&oom_signalled, &killer);
	/* The tracepoint's own fields where this kernel's format has them (>= 6.8, or a backport). */
	if (mv_uid_off >= 0)
		e->uid = tp_field(ctx, mv_uid_off, 4);
	if (mv_oom_score_adj_off >= 0)
		e->oom_score_adj = (__s16)tp_field(ctx, mv_oom_score_adj_off, 2);
	if (mv_total_vm_off >= 0) {
		e->total_vm_bytes = tp_field(ctx, mv_total_vm_off, 8) << 10;
		e->anon_rss_bytes = tp_field(ctx, mv_anon_rss_off, 8) << 10;
		e->file_rss_bytes = tp_field(ctx, mv_file_rss_off, 8) << 10;
		e->shmem_rss_bytes = tp_field(ctx, mv_shmem_rss_off, 8) << 10;
		e->pgtables_bytes = tp_field(ctx, mv_pgtables_off, 8) << 10;
	}
	if (mv_comm_off >= 0) {
		/* __data_loc: offset of the string in the record (low 16 bits), its length (high). */
		loc = tp_field(ctx, mv_comm_off, 4);
		bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), ctx + (loc & 0xffff));
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}
