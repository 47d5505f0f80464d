/**
 * The one module that talks to libbpf (and libc) through koffi.
 *
 * Everything exported here speaks TypeScript: objects, maps, links and ring
 * buffers are classes; pointers never leave this file. libbpf 1.1 (Debian 12)
 * is the floor: only its API is used. Pointer-returning calls return null and
 * set errno; int-returning calls return -errno.
 */
import { readFileSync } from 'node:fs';
import koffi, { type LibraryHandle } from 'koffi';
import { FaultlineError, errnoName } from '../errors.js';

type Pointer = bigint;

const libbpf = loadLibrary('libbpf.so.1', 'libbpf1');
const libc = loadLibrary('libc.so.6', 'libc6');

function loadLibrary(name: string, debianPackage: string): LibraryHandle {
  try {
    return koffi.load(name);
  } catch (err) {
    throw new FaultlineError(
      'LIBRARY_MISSING',
      `cannot load ${name}: ${(err as Error).message}; install it (apt-get install ${debianPackage})`,
    );
  }
}

/** The running kernel's BTF. */
export const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

/** struct bpf_object_open_opts of libbpf 1.x (80 bytes on 64-bit; the unnamed u32 stubs out a removed field). */
const OpenOpts = koffi.struct('faultline_bpf_object_open_opts', {
  sz: 'size_t',
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  removed_attach_prog_fd: 'uint32_t',
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
  kernel_log_buf: 'void *',
  kernel_log_size: 'size_t',
  kernel_log_level: 'uint32_t',
});
const PrintFn = koffi.proto('int faultline_libbpf_print_fn(int level, const char *fmt, void *args)');

const fn = {
  set_print: libbpf.func('void *libbpf_set_print(faultline_libbpf_print_fn *fn)'),
  major: libbpf.func('uint32_t libbpf_major_version(void)'),
  minor: libbpf.func('uint32_t libbpf_minor_version(void)'),
  num_possible_cpus: libbpf.func('int libbpf_num_possible_cpus(void)'),
  obj_open_file: libbpf.func('void *bpf_object__open_file(const char *path, const faultline_bpf_object_open_opts *opts)'),
  obj_load: libbpf.func('int bpf_object__load(void *obj)'),
  obj_close: libbpf.func('void bpf_object__close(void *obj)'),
  obj_btf: libbpf.func('void *bpf_object__btf(void *obj)'),
  find_prog: libbpf.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
  find_map: libbpf.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
  prog_set_autoload: libbpf.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
  map_set_max_entries: libbpf.func('int bpf_map__set_max_entries(void *map, uint32_t max_entries)'),
  prog_fd: libbpf.func('int bpf_program__fd(void *prog)'),
  prog_attach: libbpf.func('void *bpf_program__attach(void *prog)'),
  prog_attach_perf: libbpf.func('void *bpf_program__attach_perf_event(void *prog, int pfd)'),
  prog_attach_iter: libbpf.func('void *bpf_program__attach_iter(void *prog, void *opts)'),
  link_fd: libbpf.func('int bpf_link__fd(void *link)'),
  iter_create: libbpf.func('int bpf_iter_create(int link_fd)'),
  read: libc.func('long read(int fd, void *buf, size_t count)'),
  link_destroy: libbpf.func('int bpf_link__destroy(void *link)'),
  map_fd: libbpf.func('int bpf_map__fd(void *map)'),
  map_type: libbpf.func('int bpf_map__type(void *map)'),
  map_key_size: libbpf.func('uint32_t bpf_map__key_size(void *map)'),
  map_value_size: libbpf.func('uint32_t bpf_map__value_size(void *map)'),
  map_max_entries: libbpf.func('uint32_t bpf_map__max_entries(void *map)'),
  map_initial_value: libbpf.func('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)'),
  lookup_elem: libbpf.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  delete_elem: libbpf.func('int bpf_map_delete_elem(int fd, const void *key)'),
  update_elem: libbpf.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  lookup_batch: libbpf.func(
    'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, void *opts)',
  ),
  obj_get_info: libbpf.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
  btf_find_by_name_kind: libbpf.func('int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)'),
  btf_type_by_id: libbpf.func('void *btf__type_by_id(void *btf, uint32_t id)'),
  btf_name_by_offset: libbpf.func('const char *btf__name_by_offset(void *btf, uint32_t offset)'),
  mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)'),
  munmap: libc.func('int munmap(void *addr, size_t length)'),
  vsnprintf: libc.func('int vsnprintf(void *buf, size_t size, const char *fmt, void *args)'),
  syscall: libc.func('long syscall(long number, ...)'),
  close: libc.func('int close(int fd)'),
  capget: libc.func('int capget(void *header, void *data)'),
  capset: libc.func('int capset(void *header, void *data)'),
  prctl: libc.func('int prctl(int option, ...)'),
  fcntl: libc.func('int fcntl(int fd, int cmd, ...)'),
  setrlimit: libc.func('int setrlimit(int resource, const void *rlim)'),
  execve: libc.func('int execve(const char *path, const char **argv, const char **envp)'),
};

