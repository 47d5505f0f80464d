// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * faultline's kernel programs.
 *
 * Counts (no program per fault): the kernel already counts every fault of a
 * thread in task->min_flt/maj_flt (what getrusage() and /proc report). The
 * task iterator read_threads reads them for every live thread when user space
 * refreshes, and settle_exiting_thread adds each thread's final counts to its
 * process's record (process_slots, or process_faults when the slot is taken)
 * as the thread exits. Totals are therefore the kernel's own numbers.
 *
 * Detail (one program per fault entry, --collector.fault-detail): at fault
 * entry (exceptions/page_fault_user and page_fault_kernel on x86, or the
 * software perf event page-faults anywhere) the thread's previous fault is
 * settled against its counters and the new one's region is decided; the x86
 * error code gives the access type. Major faults also run count_major_fault,
 * three instructions, so that the settled fault is typed exactly. Raw events
 * for `trace` and the event log leave through a ring buffer from the entry
 * hook, filtered by pid, comm and cgroup (1 in N).
 *
 * OOM kills: oom/mark_victim, one ring-buffer record per kill.
 *
 * Memory stalls: the begin/end tracepoints of direct reclaim, memcg reclaim
 * and compaction, paired per thread (task storage), into log2 histograms of
 * nanoseconds by the stalled task's cgroups and the kind of stall.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "faultline.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Tests only (test/live-fallback.test.ts builds with -DFAULTLINE_TEST_REFUSE_OOM
 * or _FAULTS): a load from a scalar, which every verifier refuses, in one
 * tp_btf program, as Debian's 6.1 refused mark_victim_btf.
 */
#define REFUSED_BY_VERIFIER() (*(volatile int *)(long)bpf_get_prandom_u32())

/* Written by user space before load (src/bpf/probe.ts). */
const volatile __u64 attach_ns = 0;     /* threads that started before this are counted from their counters when first seen */
/* Raw fault events: a fault is sent when it passes every filter that is on. */
const volatile bool fault_detail = true;     /* the entry hooks settle faults into regions (--collector.fault-detail) */
const volatile bool trace_faults = false;    /* any filter on */
const volatile bool trace_by_pid = false;    /* the process is trace_one_pid, or (0) in trace_pids */
const volatile __u32 trace_one_pid = 0;      /* one process: a compare instead of a map lookup (~80 ns a fault) */
const volatile bool trace_by_comm = false;   /* the thread's comm is trace_comm */
const volatile char trace_comm[TASK_COMM_LEN] = {};
const volatile bool trace_by_cgroup = false; /* its cgroup is trace_cgroup_id */
const volatile bool trace_cgroup_memcg = false; /* trace_cgroup_id is a memory cgroup (v1), not v2 */
const volatile __u64 trace_cgroup_id = 0;
const volatile __u32 trace_sample_every = 1; /* 1 in N of the faults that pass, per CPU */
const volatile __u32 trace_fields = TRACE_FIELDS_ALL; /* enum trace_field: what user space reads of a record */
const volatile __u32 page_size = 4096;
/* Classic tracepoint twins: byte offsets read from the format files; -1 when absent. */
const volatile __s32 pfu_address_off = -1;
const volatile __s32 pfu_ip_off = -1;
const volatile __s32 pfu_error_code_off = -1;
const volatile __s32 mv_pid_off = -1;
const volatile __s32 mv_comm_off = -1; /* __data_loc */
const volatile __s32 mv_total_vm_off = -1; /* the classic fields are in kB */
const volatile __s32 mv_anon_rss_off = -1;
const volatile __s32 mv_file_rss_off = -1;
const volatile __s32 mv_shmem_rss_off = -1;
const volatile __s32 mv_uid_off = -1;
const volatile __s32 mv_pgtables_off = -1;
const volatile __s32 mv_oom_score_adj_off = -1;

/*
 * 32768 slots: the classic pid_max, so on such hosts every tgid has its own
 * slot; on hosts with pid_max 4194304 tgids that share a slot go to the hash.
 * Array lookups are inlined by the verifier; a hash lookup is a chain of
 * calls (~120 ns per fault on our machines, with return-thunk mitigations).
 */
#define PROCESS_SLOTS 32768
/* 32768 overflow entries; a process beyond both counts in unattributed_faults. */
#define MAX_PROCESSES 32768
/* 8 MiB: 87381 fault_event records of 88 bytes plus an 8-byte header (README: ring buffer size). */
#define FAULT_EVENTS_BYTES (8 << 20)
/* 256 KiB: ~2000 OOM records; kills come one at a time. */
#define OOM_EVENTS_BYTES (256 << 10)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROCESS_SLOTS);
	__type(key, __u32);
	__type(value, struct process_faults);
} process_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PROCESSES);
	__type(key, __u32);
	__type(value, struct process_faults);
} process_faults SEC(".maps");

