// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Counts: the kernel's own per-thread counters, read by the task iterator and settled at exit. Part of faultline.bpf.c, which includes it after common.bpf.h. */

/* Written by user space before load (src/bpf/probe.ts). */
const volatile __u64 attach_ns = 0;     /* threads that started before this are counted from their counters when first seen */

/*
 * 32768 slots: the classic pid_max, so on such hosts every tgid has its own
 * slot; on hosts with pid_max 4194304 tgids that share a slot go to the hash.
 * Array lookups are inlined by the verifier; a hash lookup is a chain of
 * calls (~120 ns per fault on our machines, with return-thunk mitigations).
 */
#define PROCESS_SLOTS 32768
/* 32768 overflow entries; a process beyond both counts in unattributed_faults. */
#define MAX_PROCESSES 32768

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

/* ---- counts: the kernel's own per-thread counters ---- */

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000
#define RLIMIT_STACK 3


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