export type LibbpfLogLevel = 'warn' | 'info' | 'debug';
const LOG_LEVELS: LibbpfLogLevel[] = ['warn', 'info', 'debug'];

/** Lines of libbpf's messages kept for the next error: a verifier log's tail says why it refused. */
const RECENT_LINES = 60;

/** libbpf's own messages; the last lines are attached to load/attach errors. */
class LibbpfLog {
  readonly recent: string[] = [];
  sink: ((level: LibbpfLogLevel, line: string) => void) | null = null;
  /**
   * One message at most: a verifier log comes as one, and its reason is at
   * its end. Not zero-filled, so its pages cost memory only once a message
   * that long arrives (the kernel's log for one program is at most 16 MiB).
   */
  private readonly buf = Buffer.allocUnsafeSlow(16 << 20);
  private callback: Pointer | null = null;

  install(): void {
    if (this.callback !== null) return;
    this.callback = koffi.register((level: number, fmt: Pointer, args: Pointer): number => {
      try {
        const n = fn.vsnprintf(this.buf, this.buf.length, fmt, args) as number;
        const text = this.buf.subarray(0, Math.max(0, Math.min(n, this.buf.length - 1))).toString('utf8').trimEnd();
        const lvl = LOG_LEVELS[level] ?? 'debug';
        if (lvl !== 'debug') {
          // A long message (a verifier log) keeps its first line (which program) and its last ones (why).
          const lines = text.split('\n');
          this.recent.push(...(lines.length <= RECENT_LINES ? lines : [lines[0]!, `  [${lines.length - RECENT_LINES + 1} lines]`, ...lines.slice(2 - RECENT_LINES)]));
          if (this.recent.length > RECENT_LINES) this.recent.splice(0, this.recent.length - RECENT_LINES);
        }
        this.sink?.(lvl, text);
      } catch {
        // Never throw into libbpf.
      }
      return 0;
    }, koffi.pointer(PrintFn));
    fn.set_print(this.callback);
  }

  takeRecent(): string[] {
    return this.recent.splice(0, this.recent.length);
  }
}

export const libbpfLog = new LibbpfLog();

export function libbpfVersion(): string {
  return `${fn.major()}.${fn.minor()}`;
}

let possibleCpus = 0;
export function numPossibleCpus(): number {
  if (possibleCpus === 0) {
    const n = fn.num_possible_cpus() as number;
    if (n <= 0) throw new FaultlineError('CPUS_UNKNOWN', `libbpf cannot count the possible CPUs: ${errnoName(n)}`);
    possibleCpus = n;
  }
  return possibleCpus;
}

function failure(code: string, what: string, errno: number, hint: string): FaultlineError {
  return new FaultlineError(code, `${what}: ${errnoName(errno)}; ${hint}`, libbpfLog.takeRecent());
}

/**
 * Why the verifier refused a program, from libbpf's messages: which program
 * ("prog 'NAME': BPF program load failed") and the log's last line before
 * its statistics ("R1 invalid mem access 'scalar'"); null without a log.
 */
export function verifierVerdict(lines: readonly string[]): string | null {
  let end = lines.length - 1;
  while (end >= 0 && !lines[end]!.includes('-- END PROG LOAD LOG --')) end--;
  if (end < 0) return null;
  let program: string | undefined;
  for (let i = end; i >= 0 && program === undefined; i--) program = /prog '([A-Za-z0-9_]+)': BPF program load failed/.exec(lines[i]!)?.[1];
  for (let i = end - 1; i >= 0 && !lines[i]!.includes('-- BEGIN PROG LOAD LOG --'); i--) {
    const line = lines[i]!.trim();
    if (line === '' || /^(processed \d+ insns|verification time|stack depth|\[\d+ lines\])/.test(line)) continue;
    return `${program ? `${program}: ` : ''}${line}`;
  }
  return null;
}

function hintFor(errno: number): string {
  switch (Math.abs(errno)) {
    case 1:
    case 13:
      return 'needs CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8): run as root or grant them';
    case 2:
      return 'the kernel lacks this hook or type; see the libbpf messages below';
    default:
      return 'see the libbpf messages below';
  }
}

/** A variable in .rodata, found through the object's BTF. */
export interface RodataVariable {
  readonly offset: number;
  readonly size: number;
}