/* Faults of processes that found process_faults full: the host total still adds up. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, REGION_COUNT * FAULT_TYPE_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} unattributed_faults SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ACCESS_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} fault_access SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FAULT_EVENTS_BYTES);
} fault_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, OOM_EVENTS_BYTES);
} oom_events SEC(".maps");

/* 64 processes: the --event-log.pid flags of one exporter, or trace's one --pid. */
#define MAX_TRACED_PIDS 64

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TRACED_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} trace_pids SEC(".maps");

/* Faults that passed the filters, per CPU, for 1-in-N sampling. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} trace_sampled SEC(".maps");

/*
 * The overhead governor's switch (--bpf.cpu-budget): slot 0 is 1 while the
 * per-fault detail is paused. The programs that serve only detail are also
 * detached then; an entry hook that stays for raw events skips the detail.
 * An array lookup is inlined by the verifier: no helper call per fault.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} detail_paused SEC(".maps");

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

/* ---- counts: the kernel's own per-thread counters ---- */

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000
#define RLIMIT_STACK 3

/* A compiler barrier: the task iterator on another CPU reads a thread's record between two reads of seq. */
#define barrier() asm volatile("" ::: "memory")

/*
 * Each thread's record: a slot of thread_slots, direct-mapped by tid (an
 * array lookup, inlined by the verifier: no helper call at a fault entry),
 * or, when another live thread holds that slot, the thread's task storage
 * (a helper call and a lock, ~50 ns). A slot is claimed at the thread's
 * first fault entry (or first sight by the task iterator) and released at
 * its exit. User space sizes the map (--bpf.thread-slots, a power of two;
 * 16384 by default, 2.6 MiB): threads beyond it use task storage.
 */
const volatile __u32 thread_slot_mask = 16383;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct thread_slot);
} thread_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_faults);
} thread_faults SEC(".maps");

static __always_inline struct thread_slot *thread_slot_of(__u32 tid)
{
	__u32 key = tid & thread_slot_mask;

	return bpf_map_lookup_elem(&thread_slots, &key);
}

/*
 * Who holds a slot: the tid, and the start time above it, so that a slot
 * never released (a thread that exited while the iterator claimed it for
 * it) is not taken for the next thread with the same tid.
 */
static __always_inline __u64 slot_owner(struct task_struct *task)
{
	return (__u64)(__u32)task->start_time << 32 | (__u32)task->pid;
}

/* The thread's record if it has one: its slot, else its task storage. */
static __always_inline struct thread_faults *thread_lookup(struct task_struct *task)
{
	struct thread_slot *s = thread_slot_of(task->pid);

	if (s && s->owner == slot_owner(task))
		return &s->tf;
	return bpf_task_storage_get(&thread_faults, task, 0, 0);
}

/*
 * Adds to faults what the thread's counters moved by since it was last
 * settled: the pending fault in its region if it completed (major if a
 * major-fault event fired since its entry, minor if min_flt moved), the rest
 * as "other". A fault still in progress, or one that failed, adds nothing.
 */
static __always_inline void settle_into(__u64 faults[REGION_COUNT][FAULT_TYPE_COUNT], const struct thread_faults *tf,
					__u64 min_flt, __u64 maj_flt)
{
	__u64 d_min = min_flt - tf->seen_min, d_maj = maj_flt - tf->seen_maj;
	__u32 region = tf->pending_region;

	if (region >= REGION_COUNT)
		region = REGION_OTHER;
	if (min_flt < tf->seen_min)
		d_min = 0;
	if (maj_flt < tf->seen_maj)
		d_maj = 0;
	if (tf->pending) {
		if (tf->majors != tf->pending_majors && d_maj > 0) {
			faults[region][FAULT_MAJOR]++;
			d_maj--;
		} else if (d_min > 0) {
			faults[region][FAULT_MINOR]++;
			d_min--;
		}
	}
	faults[REGION_OTHER][FAULT_MINOR] += d_min;
	faults[REGION_OTHER][FAULT_MAJOR] += d_maj;
}

/*
 * A new record for the thread: its slot if free (claimed with one
 * compare-and-swap) or left behind by a dead thread with the same tid (only
 * one live thread has a tid: taken over and zeroed), else task storage.
 * Not initialized.
 */
