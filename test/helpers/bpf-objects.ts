/**
 * The BPF programs and maps one process holds, by id (from its fd table), so
 * that tests look at their own exporter's objects and never at names across
 * the host, where another faultline may be running.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { waitFor } from './live.js';

export interface HeldObjects {
  progs: number[];
  maps: number[];
}

/** Ids of the programs (prog and link fds) and maps (map fds) in /proc/PID/fdinfo. */
export function heldBpfObjects(pid: number): HeldObjects {
  const progs = new Set<number>();
  const maps = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return { progs: [], maps: [] }; // gone
  }
  for (const fd of fds) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const prog = /^prog_id:\s*(\d+)$/m.exec(info);
    if (prog) progs.add(Number(prog[1]));
    const map = /^map_id:\s*(\d+)$/m.exec(info);
    if (map) maps.add(Number(map[1]));
  }
  return { progs: [...progs].sort((a, b) => a - b), maps: [...maps].sort((a, b) => a - b) };
}

/** Which of these program ids the kernel still has. */
export function programsStillLoaded(ids: readonly number[]): number[] {
  const loaded = new Set((JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { id: number }[]).map((p) => p.id));
  return ids.filter((id) => loaded.has(id));
}

/** The names of these program ids, sorted (bpftool names a program in full from its BTF). */
export function programNames(ids: readonly number[]): string[] {
  const wanted = new Set(ids);
  const all = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { id: number; name?: string }[];
  return all.filter((p) => wanted.has(p.id)).map((p) => p.name ?? `id ${p.id}`).sort();
}

/** The CPUs a per-CPU perf event attaches to: the online ones. */
export function onlineCpuCount(): number {
  let n = 0;
  for (const range of readFileSync('/sys/devices/system/cpu/online', 'utf8').trim().split(',')) {
    const [lo, hi = lo] = range.split('-').map(Number);
    n += hi! - lo! + 1;
  }
  return n;
}

/**
 * Waits (bounded) until the kernel has freed every one of these programs: it
 * frees a closed program asynchronously, 10-200 ms after its holder exits.
 * Returns the ids still loaded at the deadline (empty: all freed).
 */
export async function programsFreed(ids: readonly number[], timeoutMs = 5000): Promise<number[]> {
  try {
    await waitFor('programs to be freed', () => programsStillLoaded(ids).length === 0, timeoutMs);
    return [];
  } catch {
    return programsStillLoaded(ids);
  }
}

/** The id of the map named `name` among a process's maps (the kernel truncates names to 15 bytes). */
export function heldMapId(pid: number, name: string): number {
  for (const id of heldBpfObjects(pid).maps) {
    const map = JSON.parse(execFileSync('bpftool', ['map', 'show', 'id', String(id), '--json'], { encoding: 'utf8' })) as { name?: string };
    if (map.name === name.slice(0, 15)) return id;
  }
  throw new Error(`process ${pid} holds no BPF map named ${name}`);
}

/**
 * Runs a command to its end, sampling the programs it holds every few ms.
 * What it held only between two samples is missed: a test built on this
 * proves no more than "what was seen is freed".
 */
export async function runHoldingPrograms(
  command: string,
  args: string[],
  timeoutMs = 60000,
): Promise<{ code: number | null; stdout: string; stderr: string; held: number[] }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const held = new Set<number>();
  const state = { done: false }; // set by the close event, between the loop's turns
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      state.done = true;
      resolve(code);
    }),
  );
  const deadline = Date.now() + timeoutMs;
  while (!state.done && Date.now() < deadline) {
    for (const id of heldBpfObjects(child.pid!).progs) held.add(id);
    await new Promise((r) => setTimeout(r, 2));
  }
  if (!state.done) child.kill('SIGKILL');
  return { code: await exited, stdout, stderr, held: [...held] };
}

/**
 * faultline_bpf_programs_attached against what the exporter's process holds:
 * the program names the metric lists and those of the programs it holds (both
 * sorted; they must be equal), and each series whose link count is not one
 * per online CPU for a perf event, one otherwise.
 */
export function attachedAgainstHeld(samples: readonly { name: string; labels: Record<string, string>; value: number }[], pid: number): { listed: string[]; held: string[]; wrongLinks: string[] } {
  const attached = samples.filter((s) => s.name === 'faultline_bpf_programs_attached');
  const cpus = onlineCpuCount();
  return {
    listed: attached.map((s) => s.labels.program ?? '').sort(),
    held: programNames(heldBpfObjects(pid).progs),
    wrongLinks: attached
      .filter((s) => s.value !== (s.labels.attach_point?.startsWith('perf_event/') ? cpus : 1))
      .map((s) => `${s.labels.program} at ${s.labels.attach_point}: ${s.value} links`),
  };
}