const BTF_KIND_DATASEC = 15;

export class BpfLink {
  private ptr: Pointer | null;

  constructor(ptr: Pointer) {
    this.ptr = ptr;
  }

  destroy(): void {
    if (this.ptr === null) return;
    fn.link_destroy(this.ptr);
    this.ptr = null;
  }

  /**
   * Runs an iterator link once and returns all it wrote (bpf_iter_create,
   * read to the end). `into` is reused, and grown while the output fills it.
   */
  readIter(into: { buffer: Buffer }): Buffer {
    if (this.ptr === null) throw new FaultlineError('BPF_CLOSED', 'the iterator link is already destroyed');
    const fd = fn.iter_create(fn.link_fd(this.ptr)) as number;
    if (fd < 0) throw failure('BPF_ITER', 'cannot start the task iterator', fd, hintFor(fd));
    let used = 0;
    let retries = 0;
    try {
      for (;;) {
        if (used === into.buffer.length) {
          const grown = Buffer.allocUnsafe(into.buffer.length * 2);
          into.buffer.copy(grown, 0, 0, used);
          into.buffer = grown;
        }
        const n = Number(fn.read(fd, into.buffer.subarray(used), into.buffer.length - used));
        if (n < 0) {
          const errno = koffi.errno();
          // EINTR, EAGAIN: the kernel asks to be called again (the task list changed under the iterator); a bounded number of times.
          if ((errno === 4 || errno === 11) && ++retries <= 100) continue;
          throw failure('BPF_ITER', 'cannot read the task iterator', -errno, hintFor(-errno));
        }
        if (n === 0) return into.buffer.subarray(0, used);
        used += n;
      }
    } finally {
      fn.close(fd);
    }
  }
}

export interface ProgramRunStats {
  readonly id: number;
  readonly runTimeNs: bigint;
  readonly runCount: bigint;
}

export class BpfObject {
  private ptr: Pointer | null;
  readonly path: string;

  private constructor(ptr: Pointer, path: string) {
    this.ptr = ptr;
    this.path = path;
  }

  static open(path: string): BpfObject {
    libbpfLog.install();
    // The kernel's BTF named as a file: libbpf then never looks through the kernel modules' BTF for a type
    // vmlinux lacks (a CO-RE existence check such as struct mm_rss_stat on 6.2+), a search that needs
    // CAP_SYS_ADMIN and, in libbpf 1.1, fails the whole load without it (after the capability drop).
    const ptr = fn.obj_open_file(path, { sz: koffi.sizeof(OpenOpts), btf_custom_path: VMLINUX_BTF }) as Pointer | null;
    if (ptr === null) {
      const errno = koffi.errno();
      if (errno === 2) {
        throw new FaultlineError('BPF_OBJECT_MISSING', `BPF object ${path} not found; build it with \`npm run build\``);
      }
      throw failure('BPF_OPEN', `cannot open BPF object ${path}`, errno, 'rebuild it with `npm run build`');
    }
    return new BpfObject(ptr, path);
  }

  private get handle(): Pointer {
    if (this.ptr === null) throw new FaultlineError('BPF_CLOSED', `BPF object ${this.path} is already closed`);
    return this.ptr;
  }

  private program(name: string): Pointer {
    const prog = fn.find_prog(this.handle, name) as Pointer | null;
    if (prog === null) {
      throw new FaultlineError('BPF_PROGRAM_MISSING', `program ${name} not in ${this.path}; rebuild with \`npm run build\``);
    }
    return prog;
  }

  setAutoload(program: string, autoload: boolean): void {
    const rc = fn.prog_set_autoload(this.program(program), autoload) as number;
    if (rc < 0) throw failure('BPF_CONFIGURE', `cannot set autoload of ${program}`, rc, hintFor(rc));
  }

  /** Sizes a map before load. */
  setMaxEntries(map: string, entries: number): void {
    const rc = fn.map_set_max_entries(this.mapPointer(map), entries) as number;
    if (rc < 0) throw failure('BPF_CONFIGURE', `cannot size map ${map} to ${entries} entries`, rc, hintFor(rc));
  }