static __always_inline struct thread_faults *new_thread_record(struct task_struct *task, struct thread_slot *s)
{
	__u64 held;

	if (s) {
		held = s->owner;
		if ((held == 0 || (__u32)held == (__u32)task->pid) &&
		    __sync_val_compare_and_swap(&s->owner, held, slot_owner(task)) == held) {
			if (held != 0)
				__builtin_memset(&s->tf, 0, sizeof(s->tf));
			return &s->tf;
		}
	}
	return bpf_task_storage_get(&thread_faults, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/* The thread's record, created at first sight; a thread older than faultline is counted from its counters from then on. */
static __always_inline struct thread_faults *thread_record_of(struct task_struct *task)
{
	struct thread_slot *s = thread_slot_of(task->pid);
	struct thread_faults *tf;

	if (s && s->owner == slot_owner(task)) {
		tf = &s->tf;
	} else {
		tf = bpf_task_storage_get(&thread_faults, task, 0, 0);
		if (!tf)
			tf = new_thread_record(task, s);
	}
	if (tf && tf->seq == 0) {
		if (task->start_time < attach_ns) {
			tf->seen_min = task->min_flt;
			tf->seen_maj = task->maj_flt;
		}
		tf->seq = 2;
	}
	return tf;
}

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

static __always_inline void init_process(struct process_faults *pf, struct task_struct *task)
{
	bpf_probe_read_kernel_str(pf->comm, sizeof(pf->comm), task->group_leader->comm);
	task_cgroups(task, &pf->cgroup_id, &pf->memcg_id);
}

/* The process's own slot if it holds (or can claim) it, else its overflow hash entry. */
static __always_inline struct process_faults *process_entry(struct task_struct *task, __u32 tgid, bool create)
{
	__u32 slot = tgid & (PROCESS_SLOTS - 1);
	struct process_faults *pf = bpf_map_lookup_elem(&process_slots, &slot);
	struct process_faults fresh = {};

	if (pf && pf->pid == tgid)
		return pf;
	if (pf && create && pf->pid == 0 && __sync_val_compare_and_swap(&pf->pid, 0, tgid) == 0) {
		init_process(pf, task);
		return pf;
	}
	pf = bpf_map_lookup_elem(&process_faults, &tgid);
	if (pf || !create)
		return pf;
	init_process(&fresh, task);
	fresh.pid = tgid;
	/* BPF_NOEXIST: another CPU may have inserted it in between; then use theirs. */
	bpf_map_update_elem(&process_faults, &tgid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&process_faults, &tgid);
}

/* Frees a slot its owner held: zeroed, then released (the CAS orders the two on every architecture). */
static __always_inline void release_thread_slot(struct thread_slot *s, __u64 owner)
{
	if (!s || s->owner != owner)
		return;
	__builtin_memset(&s->tf, 0, sizeof(s->tf));
	__sync_val_compare_and_swap(&s->owner, owner, 0);
}

/*
 * A thread that execs from a multi-threaded process takes over its group
 * leader's tid (de_thread, before this hook): its record moves from the
 * slot of its old tid to the slot of the new one (the leader's exit freed
 * it), or to its task storage. A record made under the new tid in between
 * (a fault while exec copied the arguments, counted from a zero baseline)
 * is overwritten: the faults since the old record's last settle count in
 * "other" at the next one.
 */
static __always_inline void move_thread_record(struct task_struct *task, __u32 old_tid)
{
	struct thread_slot *old = thread_slot_of(old_tid), *s;
	struct thread_faults *tf;
	__u64 seq, held;

	/* Its old slot: old_tid's (the start time changed too: de_thread gave it the leader's). */
	if (!old || task->pid == old_tid)
		return;
	held = old->owner;
	if (held == 0 || (__u32)held != old_tid)
		return; /* no slot: its task storage moves with it */
	s = thread_slot_of(task->pid);
	if (s && s->owner == slot_owner(task))
		tf = &s->tf;
	else
		tf = new_thread_record(task, s); /* task storage: the one made in between, if any */
	if (tf) {
		seq = old->tf.seq;
		tf->seq = seq | 1; /* odd while it is copied: a task iterator reading it now takes its process again */
		barrier();
		__builtin_memcpy(&tf->seen_min, &old->tf.seen_min, sizeof(*tf) - sizeof(tf->seq));
		barrier();
		tf->seq = (seq | 1) + 1;
	}
	release_thread_slot(old, held);
}

/* A thread's final counts join its process's record; the last thread stamps the exit. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(settle_exiting_thread, struct task_struct *task)
{
	__u64 faults[REGION_COUNT][FAULT_TYPE_COUNT] = {};
	struct thread_faults *tf = thread_lookup(task);
	struct process_faults *pf;
	__u64 min_flt = task->min_flt, maj_flt = task->maj_flt;

	if (task->flags & PF_KTHREAD)
		return 0;
	if (tf) {
		__builtin_memcpy(faults, tf->faults, sizeof(faults));
		settle_into(faults, tf, min_flt, maj_flt);
	} else if (task->start_time >= attach_ns) {
		/* Never seen at a fault entry (detail off, or only get_user_pages faults): all of it is "other". */
		faults[REGION_OTHER][FAULT_MINOR] = min_flt;
		faults[REGION_OTHER][FAULT_MAJOR] = maj_flt;
	}
	/* An older thread never seen by the task iterator is counted from now on: nothing. */
	pf = process_entry(task, task->tgid, true);
	for (int r = 0; r < REGION_COUNT; r++) {
		for (int t = 0; t < FAULT_TYPE_COUNT; t++) {
			if (faults[r][t] == 0)
				continue;
			if (pf)
				__sync_fetch_and_add(&pf->faults[r][t], faults[r][t]);
			else
				percpu_inc(&unattributed_faults, r * FAULT_TYPE_COUNT + t, faults[r][t]);
		}
	}
	if (pf && task->signal->live.counter == 0)
		pf->exit_ns = bpf_ktime_get_ns();
	release_thread_slot(thread_slot_of(task->pid), slot_owner(task));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(refresh_comm, struct task_struct *task, pid_t old_pid)
{
	struct process_faults *pf = process_entry(task, task->tgid, false);

	/* A new program: its comm, and the cgroups it runs in now (runtimes place, then exec). */
	if (pf)
		init_process(pf, task);
	move_thread_record(task, old_pid);
	return 0;
}

/*
 * Every live thread's counts since attach, by region: user space reads this
 * iterator at each refresh, after the process maps (so a thread that exits
 * in between is counted in neither, never in both). A thread past the start
 * of its exit, or in the middle of updating its record, is marked
 * THREAD_INCOMPLETE: its process is taken again at the next refresh.
 */
SEC("iter/task")
int read_threads(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct thread_record r = {};
	struct thread_faults *tf;
	__u64 seq_before, seq_after;

	if (!task || (task->flags & PF_KTHREAD))
		return 0;
	r.pid = task->tgid;
	r.tid = task->pid;
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), task->group_leader->comm);
	task_cgroups(task, &r.cgroup_id, &r.memcg_id);
	if (task->flags & PF_EXITING) {
		/* Its counts are, or are about to be, in its process's record; exit_state is set after the exit hook ran. */
		if (task->exit_state == 0)
			r.flags = THREAD_INCOMPLETE;
		r.flags |= THREAD_EXITED;
		bpf_seq_write(seq, &r, sizeof(r));
		return 0;
	}
	tf = thread_lookup(task);
	if (!tf) {
		if (task->start_time < attach_ns)
			thread_record_of(task); /* its baseline: counted from now on */
		else {
			r.faults[REGION_OTHER][FAULT_MINOR] = task->min_flt;
			r.faults[REGION_OTHER][FAULT_MAJOR] = task->maj_flt;
		}
		bpf_seq_write(seq, &r, sizeof(r));
		return 0;
	}
	seq_before = tf->seq;
	barrier();
	__builtin_memcpy(r.faults, tf->faults, sizeof(r.faults));
	/* tf's fields (majors above all) before the counters: a major counted in majors is in maj_flt too. */
	settle_into(r.faults, tf, task->min_flt, task->maj_flt);
	barrier();
	seq_after = tf->seq;
	if (seq_before != seq_after || (seq_before & 1) || seq_before == 0) /* 0: claimed, not yet initialized */
		r.flags = THREAD_INCOMPLETE;
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}

