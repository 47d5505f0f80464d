// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Raw events for trace and the event log: filtered in the kernel, through a ring buffer. Part of faultline.bpf.c, which includes it after common.bpf.h. */

/* Raw fault events: a fault is sent when it passes every filter that is on. */
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

/* 8 MiB: 87381 fault_event records of 88 bytes plus an 8-byte header (README: ring buffer size). */
#define FAULT_EVENTS_BYTES (8 << 20)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FAULT_EVENTS_BYTES);
} fault_events SEC(".maps");

/* 64 processes: the --event-log.pid flags of one exporter, or trace's one --pid. */
#define MAX_TRACED_PIDS 64

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TRACED_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} trace_pids SEC(".maps");

/* The web page's process view: processes whose faults are sent while a page watches them, filled by user
 * space at run time. live_watching[0] says how many it holds and, when that is one, which: with no page open
 * a fault costs one array load, with one process watched a compare (~90 ns less than the hash lookup that
 * more need, bpf_stats on a storm, 6.18). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TRACED_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} live_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct live_watching);
} live_watching SEC(".maps");

/* Faults that passed the filters, per CPU, for 1-in-N sampling. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} trace_sampled SEC(".maps");

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

/* Whether a page watches the current process (the web page's process view). */
static __always_inline bool live_wanted(void)
{
	__u32 zero = 0, tgid;
	struct live_watching *watching = bpf_map_lookup_elem(&live_watching, &zero);

	if (!watching || !watching->count)
		return false;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (watching->count == 1)
		return tgid == watching->one_pid;
	return bpf_map_lookup_elem(&live_pids, &tgid) != 0;
}

/* The fault_event_flag bits of the current fault: 0 when nothing asks for it. */
static __always_inline __u32 fault_event_flags(bool user_mode)
{
	__u32 flags = 0;

	if (!user_mode)
		return 0;
	if (trace_faults && trace_wanted())
		flags |= FAULT_EVENT_TRACED;
	if (live_wanted())
		flags |= FAULT_EVENT_LIVE;
	return flags;
}

/* error_code when the hook has none (the perf event): user space prints the access as unknown. */
#define ERROR_CODE_UNKNOWN (~0ULL)

static __always_inline void trace_fault(struct thread_faults *tf, __u64 address, __u64 ip, __u64 error_code, __u32 flags)
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
	e->flags = flags;
	if (trace_fields & TRACE_FIELD_CGROUPS) {
		task_cgroups(bpf_get_current_task_btf(), &e->cgroup_id, &e->memcg_id);
	} else {
		e->cgroup_id = 0;
		e->memcg_id = 0;
	}
	/* User space drains on a timer: a wake-up per record would cost more than the record. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}