  /** Offsets of .rodata's variables, by name, from the object's BTF. */
  rodataLayout(): Map<string, RodataVariable> {
    const btf = fn.obj_btf(this.handle) as Pointer | null;
    const layout = new Map<string, RodataVariable>();
    if (btf === null) throw new FaultlineError('BPF_NO_BTF', `${this.path} carries no BTF; rebuild it with clang -g`);
    const id = fn.btf_find_by_name_kind(btf, '.rodata', BTF_KIND_DATASEC) as number;
    if (id < 0) return layout;
    const sec = fn.btf_type_by_id(btf, id) as Pointer;
    const vlen = (koffi.decode(sec, 4, 'uint32_t') as number) & 0xffff;
    for (let i = 0; i < vlen; i++) {
      const [typeId, offset, size] = koffi.decode(sec, 12 + i * 12, 'uint32_t', 3) as number[];
      const variable = fn.btf_type_by_id(btf, typeId!) as Pointer;
      const name = fn.btf_name_by_offset(btf, koffi.decode(variable, 'uint32_t') as number) as string;
      layout.set(name, { offset: offset!, size: size! });
    }
    return layout;
  }

  /** Writes .rodata before load; the kernel freezes it at load. */
  writeRodata(write: (rodata: Buffer) => void): void {
    const map = this.mapPointer('.rodata');
    const size = [0];
    const ptr = fn.map_initial_value(map, size) as Pointer | null;
    if (ptr === null) throw new FaultlineError('BPF_CONFIGURE', `${this.path} has no writable .rodata`);
    write(Buffer.from(koffi.view(ptr, size[0]!)));
  }

  load(): void {
    const rc = fn.obj_load(this.handle) as number;
    if (rc < 0) {
      // The verifier's refusal comes as EACCES or EINVAL: its log says why, better than the errno.
      const verdict = verifierVerdict(libbpfLog.recent);
      throw failure('BPF_LOAD', `the kernel refused to load ${this.path}`, rc, verdict ? `the verifier: ${verdict}` : hintFor(rc));
    }
    libbpfLog.takeRecent();
  }

  attach(program: string): BpfLink {
    const link = fn.prog_attach(this.program(program)) as Pointer | null;
    if (link === null) {
      const errno = koffi.errno();
      throw failure('BPF_ATTACH', `cannot attach ${program}`, errno, hintFor(errno));
    }
    return new BpfLink(link);
  }

  /** Attaches an iterator program (SEC("iter/...")); read it with BpfLink.readIter. */
  attachIter(program: string): BpfLink {
    const link = fn.prog_attach_iter(this.program(program), null) as Pointer | null;
    if (link === null) {
      const errno = koffi.errno();
      throw failure('BPF_ATTACH', `cannot attach the iterator ${program}`, errno, hintFor(errno));
    }
    return new BpfLink(link);
  }

  /** Attaches to an open perf event; the link owns (and closes) the perf fd from here on. */
  attachPerfEvent(program: string, perfFd: number): BpfLink {
    const link = fn.prog_attach_perf(this.program(program), perfFd) as Pointer | null;
    if (link === null) {
      const errno = koffi.errno();
      fn.close(perfFd);
      throw failure('BPF_ATTACH', `cannot attach ${program} to a perf event`, errno, hintFor(errno));
    }
    return new BpfLink(link);
  }

  runStats(program: string): ProgramRunStats | null {
    const fd = fn.prog_fd(this.program(program)) as number;
    if (fd < 0) return null;
    const info = Buffer.alloc(PROG_INFO_SIZE);
    const rc = fn.obj_get_info(fd, info, [info.length]) as number;
    if (rc < 0) return null;
    return {
      id: info.readUInt32LE(PROG_INFO_ID),
      runTimeNs: info.readBigUInt64LE(PROG_INFO_RUN_TIME_NS),
      runCount: info.readBigUInt64LE(PROG_INFO_RUN_CNT),
    };
  }

  private mapPointer(name: string): Pointer {
    const map = fn.find_map(this.handle, name) as Pointer | null;
    if (map === null) throw new FaultlineError('BPF_MAP_MISSING', `map ${name} not in ${this.path}; rebuild with \`npm run build\``);
    return map;
  }

  map(name: string): BpfMap {
    const map = this.mapPointer(name);
    return new BpfMap(name, {
      fd: fn.map_fd(map) as number,
      type: fn.map_type(map) as number,
      keySize: fn.map_key_size(map) as number,
      valueSize: fn.map_value_size(map) as number,
      maxEntries: fn.map_max_entries(map) as number,
    });
  }

  close(): void {
    if (this.ptr === null) return;
    fn.obj_close(this.ptr);
    this.ptr = null;
  }
}

// struct bpf_prog_info (include/uapi/linux/bpf.h): offsets stable since 5.1.
const PROG_INFO_SIZE = 232;
const PROG_INFO_ID = 4;
const PROG_INFO_RUN_TIME_NS = 192;
const PROG_INFO_RUN_CNT = 200;

const BPF_MAP_TYPE_PERCPU_HASH = 5;
const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
const BPF_MAP_TYPE_LRU_PERCPU_HASH = 10;
const ENOENT = 2;

export interface MapShape {
  readonly fd: number;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
}