/* ---- detail: one program at each fault entry ---- */

/* Whether this fault entry settles faults into regions: on (--collector.fault-detail) and not paused by the governor. */
static __always_inline bool detail_on(void)
{
	__u32 zero = 0;
	__u32 *paused;

	if (!fault_detail)
		return false;
	paused = bpf_map_lookup_elem(&detail_paused, &zero);
	return !paused || !*paused;
}

struct vma_region_ctx {
	__u64 start_stack;
	__u64 vm_start;
	__u64 vm_end;
	__u32 region;
};

static __always_inline __u32 vma_region(__u64 vm_start, __u64 vm_end, bool file, __u64 start_stack)
{
	if (file)
		return REGION_FILE;
	if (vm_start <= start_stack && start_stack < vm_end)
		return REGION_STACK;
	return REGION_ANON;
}

static long vma_region_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_region_ctx *c = data;

	c->region = vma_region(vma->vm_start, vma->vm_end, vma->vm_file, c->start_stack);
	c->vm_start = vma->vm_start;
	c->vm_end = vma->vm_end;
	return 0;
}

/*
 * The VMA lookup without a lock, for the mmap area (Linux >= 6.1): a walk of
 * the mm's maple tree. bpf_find_vma takes mmap_lock, and with interrupts off
 * (as at fault entry) it releases it through an irq_work, a self-IPI: ~3 us
 * per call on our VMs, as much as the fault itself. The tree's nodes and the
 * VMAs are freed after an RCU grace period and BPF programs run inside an
 * RCU read section, so every read below is of live or not-yet-freed memory;
 * a walk that races with a change can end on a stale or wrong entry, so the
 * VMA found must hold addr and belong to mm, or the walk counts as failed.
 * Node encoding: include/linux/maple_tree.h and lib/maple_tree.c (the type
 * in bits 3-6, the node's address above bit 8; the root also has bit 1).
 */
