/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contract between faultline's kernel programs and user space.
 * src/bpf/contract.ts mirrors every layout here; the loader checks map key and
 * value sizes against it at startup. Fixed-width types only.
 */
#ifndef FAULTLINE_H
#define FAULTLINE_H

#define TASK_COMM_LEN 16

/* Where a faulting address lies. Keep in step with REGIONS in contract.ts. */
enum fault_region {
	REGION_HEAP = 0,  /* the brk area */
	REGION_STACK = 1, /* the main thread's stack VMA */
	REGION_ANON = 2,  /* other anonymous memory: mmap, large malloc, thread stacks */
	REGION_FILE = 3,  /* file-backed: executable, libraries, mapped files */
	REGION_OTHER = 4, /* no address (get_user_pages), no VMA, or VMA lock busy */
	REGION_COUNT = 5,
};

/* The kernel's own classification (mm_account_fault). */
enum fault_type {
	FAULT_MINOR = 0,
	FAULT_MAJOR = 1,
	FAULT_TYPE_COUNT = 2,
};

/* x86 page-fault error code bits (arch/x86/include/asm/trap_pf.h). */
#define PF_PROT (1 << 0)
#define PF_WRITE (1 << 1)
#define PF_INSTR (1 << 4)

/* fault_access index: present | write << 1 | exec << 2. */
#define ACCESS_SLOTS 8

/*
 * An exited thread's counts, added to its process's record at the thread's
 * exit: a slot of process_slots (array, direct-mapped by tgid, owner in `pid`)
 * or an entry of process_faults (hash, for tgids whose slot another process
 * holds). Live threads are read by the task iterator (struct thread_record).
 * `pid` is last so that clearing a slot with one ascending copy releases it
 * only after its counts are zero.
 */
struct process_faults {
	__u64 faults[REGION_COUNT][FAULT_TYPE_COUNT];
	__u64 exit_ns; /* CLOCK_MONOTONIC of the last thread's exit; 0 while alive */
	char comm[TASK_COMM_LEN]; /* the group leader's comm, refreshed at exec */
	__u64 cgroup_id; /* cgroup v2 id (kernfs id = directory inode) at the first thread exit or exec */
	__u64 memcg_id;  /* the memory controller's cgroup id (the v1 memory hierarchy where mounted) */
	__u64 pid; /* the owning tgid; 0: a free slot (64-bit for a plain BPF cmpxchg) */
};

/*
 * thread_faults: per-thread task storage. The kernel's own counters
 * (task->min_flt/maj_flt) are the totals; this says where they landed.
 * At each fault entry the previous fault is settled: it counts in the region
 * decided at its entry if the thread's counters moved since (a fault that
 * failed, e.g. SIGSEGV, moves none), as major if a major-fault perf event
 * fired in between, else minor; what else the counters moved by (faults
 * through get_user_pages, which enter no fault handler) counts as "other".
 * `seq` is odd while the thread updates the record, so that the task
 * iterator reading it from another CPU can tell a torn copy.
 */
struct thread_faults {
	__u64 seq;
	__u64 seen_min; /* task->min_flt when last settled */
	__u64 seen_maj;
	__u64 faults[REGION_COUNT][FAULT_TYPE_COUNT]; /* settled since the thread's birth, or since attach */
	__u64 majors; /* major-fault perf events of this thread */
	__u64 pending_majors; /* `majors` at the pending fault's entry */
	__u64 vma_mm; /* the last VMA classified, valid while the mm's mm_lock_seq is unchanged */
	__u64 vma_start;
	__u64 vma_end;
	__u32 vma_lock_seq;
	__u32 vma_region;
	__u32 pending; /* a fault entered and is not settled yet */
	__u32 pending_region;
};

/* A slot of thread_slots: the record of the thread that holds it. */
struct thread_slot {
	struct thread_faults tf;
	/* The holder: its tid, and the low 32 bits of its start time (ns) above it; 0: free. */
	__u64 owner;
};

/* thread_record.flags */
#define THREAD_INCOMPLETE 1 /* between its exit hook and its exit, or read torn: take its process again next time */
#define THREAD_EXITED 2     /* past the start of its exit: its counts are in (or going to) its process's record */

/* One live thread, as the task iterator (iter/task read_threads) writes it. */
struct thread_record {
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 flags;
	__u32 pad;
	__u64 faults[REGION_COUNT][FAULT_TYPE_COUNT]; /* the thread's counters since attach, by region */
	char comm[TASK_COMM_LEN]; /* the group leader's */
	__u64 cgroup_id;
	__u64 memcg_id;
};