export class BpfMap {
  readonly name: string;
  readonly shape: MapShape;
  /** Bytes of one lookup result: per-CPU maps return one 8-aligned value per possible CPU. */
  readonly valueBytes: number;
  readonly perCpu: boolean;

  constructor(name: string, shape: MapShape) {
    this.name = name;
    this.shape = shape;
    this.perCpu = [BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_PERCPU_HASH].includes(shape.type);
    this.valueBytes = this.perCpu ? Math.ceil(shape.valueSize / 8) * 8 * numPossibleCpus() : shape.valueSize;
  }

  lookup(key: Buffer): Buffer | null {
    const value = Buffer.alloc(this.valueBytes);
    const rc = fn.lookup_elem(this.shape.fd, key, value) as number;
    if (rc === -ENOENT) return null;
    if (rc < 0) throw failure('BPF_MAP_READ', `cannot read map ${this.name}`, rc, hintFor(rc));
    return value;
  }

  delete(key: Buffer): boolean {
    const rc = fn.delete_elem(this.shape.fd, key) as number;
    if (rc === -ENOENT) return false;
    if (rc < 0) throw failure('BPF_MAP_WRITE', `cannot delete from map ${this.name}`, rc, hintFor(rc));
    return true;
  }

  update(key: Buffer, value: Buffer): void {
    const rc = fn.update_elem(this.shape.fd, key, value, 0) as number;
    if (rc < 0) throw failure('BPF_MAP_WRITE', `cannot write map ${this.name}`, rc, hintFor(rc));
  }

  /** Slots 0 to `slots - 1` of an array of u64 counters, each summed over CPUs (a per-CPU array's way of counting). */
  sumCounters(slots: number): bigint[] {
    const key = Buffer.alloc(4);
    const sums: bigint[] = [];
    for (let slot = 0; slot < slots; slot++) {
      key.writeUInt32LE(slot);
      const value = this.lookup(key);
      let sum = 0n;
      if (value) for (let off = 0; off < value.length; off += 8) sum += value.readBigUInt64LE(off);
      sums.push(sum);
    }
    return sums;
  }

  private batch: { keys: Buffer; values: Buffer; inBatch: Buffer; outBatch: Buffer } | null = null;

  /**
   * Every entry, with bpf_map_lookup_batch: a few syscalls for the whole map.
   * The buffers are reused: they are valid until the next call.
   */
  lookupAll(): { keys: Buffer; values: Buffer; count: number } {
    const { keySize, maxEntries, fd } = this.shape;
    this.batch ??= {
      keys: Buffer.alloc(keySize * maxEntries),
      values: Buffer.alloc(this.valueBytes * maxEntries),
      inBatch: Buffer.alloc(Math.max(8, keySize)),
      outBatch: Buffer.alloc(Math.max(8, keySize)),
    };
    const { keys, values, inBatch, outBatch } = this.batch;
    let total = 0;
    let first = true;
    while (total < maxEntries) {
      const count = [maxEntries - total];
      const rc = fn.lookup_batch(
        fd,
        first ? null : inBatch,
        outBatch,
        keys.subarray(total * keySize),
        values.subarray(total * this.valueBytes),
        count,
        null,
      ) as number;
      if (rc < 0 && rc !== -ENOENT) throw failure('BPF_MAP_READ', `cannot batch-read map ${this.name}`, rc, hintFor(rc));
      total += count[0]!;
      if (rc === -ENOENT) break;
      outBatch.copy(inBatch);
      first = false;
    }
    return { keys, values, count: total };
  }
}

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = 0xffffffffffffffffn;
/* include/uapi/linux/bpf.h: a record's header word. */
const RINGBUF_BUSY_BIT = 0x80000000;
const RINGBUF_DISCARD_BIT = 0x40000000;
const RINGBUF_HDR_SZ = 8;
/** Records read between two releases of their space to the kernel (a few hundred KiB of an 8 MiB ring at most). */
const RELEASE_EVERY = 256;

/**
 * A BPF ring buffer read straight from its mapping, in JS (~24 ns a record,
 * against 325-612 ns through libbpf's callback per record): the consumer
 * page read-write at offset 0, then the producer page and the data area,
 * mapped twice in a row so that a record that wraps reads as one piece.
 * `consume(max)` reads at most `max` records, so that a storm of records
 * cannot hold the event loop. `onRecord` gets the ring itself, and where
 * the record lies in it (no copy, no view object per record): decode it
 * during the call. It must not throw; an exception is caught and counted.
 */
/** A ring record where it lies: `length` bytes at `offset` of `ring`, valid during the call only. */
export type RecordHandler = (ring: Buffer, offset: number, length: number) => void;