#define MAPLE_NODE_MASK 255ULL
#define MAPLE_LEAF_64 1
#define MAPLE_RANGE_64 2
#define MAPLE_ARANGE_64 3
#define MAPLE_RANGE64_PIVOTS 15
#define MAPLE_ARANGE64_PIVOTS 9
#define MAPLE_MAX_DEPTH 8

enum walk_result {
	WALK_FOUND = 0, /* c holds the VMA's range and region */
	WALK_GAP = 1,   /* no VMA holds addr */
	WALK_FAILED = 2,
};

struct mm_struct___maple {
	struct maple_tree mm_mt;
} __attribute__((preserve_access_index));

/* A maple node, read whole (one probe read per level): 32 words. */
#define MAPLE_NODE_WORDS 32

/* Word index of a field in a maple node (the layouts are CO-RE-relocated; words, as every field is 8-byte aligned). */
#define NODE_WORD(type, field) (bpf_core_field_offset(type, field) / 8)

static __always_inline enum walk_result maple_walk(struct mm_struct *mm, __u64 addr, struct vma_region_ctx *c)
{
	struct mm_struct___maple *m = (void *)mm;
	__u64 entry = (__u64)BPF_CORE_READ(m, mm_mt.ma_root);
	__u64 max = ~0ULL, node[MAPLE_NODE_WORDS];
	struct vm_area_struct *vma;
	__u32 type, end, npivots, pivot0, slot0, meta, offset, i;

	for (int depth = 0; depth < MAPLE_MAX_DEPTH; depth++) {
		/* The root is marked as a node (0b10 in its low bits); below it, slots hold nodes by address and type. */
		if ((depth == 0 && (entry & 3) != 2) || entry <= 4096)
			return WALK_FAILED; /* not a node: a one-entry tree, or a torn read */
		type = (entry >> 3) & 15;
		if (bpf_probe_read_kernel(node, sizeof(node), (void *)(entry & ~MAPLE_NODE_MASK)))
			return WALK_FAILED;
		if (type == MAPLE_ARANGE_64) {
			npivots = MAPLE_ARANGE64_PIVOTS;
			pivot0 = NODE_WORD(struct maple_arange_64, pivot);
			slot0 = NODE_WORD(struct maple_arange_64, slot);
			meta = NODE_WORD(struct maple_arange_64, meta);
		} else if (type == MAPLE_RANGE_64 || type == MAPLE_LEAF_64) {
			npivots = MAPLE_RANGE64_PIVOTS;
			pivot0 = NODE_WORD(struct maple_range_64, pivot);
			slot0 = NODE_WORD(struct maple_range_64, slot);
			meta = NODE_WORD(struct maple_range_64, meta);
		} else {
			return WALK_FAILED;
		}
		if (pivot0 + MAPLE_RANGE64_PIVOTS > MAPLE_NODE_WORDS || meta >= MAPLE_NODE_WORDS)
			return WALK_FAILED;
		/* ma_data_end(): arange nodes, and range nodes whose last pivot is 0, keep their end in the metadata (its first byte). */
		end = node[meta] & 0xff;
		if (type != MAPLE_ARANGE_64 && node[pivot0 + MAPLE_RANGE64_PIVOTS - 1] != 0)
			end = node[pivot0 + MAPLE_RANGE64_PIVOTS - 1] == max ? MAPLE_RANGE64_PIVOTS - 1 : MAPLE_RANGE64_PIVOTS;
		if (end > npivots)
			return WALK_FAILED;
		/* The first pivot at or above addr; past the last, the end slot (up to the node's max). */
		offset = end;
		for (i = 0; i < MAPLE_RANGE64_PIVOTS; i++) {
			if (i >= end)
				break;
			if (node[pivot0 + i] >= addr) {
				offset = i;
				max = node[pivot0 + i];
				break;
			}
		}
		if (slot0 + offset >= MAPLE_NODE_WORDS)
			return WALK_FAILED;
		entry = node[(slot0 + offset) & (MAPLE_NODE_WORDS - 1)];
		if (type != MAPLE_LEAF_64)
			continue;
		if (entry == 0)
			return WALK_GAP;
		vma = (void *)entry;
		c->vm_start = BPF_CORE_READ(vma, vm_start);
		c->vm_end = BPF_CORE_READ(vma, vm_end);
		if (BPF_CORE_READ(vma, vm_mm) != mm || addr < c->vm_start || addr >= c->vm_end)
			return WALK_FAILED;
		c->region = vma_region(c->vm_start, c->vm_end, BPF_CORE_READ(vma, vm_file), c->start_stack);
		return WALK_FOUND;
	}
	return WALK_FAILED;
}