/* Where a task stalled on memory. Keep in step with STALL_KINDS in contract.ts. */
enum stall_kind {
	STALL_DIRECT_RECLAIM = 0, /* vmscan:mm_vmscan_direct_reclaim_begin/end: the allocator reclaiming for the host */
	STALL_MEMCG_RECLAIM = 1,  /* vmscan:mm_vmscan_memcg_reclaim_begin/end: a charge reclaiming for its cgroup's limit */
	STALL_COMPACTION = 2,     /* compaction:mm_compaction_begin/end run by a task (not kcompactd) */
	STALL_KIND_COUNT = 3,
};

/* log2 buckets: slot i counts stalls of [2^i, 2^(i+1)) ns; the last slot everything from 2^39 ns (~9 min). */
#define STALL_SLOTS 40

/* The stalling task's cgroups (as in process_faults) and the kind; all zero: cgroups beyond the map. */
struct stall_key {
	__u64 cgroup_id;
	__u64 memcg_id;
	__u32 kind;
	__u32 pad;
};

struct stall_hist {
	__u64 slots[STALL_SLOTS];
	__u64 count;
	__u64 sum_ns;
	__u64 reclaimed_pages; /* nr_reclaimed of the end tracepoint (reclaim only) */
};

/* stall_start: per-thread task storage, when each kind of stall began (0: not in one). */
struct stall_start {
	__u64 begin_ns[STALL_KIND_COUNT];
};

enum ringbuf_id {
	RINGBUF_FAULT_EVENTS = 0,
	RINGBUF_OOM_EVENTS = 1,
	RINGBUF_COUNT = 2,
};

enum event_kind {
	EVENT_PAGE_FAULT = 1,
	EVENT_OOM_KILL = 2,
};

/* A raw page fault at tracepoint entry, for `trace`. */
struct fault_event {
	__u32 kind; /* EVENT_PAGE_FAULT */
	__u32 pid;  /* tgid */
	__u32 tid;
	__u32 cpu;
	__u64 timestamp_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 address;
	__u64 ip;
	__u64 error_code;
	char comm[TASK_COMM_LEN]; /* the faulting thread's comm */
	__u32 region; /* enum fault_region, decided at fault entry */
	__u32 flags;  /* enum fault_event_flag: why it was sent */
	/* The thread's cgroups, so that a short-lived process's events are named without a map read. */
	__u64 cgroup_id;
	__u64 memcg_id;
};

/* live_watching[0]: how many processes live_pids holds, and the one when there is one (a compare, not a lookup). */
struct live_watching {
	__u32 count;
	__u32 one_pid;
};

/* Why a fault_event was sent: it passed the trace filters (trace, the event log), its process is watched live
 * (the web page's process view), or both. */
enum fault_event_flag {
	FAULT_EVENT_TRACED = 1 << 0,
	FAULT_EVENT_LIVE = 1 << 1,
};

/* A fault_event's optional fields: the programs fill those user space reads (const trace_fields); the rest are 0. */
enum trace_field {
	TRACE_FIELD_TIMESTAMP = 1 << 0, /* timestamp_ns */
	TRACE_FIELD_IP = 1 << 1,        /* ip */
	TRACE_FIELD_CGROUPS = 1 << 2,   /* cgroup_id, memcg_id */
	TRACE_FIELDS_ALL = (1 << 3) - 1,
};

/* An OOM kill, as seen at oom/mark_victim. Sizes in bytes. */
struct oom_event {
	__u32 kind; /* EVENT_OOM_KILL */
	__u32 pid;  /* the victim's tgid */
	__u32 tid;  /* the victim task's pid */
	__u32 uid;
	__u32 trigger_pid; /* the task whose allocation ran into the OOM */
	__s32 oom_score_adj;
	__u64 timestamp_ns;
	__u64 total_vm_bytes;
	__u64 anon_rss_bytes;
	__u64 file_rss_bytes;
	__u64 shmem_rss_bytes;
	__u64 pgtables_bytes;
	char comm[TASK_COMM_LEN];
	char trigger_comm[TASK_COMM_LEN];
	__u64 cgroup_id; /* the victim's; 0 where the kernel does not say (classic twin) */
	__u64 memcg_id;
};

#endif /* FAULTLINE_H */