export class RingBuffer {
  private consumerMap: Pointer | null;
  private producerMap: Pointer | null;
  private readonly pageSize: number;
  private readonly size: number;
  private readonly consumerPos: BigUint64Array;
  private readonly producerPos: BigUint64Array;
  private readonly data: Buffer;
  private readonly header: Uint32Array;
  callbackErrors = 0;
  lastCallbackError: Error | null = null;

  constructor(
    map: BpfMap,
    private readonly onRecord: RecordHandler,
    pageSize: number,
  ) {
    this.pageSize = pageSize;
    this.size = map.shape.maxEntries;
    const consumer = fn.mmap(null, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, map.shape.fd, 0) as Pointer;
    if (koffi.address(consumer) === MAP_FAILED) {
      const errno = koffi.errno();
      throw failure('BPF_RINGBUF', `cannot map ring buffer ${map.name}`, -errno, hintFor(-errno));
    }
    const producer = fn.mmap(null, pageSize + 2 * this.size, PROT_READ, MAP_SHARED, map.shape.fd, pageSize) as Pointer;
    if (koffi.address(producer) === MAP_FAILED) {
      const errno = koffi.errno();
      fn.munmap(consumer, pageSize);
      throw failure('BPF_RINGBUF', `cannot map ring buffer ${map.name}`, -errno, hintFor(-errno));
    }
    this.consumerMap = consumer;
    this.producerMap = producer;
    this.consumerPos = new BigUint64Array(koffi.view(consumer, 8));
    const area = koffi.view(producer, pageSize + 2 * this.size);
    this.producerPos = new BigUint64Array(area, 0, 1);
    this.data = Buffer.from(area, pageSize, 2 * this.size);
    this.header = new Uint32Array(area, pageSize, (2 * this.size) / 4);
  }

  /** Reads at most `max` records available now, without waiting. Returns how many it read. */
  consume(max = Infinity): number {
    if (this.consumerMap === null) return 0;
    const mask = this.size - 1;
    // Positions grow without wrapping: Numbers are exact up to 2^53 bytes, years of records.
    let cons = Number(Atomics.load(this.consumerPos, 0));
    let prod = Number(Atomics.load(this.producerPos, 0));
    let n = 0;
    while (n < max) {
      if (cons >= prod) {
        prod = Number(Atomics.load(this.producerPos, 0));
        if (cons >= prod) break;
      }
      const off = cons & mask;
      const word = Atomics.load(this.header, off / 4);
      if (word & RINGBUF_BUSY_BIT) break; // reserved, not yet submitted
      const len = word & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT);
      if (!(word & RINGBUF_DISCARD_BIT)) {
        try {
          this.onRecord(this.data, off + RINGBUF_HDR_SZ, len);
        } catch (err) {
          this.callbackErrors++;
          this.lastCallbackError = err as Error;
        }
        n++;
      }
      cons += (len + RINGBUF_HDR_SZ + 7) & ~7;
      // Space goes back to the kernel every RELEASE_EVERY records (a BigInt per record cost ~100 ns) and at the end.
      if (n % RELEASE_EVERY === 0) Atomics.store(this.consumerPos, 0, BigInt(cons));
    }
    Atomics.store(this.consumerPos, 0, BigInt(cons));
    return n;
  }

  /** Unmaps the ring; consume() reads nothing after this. */
  free(): void {
    if (this.consumerMap !== null) fn.munmap(this.consumerMap, this.pageSize);
    if (this.producerMap !== null) fn.munmap(this.producerMap, this.pageSize + 2 * this.size);
    this.consumerMap = null;
    this.producerMap = null;
  }
}

// include/uapi/linux/perf_event.h
const PERF_TYPE_SOFTWARE = 1;
const PERF_ATTR_SIZE = 128;
const PERF_FLAG_FD_CLOEXEC = 8;
const SYS_PERF_EVENT_OPEN: Record<string, number> = { x64: 298, arm64: 241 };

export const PERF_COUNT_SW_PAGE_FAULTS = 2;
export const PERF_COUNT_SW_PAGE_FAULTS_MIN = 5;
export const PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6;

/** perf_event_open of a software event on one CPU, all tasks, sampling every event: the descriptor, or -errno. */
function perfEventOpen(config: number, cpu: number): number {
  const nr = SYS_PERF_EVENT_OPEN[process.arch];
  if (nr === undefined) throw new FaultlineError('ARCH_UNSUPPORTED', `perf_event_open: no syscall number known for ${process.arch}`);
  const attr = Buffer.alloc(PERF_ATTR_SIZE);
  attr.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
  attr.writeUInt32LE(PERF_ATTR_SIZE, 4);
  attr.writeBigUInt64LE(BigInt(config), 8);
  attr.writeBigUInt64LE(1n, 16); // sample_period: every fault
  const fd = Number(fn.syscall(nr, 'void *', attr, 'int', -1, 'int', cpu, 'int', -1, 'unsigned long', PERF_FLAG_FD_CLOEXEC));
  return fd < 0 ? -koffi.errno() : fd;
}