/* The VMA holding addr: the maple walk, else (before 6.1, or a walk that raced) bpf_find_vma (Linux >= 5.17). */
static __always_inline enum walk_result find_vma_region(struct task_struct *task, struct mm_struct *mm, __u64 addr,
							 struct vma_region_ctx *c)
{
	struct mm_struct___maple *m = (void *)mm;
	enum walk_result r = WALK_FAILED;

	if (bpf_core_field_exists(m->mm_mt) && bpf_core_type_exists(struct maple_range_64)) {
		r = maple_walk(mm, addr, c);
		if (r != WALK_FAILED)
			return r;
	}
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_find_vma))
		return WALK_FAILED;
	/* Fails (-EBUSY) when mmap_lock is contended by a writer, or -ENOENT in a gap. */
	return bpf_find_vma(task, addr, vma_region_cb, c, 0) == 0 ? WALK_FOUND : WALK_GAP;
}

/* mm->mm_lock_seq: a seqcount_t since 6.13, an int in 6.4-6.12 (CONFIG_PER_VMA_LOCK). */
struct mm_struct___seqcount {
	struct seqcount mm_lock_seq;
} __attribute__((preserve_access_index));
struct mm_struct___int {
	int mm_lock_seq;
} __attribute__((preserve_access_index));

static __always_inline __u32 mm_lock_seq(struct mm_struct *mm)
{
	struct mm_struct___seqcount *seqcount = (void *)mm;
	struct mm_struct___int *plain = (void *)mm;

	if (bpf_core_field_exists(seqcount->mm_lock_seq))
		return seqcount->mm_lock_seq.sequence;
	/* 6.4-6.12: a count of write unlocks, with no odd phase: made even so the cache trusts it. */
	if (bpf_core_field_exists(plain->mm_lock_seq))
		return (__u32)plain->mm_lock_seq << 1;
	return 1; /* no sequence (before 6.4): odd, so the cache is never trusted */
}

/*
 * The region of addr, at fault entry. The brk heap, the main stack and the
 * executable's own text, data and bss come from the mm's bounds. The mmap
 * area needs the VMA: each thread caches the last VMA it faulted in, valid
 * while no mmap write lock (the only way VMAs change) has been taken since
 * (mm_lock_seq unchanged); on a miss, the maple walk above finds it.
 */
static __always_inline __u32 classify(struct task_struct *task, struct thread_faults *tf, __u64 addr)
{
	struct mm_struct *mm = task->mm;
	struct vma_region_ctx c = { .region = REGION_OTHER };
	__u64 page_mask = ~((__u64)page_size - 1);
	__u64 stack_limit, data_end;
	__u32 seq;

	if (!mm)
		return REGION_OTHER;
	if (addr >= mm->start_brk && addr < ((mm->brk + page_size - 1) & page_mask))
		return REGION_HEAP;
	c.start_stack = mm->start_stack;
	stack_limit = task->signal->rlim[RLIMIT_STACK].rlim_cur;
	/*
	 * Below the stack's start, within its limit: the main stack, grown or
	 * about to grow. The top-down layout keeps every mapping at least the
	 * limit below it (mmap_base); where it does not (legacy layout, a limit
	 * raised after exec) the VMA decides.
	 */
	if (addr < c.start_stack && c.start_stack - addr <= stack_limit && mm->mmap_base < c.start_stack &&
	    stack_limit < c.start_stack - mm->mmap_base)
		return REGION_STACK;
	data_end = (mm->end_data + page_size - 1) & page_mask;
	if (addr >= mm->start_code && addr < data_end)
		return REGION_FILE; /* the executable's text and data */
	if (addr >= data_end && addr < mm->start_brk && mm->start_code <= mm->end_data)
		return REGION_ANON; /* its bss */
	seq = mm_lock_seq(mm);
	if (tf->vma_mm == (__u64)mm && tf->vma_lock_seq == seq && (seq & 1) == 0 && addr >= tf->vma_start &&
	    addr < tf->vma_end)
		return tf->vma_region;
	switch (find_vma_region(task, mm, addr, &c)) {
	case WALK_FOUND:
		break;
	case WALK_GAP:
		/* At fault entry, a fault that grows the main stack is still below its VMA. */
		if (addr < c.start_stack && c.start_stack - addr <= stack_limit)
			return REGION_STACK;
		return REGION_OTHER;
	default:
		return REGION_OTHER;
	}
	tf->vma_mm = (__u64)mm;
	tf->vma_start = c.vm_start;
	tf->vma_end = c.vm_end;
	tf->vma_lock_seq = seq;
	tf->vma_region = c.region;
	return c.region;
}

