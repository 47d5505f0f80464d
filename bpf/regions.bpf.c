// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Detail: one program at each fault entry settles faults into regions and access types. Part of faultline.bpf.c, which includes it after common.bpf.h. */

const volatile bool fault_detail = true;     /* the entry hooks settle faults into regions (--collector.fault-detail) */
const volatile __u32 page_size = 4096;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ACCESS_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} fault_access SEC(".maps");

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