const EPERM = 1;
const EACCES = 13;

/** Opens a software perf event on one CPU, all tasks, sampling every event. */
export function openSoftwarePerfEvent(config: number, cpu: number): number {
  const fd = perfEventOpen(config, cpu);
  if (fd < 0) {
    const errno = -fd;
    throw new FaultlineError(
      'PERF_EVENT_OPEN',
      `cannot open the software perf event ${config} on CPU ${cpu}: ${errnoName(errno)}; ${
        errno === EPERM || errno === EACCES
          ? 'needs CAP_PERFMON (or root), and kernel.perf_event_paranoid may forbid it'
          : 'the kernel may lack CONFIG_PERF_EVENTS'
      }`,
    );
  }
  return fd;
}

// include/uapi/linux/bpf.h
const SYS_BPF: Record<string, number> = { x64: 321, arm64: 280 };
const BPF_ENABLE_STATS = 32;
const BPF_STATS_RUN_TIME = 0;

/** Whether kernel.bpf_stats_enabled is on: someone holds the run-time statistics on for the whole host. */
export function bpfStatsOnHostWide(): boolean {
  try {
    return Number(readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim()) > 0;
  } catch {
    return false; // not readable: report off
  }
}

/**
 * Turns on the kernel's BPF run-time statistics for as long as the returned
 * handle stays open (BPF_ENABLE_STATS); closing it turns them off again
 * unless someone else holds them on.
 */
export function enableBpfStats(): BpfStatsHandle {
  const nr = SYS_BPF[process.arch];
  if (nr === undefined) throw new FaultlineError('ARCH_UNSUPPORTED', `bpf(): no syscall number known for ${process.arch}`);
  const attr = Buffer.alloc(16);
  attr.writeUInt32LE(BPF_STATS_RUN_TIME, 0);
  const fd = Number(fn.syscall(nr, 'int', BPF_ENABLE_STATS, 'void *', attr, 'unsigned int', attr.length));
  if (fd < 0) {
    const errno = koffi.errno();
    throw new FaultlineError('BPF_STATS', `cannot enable BPF run-time statistics: ${errnoName(errno)}; needs CAP_SYS_ADMIN and Linux >= 5.8`);
  }
  return statsHandle(fd);
}

export interface BpfStatsHandle {
  readonly fd: number;
  close(): void;
}

/** The statistics handle a previous image of this process opened and passed on (see execWithCapabilities). */
export function adoptBpfStats(fd: number): BpfStatsHandle {
  return statsHandle(fd);
}

function statsHandle(fd: number): BpfStatsHandle {
  let open = true;
  return {
    fd,
    close() {
      if (open) fn.close(fd);
      open = false;
    },
  };
}

// include/uapi/linux/capability.h, prctl.h, securebits.h; asm-generic/fcntl.h, resource.h
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const PR_CAPBSET_DROP = 24;
const PR_GET_SECUREBITS = 27;
const PR_SET_SECUREBITS = 28;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_RAISE = 2;
const SECBIT_NOROOT = 1 << 0;
const SECBIT_NOROOT_LOCKED = 1 << 1;
const F_SETFD = 2;
const RLIMIT_MEMLOCK = 8;

/** capget/capset's header: version 3 (two 32-bit words per set), this thread. */
function capHeader(): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  return header;
}

/** What the running process becomes: re-executed with these capabilities and nothing else. */
export interface CapabilityDrop {
  /** Capability numbers kept in the effective, permitted, inheritable and ambient sets. */
  readonly keep: readonly number[];
  /** Capability numbers to drop from the bounding set (needs CAP_SETPCAP). */
  readonly dropBounding: readonly number[];
  /** Set SECBIT_NOROOT (locked): uid 0 gains no capabilities by executing a program (needs CAP_SETPCAP). */
  readonly noRoot: boolean;
  /** Descriptors the new image inherits, besides 0, 1 and 2. */
  readonly inheritFds: readonly number[];
  readonly path: string;
  readonly argv: readonly string[];
  readonly env: readonly string[];
}

function prctl(what: string, option: number, arg2 = 0, arg3 = 0): void {
  if (Number(fn.prctl(option, 'unsigned long', arg2, 'unsigned long', arg3, 'unsigned long', 0, 'unsigned long', 0)) < 0) {
    throw new FaultlineError('CAPABILITIES', `cannot ${what}: ${errnoName(koffi.errno())}; --keep-capabilities runs without dropping any`);
  }
}