/* A fault enters: settle the thread's previous one, and decide this one's region. */
static __always_inline struct thread_faults *enter_fault(struct task_struct *task, __u64 addr)
{
	struct thread_faults *tf = thread_record_of(task);
	__u64 min_flt, maj_flt;

	if (!tf)
		return 0;
	min_flt = task->min_flt;
	maj_flt = task->maj_flt;
	tf->seq++;
	barrier();
	settle_into(tf->faults, tf, min_flt, maj_flt);
	tf->seen_min = min_flt;
	tf->seen_maj = maj_flt;
	tf->pending = 1;
	tf->pending_majors = tf->majors;
	tf->pending_region = classify(task, tf, addr);
	barrier();
	tf->seq++;
	return tf;
}

/* Major faults (waiting on I/O, microseconds at least) also run this: the settled fault is typed exactly. */
SEC("perf_event")
int count_major_fault(struct bpf_perf_event_data *ctx)
{
	struct thread_faults *tf = thread_lookup(bpf_get_current_task_btf());

	if (tf)
		tf->majors++;
	return 0;
}

/* ---- raw events for trace and the event log ---- */

/*
 * The current thread's comm in two direct loads through its BTF pointer:
 * ~90 ns less per traced fault than bpf_get_current_comm() (bpf_stats on the
 * storm, 6.18), whose strscpy_pad is the most expensive part of a record.
 * Both copy a comm that prctl(PR_SET_NAME) may be rewriting; user space reads
 * up to the first NUL, and the last byte is always one.
 */
static __always_inline void current_comm(char comm[TASK_COMM_LEN])
{
	struct task_struct *task = bpf_get_current_task_btf();
	const __u64 *words = (const __u64 *)task->comm;

	((__u64 *)comm)[0] = words[0];
	((__u64 *)comm)[1] = words[1];
	comm[TASK_COMM_LEN - 1] = 0;
}

static __always_inline bool trace_wanted(void)
{
	__u32 tgid, zero = 0;
	__u64 *seen;

	if (trace_by_pid) {
		tgid = bpf_get_current_pid_tgid() >> 32;
		if (trace_one_pid ? tgid != trace_one_pid : !bpf_map_lookup_elem(&trace_pids, &tgid))
			return false;
	}
	if (trace_by_comm) {
		char comm[TASK_COMM_LEN];

		current_comm(comm);
		for (int i = 0; i < TASK_COMM_LEN; i++) {
			if (comm[i] != trace_comm[i])
				return false;
			if (!comm[i])
				break;
		}
	}
	if (trace_by_cgroup) {
		__u64 cgroup_id = 0, memcg_id = 0;

		if (trace_cgroup_memcg)
			task_cgroups(bpf_get_current_task_btf(), &cgroup_id, &memcg_id);
		else
			cgroup_id = bpf_get_current_cgroup_id();
		if ((trace_cgroup_memcg ? memcg_id : cgroup_id) != trace_cgroup_id)
			return false;
	}
	if (trace_sample_every > 1) {
		seen = bpf_map_lookup_elem(&trace_sampled, &zero);
		if (!seen || (*seen)++ % trace_sample_every != 0)
			return false;
	}
	return true;
}

/* error_code when the hook has none (the perf event): user space prints the access as unknown. */
#define ERROR_CODE_UNKNOWN (~0ULL)

