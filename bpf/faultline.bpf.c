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
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Each feature in its own file, one object: the loader sees one set of programs and maps. */
#include "counts.bpf.c"
#include "regions.bpf.c"
#include "trace.bpf.c"
#include "faults.bpf.c"
#include "oom.bpf.c"
#include "stalls.bpf.c"