/**
 * Gives up capabilities for good and re-executes the process image.
 *
 * Linux keeps capabilities per thread, and Node starts its threads (one of
 * them with every signal blocked) before any JavaScript runs, so no call made
 * here could reach them all. execve can: it ends every other thread, and the
 * new image starts from this thread's credentials alone. Never returns.
 */
export function execWithCapabilities(drop: CapabilityDrop): never {
  for (const fd of [0, 1, 2, ...drop.inheritFds]) {
    // Node opens with O_CLOEXEC (and marks its stdio so): the new image must keep these.
    if (Number(fn.fcntl(fd, F_SETFD, 'int', 0)) < 0 && fd > 2) {
      throw new FaultlineError('CAPABILITIES', `cannot pass descriptor ${fd} on: ${errnoName(koffi.errno())}`);
    }
  }
  // Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK, and raising it needs CAP_SYS_RESOURCE:
  // raise it now (rlimits survive execve). Best effort: later kernels ignore it.
  const rlim = Buffer.alloc(16, 0xff);
  fn.setrlimit(RLIMIT_MEMLOCK, rlim);
  if (drop.noRoot) {
    const bits = Number(fn.prctl(PR_GET_SECUREBITS, 'unsigned long', 0, 'unsigned long', 0, 'unsigned long', 0, 'unsigned long', 0));
    prctl('set SECBIT_NOROOT', PR_SET_SECUREBITS, Math.max(bits, 0) | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED);
  }
  for (const cap of drop.dropBounding) prctl(`drop capability ${cap} from the bounding set`, PR_CAPBSET_DROP, cap);
  const header = capHeader();
  const data = Buffer.alloc(24); // two { effective, permitted, inheritable } words: capabilities 0-31 and 32-63
  for (const cap of drop.keep) {
    const word = cap >> 5;
    const bit = (1 << (cap & 31)) >>> 0;
    for (const field of [0, 4, 8]) data.writeUInt32LE((data.readUInt32LE(word * 12 + field) | bit) >>> 0, word * 12 + field);
  }
  if (Number(fn.capset(header, data)) < 0) throw new FaultlineError('CAPABILITIES', `cannot lower capabilities (capset): ${errnoName(koffi.errno())}; --keep-capabilities runs without dropping any`);
  for (const cap of drop.keep) prctl(`raise ambient capability ${cap}`, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap);
  prctl('set no_new_privs', PR_SET_NO_NEW_PRIVS, 1);
  fn.execve(drop.path, [...drop.argv, null], [...drop.env, null]);
  throw new FaultlineError('CAPABILITIES', `cannot re-execute ${drop.path} with fewer capabilities: ${errnoName(koffi.errno())}; --keep-capabilities runs without dropping any`);
}

const CAP_SYS_ADMIN = 21;

/**
 * Whether this kernel lets perf events be opened only with CAP_SYS_ADMIN.
 * Debian's and Ubuntu's kernels add kernel.perf_event_paranoid=3 (their
 * default), at which perf_event_open ignores CAP_PERFMON. Tried once, on CPU
 * cpu, with CAP_SYS_ADMIN lowered from this thread's effective set and then
 * raised again. False when CAP_SYS_ADMIN is not held (nothing to learn).
 */
export function perfEventsNeedSysAdmin(cpu: number): boolean {
  const header = capHeader();
  const saved = Buffer.alloc(24);
  if (Number(fn.capget(header, saved)) < 0 || !(saved.readUInt32LE(0) & (1 << CAP_SYS_ADMIN))) return false;
  const lowered = Buffer.from(saved);
  lowered.writeUInt32LE((saved.readUInt32LE(0) & ~(1 << CAP_SYS_ADMIN)) >>> 0, 0);
  if (Number(fn.capset(header, lowered)) < 0) return false;
  let fd = -1;
  let openFailed: Error | null = null;
  try {
    fd = perfEventOpen(PERF_COUNT_SW_PAGE_FAULTS_MAJ, cpu);
  } catch (err) {
    openFailed = err instanceof Error ? err : new Error(String(err));
  }
  // The capability comes back whatever happened: failing that is the worse error.
  if (Number(fn.capset(header, saved)) < 0) throw new FaultlineError('CAPABILITIES', `cannot restore CAP_SYS_ADMIN (capset): ${errnoName(koffi.errno())}`);
  if (openFailed !== null) throw openFailed;
  if (fd >= 0) fn.close(fd);
  return fd === -EPERM || fd === -EACCES; // refused, not missing
}