static __always_inline void trace_fault(struct thread_faults *tf, __u64 address, __u64 ip, __u64 error_code)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct fault_event *e = bpf_ringbuf_reserve(&fault_events, sizeof(*e), 0);

	if (!e) {
		percpu_inc(&lost_records, RINGBUF_FAULT_EVENTS, 1);
		return;
	}
	e->kind = EVENT_PAGE_FAULT;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->cpu = bpf_get_smp_processor_id();
	/* The optional fields cost most of a record (~180 ns of ~570 on 6.18): filled only where user space reads them. */
	e->timestamp_ns = trace_fields & TRACE_FIELD_TIMESTAMP ? bpf_ktime_get_ns() : 0;
	e->address = address;
	e->ip = ip; /* 0 unless TRACE_FIELD_IP: the hooks read it only then */
	e->error_code = error_code;
	current_comm(e->comm);
	e->region = tf ? tf->pending_region : REGION_OTHER;
	e->pad = 0;
	if (trace_fields & TRACE_FIELD_CGROUPS) {
		task_cgroups(bpf_get_current_task_btf(), &e->cgroup_id, &e->memcg_id);
	} else {
		e->cgroup_id = 0;
		e->memcg_id = 0;
	}
	/* User space drains on a timer: a wake-up per record would cost more than the record. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/* ---- the entry hooks: exceptions/page_fault_user and page_fault_kernel (x86), or the perf event page-faults ---- */

/* A user-mode fault: region, access type, and the raw event if asked for. Calls one helper in the common case. */
static __always_inline void user_fault(__u64 address, __u64 ip, __u64 error_code)
{
	struct thread_faults *tf = 0;
	__u32 slot = !!(error_code & PF_PROT) | !!(error_code & PF_WRITE) << 1 | !!(error_code & PF_INSTR) << 2;

	if (detail_on()) {
		tf = enter_fault(bpf_get_current_task_btf(), address);
		percpu_inc(&fault_access, slot, 1);
	}
	if (trace_faults && trace_wanted())
		trace_fault(tf, address, ip, error_code);
}

/* A kernel-mode fault on a user address (copy_to_user and friends): it counts in the thread's min_flt/maj_flt too. */
static __always_inline void kernel_fault(__u64 address)
{
	if ((__s64)address >= 0 && detail_on())
		enter_fault(bpf_get_current_task_btf(), address);
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user_btf, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
#ifdef FAULTLINE_TEST_REFUSE_FAULTS
	REFUSED_BY_VERIFIER();
#endif
	user_fault(address, trace_faults && (trace_fields & TRACE_FIELD_IP) ? BPF_CORE_READ(regs, ip) : 0, error_code);
	return 0;
}

SEC("tp_btf/page_fault_kernel")
int BPF_PROG(page_fault_kernel_btf, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	kernel_fault(address);
	return 0;
}

static __always_inline __u64 tp_field(void *ctx, __s32 off, __u32 size)
{
	__u64 v = 0;

	if (off >= 0)
		bpf_probe_read_kernel(&v, size & 0xf, ctx + off);
	return v;
}

SEC("tracepoint/exceptions/page_fault_user")
int page_fault_user_tp(void *ctx)
{
	__u64 ip = trace_faults && (trace_fields & TRACE_FIELD_IP) ? tp_field(ctx, pfu_ip_off, 8) : 0;

	user_fault(tp_field(ctx, pfu_address_off, 8), ip, tp_field(ctx, pfu_error_code_off, 8));
	return 0;
}

SEC("tracepoint/exceptions/page_fault_kernel")
int page_fault_kernel_tp(void *ctx)
{
	kernel_fault(tp_field(ctx, pfu_address_off, 8)); /* the same event class as page_fault_user */
	return 0;
}

/*
 * Where the exceptions tracepoints do not exist (arm64 and the rest): the software perf
 * event page-faults fires at the same place, for user- and kernel-mode
 * faults on user addresses alike, with the address but no error code.
 */
/* Whether the perf event's registers are user mode's (raw events are user-mode faults, as on x86's page_fault_user). */
#if defined(__TARGET_ARCH_x86)
/*
 * The perf context's registers have the uapi layout (asm/ptrace.h), the same
 * on every kernel, and allow only 8-byte reads: read cs as that word, not
 * through the kernel's pt_regs, whose cs is 2 bytes (and CO-RE would make the
 * read 2 bytes, which the verifier refuses).
 */
struct uapi_pt_regs {
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
#define regs_user_mode(regs) ((((struct uapi_pt_regs *)(regs))->cs & 3) == 3)
#elif defined(__TARGET_ARCH_arm64)
#define regs_user_mode(regs) (((regs)->pstate & 0xf) == 0) /* EL0 */
#else
#define regs_user_mode(regs) true
#endif

SEC("perf_event")
int fault_entry_perf(struct bpf_perf_event_data *ctx)
{
	struct thread_faults *tf = 0;

	if (detail_on())
		tf = enter_fault(bpf_get_current_task_btf(), ctx->addr);
	if (trace_faults && regs_user_mode(&ctx->regs) && trace_wanted())
		trace_fault(tf, ctx->addr, trace_fields & TRACE_FIELD_IP ? PT_REGS_IP(&ctx->regs) : 0, ERROR_CODE_UNKNOWN);
	return 0;
}

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
