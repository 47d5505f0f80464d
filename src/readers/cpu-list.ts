const MAX_CPUS = 8192;

/** Parses a kernel CPU list such as `0-3,8,10-11` (/sys/devices/system/cpu/online). */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`bad CPU list element ${JSON.stringify(part)}`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first) throw new Error(`bad CPU range ${JSON.stringify(part)}`);
    // The kernel's own ceiling (NR_CPUS is at most 8192): a larger list is not a CPU list.
    if (last >= MAX_CPUS || cpus.length + last - first >= MAX_CPUS) throw new Error(`CPU list ${JSON.stringify(text.trim().slice(0, 40))} names more than ${MAX_CPUS} CPUs`);
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}
