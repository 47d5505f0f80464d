/**
 * Names the cgroups the kernel reports by id. A cgroup's id is its kernfs
 * node id, which is the inode number of its directory, so walking the
 * hierarchy and stat()ing directories maps ids to paths. The label faultline
 * uses is the memory cgroup: the v1 memory hierarchy where memory is still on
 * v1, else the unified (v2) hierarchy. Paths are remembered after the cgroup
 * is gone, so a kill is still named when its cgroup was removed by scrape time.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupMounts {
  /** Mount point of the unified (v2) hierarchy, if mounted. */
  readonly unified: string | null;
  /** Mount point of the v1 hierarchy with the memory controller, if any. */
  readonly memoryV1: string | null;
}

/** Finds cgroup mounts in /proc/self/mountinfo text. Pure. */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  let unified: string | null = null;
  let memoryV1: string | null = null;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4];
    const [fstype, , superOptions = ''] = right.split(' ');
    if (!mountPoint) continue;
    if (fstype === 'cgroup2' && unified === null) unified = mountPoint;
    if (fstype === 'cgroup' && superOptions.split(',').includes('memory') && memoryV1 === null) memoryV1 = mountPoint;
  }
  return { unified, memoryV1 };
}

export interface CgroupIds {
  readonly cgroupId: bigint;
  readonly memcgId: bigint;
}

/** How many paths to remember; beyond that the oldest are forgotten. */
const MAX_REMEMBERED = 20000;
/** Rescan at most this often when an id is unknown. */
const RESCAN_INTERVAL_MS = 1000;

/** Which hierarchy names cgroups: `memory` (v1 memory where mounted, else unified) or `unified` (always v2). */
export type CgroupHierarchy = 'memory' | 'unified';

export class CgroupNames {
  readonly mounts: CgroupMounts;
  /** True when labels come from the v1 memory hierarchy. */
  readonly memoryOnV1: boolean;
  private readonly paths = new Map<bigint, string>();
  /** Ids a rescan did not find; they rescan again at most once a second. */
  private readonly missed = new Set<bigint>();
  private lastScan = 0;

  constructor(
    mounts: CgroupMounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')),
    hierarchy: CgroupHierarchy = 'memory',
  ) {
    this.mounts = mounts;
    this.memoryOnV1 = hierarchy === 'memory' && mounts.memoryV1 !== null;
  }

  /** The mount point of the naming hierarchy, or null. */
  get root(): string | null {
    return this.memoryOnV1 ? this.mounts.memoryV1 : this.mounts.unified;
  }

  /** The id of a cgroup given by its path in the naming hierarchy, and whether it is a memory (v1) id. */
  idOfPath(path: string): { id: bigint; memcg: boolean } {
    const root = this.root;
    if (!root) throw new Error('no cgroup hierarchy is mounted');
    const dir = join(root, path);
    let ino: bigint;
    try {
      ino = statSync(dir, { bigint: true }).ino;
    } catch (err) {
      throw new Error(`no cgroup ${path} under ${root} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    return { id: ino, memcg: this.memoryOnV1 };
  }

  /** The id that names a record's cgroup on this host. */
  idOf(ids: CgroupIds): bigint {
    return this.memoryOnV1 ? ids.memcgId : ids.cgroupId;
  }

  /**
   * The cgroup's path (`/` for the root), or `""` when unknown. A new id
   * rescans the hierarchy at once (so a new cgroup is named from its first
   * sample); an id a rescan did not find rescans at most once a second, or at
   * once with `rescanNow` (for rare events such as OOM kills).
   */
  pathOf(ids: CgroupIds, rescanNow = false): string {
    const id = this.idOf(ids);
    if (id === 0n) return '';
    let path = this.paths.get(id);
    if (path === undefined && (rescanNow || !this.missed.has(id) || Date.now() - this.lastScan >= RESCAN_INTERVAL_MS)) {
      this.scan();
      path = this.paths.get(id);
      if (path === undefined) {
        if (this.missed.size > MAX_REMEMBERED) this.missed.clear();
        this.missed.add(id);
      }
    }
    return path ?? '';
  }

  /** Whether a cgroup still exists (its directory is there with the same inode); true when it cannot tell. */
  exists(ids: CgroupIds): boolean {
    const id = this.idOf(ids);
    const root = this.root;
    if (id === 0n || !root) return true;
    const path = this.pathOf(ids, true);
    if (!path) return false;
    try {
      return statSync(join(root, path), { bigint: true }).ino === id;
    } catch {
      return false;
    }
  }

  /** Walks the hierarchy and records every directory's inode as a cgroup id. */
  scan(): void {
    this.lastScan = Date.now();
    const root = this.root;
    if (!root) return;
    const walk = (dir: string, rel: string): void => {
      let ino: bigint;
      try {
        ino = statSync(dir, { bigint: true }).ino;
      } catch {
        return; // removed while we walked
      }
      this.remember(ino, rel || '/');
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name), `${rel}/${e.name}`);
    };
    walk(root, '');
  }

  private remember(id: bigint, path: string): void {
    this.paths.delete(id);
    this.paths.set(id, path);
    if (this.paths.size > MAX_REMEMBERED) this.paths.delete(this.paths.keys().next().value!);
  }
}
