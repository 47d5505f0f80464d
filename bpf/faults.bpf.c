// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* The fault entry hooks: exceptions/page_fault_user and page_fault_kernel (x86), or the perf event page-faults. Part of faultline.bpf.c, which includes it after common.bpf.h. */

/* Classic tracepoint twins: byte offsets read from the format files; -1 when absent. */
const volatile __s32 pfu_address_off = -1;
const volatile __s32 pfu_ip_off = -1;
const volatile __s32 pfu_error_code_off = -1;

/* ---- the entry hooks: exceptions/page_fault_user and page_fault_kernel (x86), or the perf event page-faults ---- */

/* A user-mode fault: region, access type, and the raw event if asked for (the trace filters, or a page watching it live). */
static __always_inline void user_fault(__u64 address, __u64 ip, __u64 error_code)
{
	struct thread_faults *tf = 0;
	__u32 slot = !!(error_code & PF_PROT) | !!(error_code & PF_WRITE) << 1 | !!(error_code & PF_INSTR) << 2;
	__u32 flags;

	if (detail_on()) {
		tf = enter_fault(bpf_get_current_task_btf(), address);
		percpu_inc(&fault_access, slot, 1);
	}
	flags = fault_event_flags(true);
	if (flags)
		trace_fault(tf, address, ip, error_code, flags);
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
	__u32 flags;

	if (detail_on())
		tf = enter_fault(bpf_get_current_task_btf(), ctx->addr);
	flags = fault_event_flags(regs_user_mode(&ctx->regs));
	if (flags)
		trace_fault(tf, ctx->addr, trace_fields & TRACE_FIELD_IP ? PT_REGS_IP(&ctx->regs) : 0, ERROR_CODE_UNKNOWN, flags);
	return 0;
}
