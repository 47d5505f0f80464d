// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Floors for the benchmark: programs that do nothing on faultline's hooks. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/page_fault_user")
int BPF_PROG(empty_page_fault_user, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return 0;
}

SEC("perf_event")
int empty_perf_event(struct bpf_perf_event_data *ctx)
{
	return 0;
}
