/**
 * The one module that imports bun:ffi: bindings to libbpf (libbpf.so.1) and
 * the few libc calls around it. Which libbpf (the copy embedded in a compiled
 * executable, or the system's) is library-loader.ts's decision; the native
 * calls it makes (memfd_create, dlopen) are here.
 *
 * Only symbols present in libbpf 1.1 (Debian 12's libbpf1) are used. Every
 * pointer and buffer stays inside src/bpf: callers get numbers, Uint8Arrays and
 * opaque handles. Nothing here blocks: no poll() with a timeout, only
 * non-blocking consume and batch calls whose work is bounded by their count.
 */
import { CString, dlopen, FFIType, JSCallback, ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { readFileSync } from "node:fs";
import { embeddedLibraries } from "./embedded-libraries.ts";
import { BpfError, errnoName } from "./errors.ts";
import { describeLibbpfSource, locateLibbpf, parseLibbpfChoice, type LibbpfOrigin, type NativeLibraries } from "./library-loader.ts";

const { i32, u32, ptr: p, u64: usize, cstring } = FFIType;

const libbpfSymbols = {
  libbpf_major_version: { args: [], returns: u32 },
  libbpf_minor_version: { args: [], returns: u32 },
  libbpf_set_print: { args: [p], returns: p },
  libbpf_get_error: { args: [p], returns: i32 },
  libbpf_num_possible_cpus: { args: [], returns: i32 },
  bpf_object__open_mem: { args: [p, usize, p], returns: p },
  bpf_object__load: { args: [p], returns: i32 },
  bpf_object__close: { args: [p], returns: FFIType.void },
  bpf_object__find_program_by_name: { args: [p, cstring], returns: p },
  bpf_object__find_map_by_name: { args: [p, cstring], returns: p },
  bpf_program__fd: { args: [p], returns: i32 },
  bpf_program__set_autoload: { args: [p, FFIType.bool], returns: i32 },
  bpf_map__fd: { args: [p], returns: i32 },
  bpf_map__set_max_entries: { args: [p, u32], returns: i32 },
  bpf_map__set_initial_value: { args: [p, p, usize], returns: i32 },
  libbpf_probe_bpf_helper: { args: [i32, i32, p], returns: i32 },
  bpf_map__max_entries: { args: [p], returns: u32 },
  bpf_map__inner_map: { args: [p], returns: p },
  bpf_map__set_type: { args: [p, i32], returns: i32 },
  bpf_map__key_size: { args: [p], returns: u32 },
  bpf_map__value_size: { args: [p], returns: u32 },
  bpf_map_lookup_elem: { args: [i32, p, p], returns: i32 },
  bpf_map_update_elem: { args: [i32, p, p, FFIType.u64], returns: i32 },
  bpf_map_delete_elem: { args: [i32, p], returns: i32 },
  bpf_map_get_next_key: { args: [i32, p, p], returns: i32 },
  bpf_map_lookup_and_delete_batch: { args: [i32, p, p, p, p, p, p], returns: i32 },
  bpf_map_lookup_batch: { args: [i32, p, p, p, p, p, p], returns: i32 },
  bpf_map_create: { args: [i32, cstring, u32, u32, u32, p], returns: i32 },
  bpf_link_create: { args: [i32, i32, i32, p], returns: i32 },
  bpf_tc_hook_create: { args: [p], returns: i32 },
  bpf_tc_hook_destroy: { args: [p], returns: i32 },
  bpf_tc_attach: { args: [p, p], returns: i32 },
  bpf_tc_detach: { args: [p, p], returns: i32 },
  bpf_tc_query: { args: [p, p], returns: i32 },
  bpf_prog_test_run_opts: { args: [i32, p], returns: i32 },
  bpf_prog_query: { args: [i32, i32, u32, p, p, p], returns: i32 },
  ring_buffer__new: { args: [i32, p, p, p], returns: p },
  ring_buffer__consume: { args: [p], returns: i32 },
  ring_buffer__free: { args: [p], returns: FFIType.void },
} as const;

const libcSymbols = {
  close: { args: [i32], returns: i32 },
  mmap: { args: [p, usize, i32, i32, i32, FFIType.i64], returns: FFIType.i64_fast },
  munmap: { args: [p, usize], returns: i32 },
  getpagesize: { args: [], returns: i32 },
  __errno_location: { args: [], returns: p },
  clock_gettime: { args: [i32, p], returns: i32 },
  vsnprintf: { args: [p, usize, p, p], returns: i32 },
  memfd_create: { args: [p, u32], returns: i32 },
  write: { args: [i32, p, usize], returns: FFIType.i64 },
  socket: { args: [i32, i32, i32], returns: i32 },
  getsockopt: { args: [i32, i32, i32, p, p], returns: i32 },
  send: { args: [i32, p, usize, i32], returns: FFIType.i64 },
  recv: { args: [i32, p, usize, i32], returns: FFIType.i64 },
} as const;

const dlSymbols = {
  dlopen: { args: [p, i32], returns: p },
  dlerror: { args: [], returns: cstring },
  dlinfo: { args: [p, i32, p], returns: i32 },
} as const;

function openLibc() {
  return dlopen("libc.so.6", libcSymbols).symbols;
}
function openDl() {
  // glibc 2.34 moved the dl* functions into libc.so.6; before, they are libdl.so.2's.
  try {
    return dlopen("libc.so.6", dlSymbols).symbols;
  } catch {
    return dlopen("libdl.so.2", dlSymbols).symbols;
  }
}
type Libbpf = ReturnType<typeof dlopen<typeof libbpfSymbols>>["symbols"];
let libbpf: Libbpf | undefined;
let libbpfFrom: LibbpfOrigin | undefined;
let libc: ReturnType<typeof openLibc> | undefined;
let dl: ReturnType<typeof openDl> | undefined;

/**
 * Loads libbpf where NETFLOW_LIBBPF and library-loader.ts say, then binds its
 * symbols. A missing symbol means a libbpf older than 1.1.
 */
function openLibbpf(): { symbols: Libbpf; origin: LibbpfOrigin } {
  const location = locateLibbpf({ choice: parseLibbpfChoice(process.env.NETFLOW_LIBBPF), embedded: embeddedLibraries, native: nativeLibraries });
  try {
    return { symbols: dlopen(location.path, libbpfSymbols).symbols, origin: { source: location.source, skipped: location.skipped } };
  } catch (cause) {
    const what = location.source.kind === "system" ? "libbpf.so.1" : location.source.kind === "path" ? location.path : `the ${describeLibbpfSource(location.source)} libbpf`;
    throw new BpfError(`loading ${what}`, "libbpf is not installed or too old (need libbpf 1.1 or newer)", "install it: apt-get install libbpf1", {
      cause,
    });
  } finally {
    location.release();
  }
}

function bpf(): Libbpf {
  if (!libbpf) {
    const opened = openLibbpf();
    libbpf = opened.symbols;
    libbpfFrom = opened.origin;
    installPrint(libbpf);
  }
  return libbpf;
}

function c(): ReturnType<typeof openLibc> {
  libc ??= openLibc();
  return libc;
}

// ---- loading libraries (for library-loader.ts) -------------------------------------

const MFD_CLOEXEC = 0x1; // include/uapi/linux/memfd.h
const MFD_EXEC = 0x10; // 6.3+: executable even where vm.memfd_noexec=1 makes memfds noexec by default
const RTLD_NOW = 0x2; // <dlfcn.h>
const RTLD_GLOBAL = 0x100;
const RTLD_DI_LINKMAP = 2;
const EINTR = 4;
const EACCES = 13;

function errnoFailure(call: string, code: number): Error {
  return new Error(`${call}: ${errnoName(code)}`);
}

const nativeLibraries: NativeLibraries = {
  memoryFile(name, bytes) {
    const lib = c();
    const cname = Buffer.from(name + "\0");
    let fd = lib.memfd_create(cname, MFD_CLOEXEC | MFD_EXEC);
    if (fd < 0) {
      const code = errno();
      if (code === EACCES) throw new Error("memfd_create: EACCES (executable memfds refused: vm.memfd_noexec=2, or a security module)");
      if (code !== EINVAL) throw errnoFailure("memfd_create", code);
      fd = lib.memfd_create(cname, MFD_CLOEXEC); // a kernel before 6.3 refuses MFD_EXEC; its memfds are executable
      if (fd < 0) throw errnoFailure("memfd_create", errno());
    }
    for (let done = 0; done < bytes.byteLength; ) {
      const n = Number(lib.write(fd, bytes.subarray(done), bytes.byteLength - done));
      if (n < 0) {
        const code = errno();
        if (code === EINTR) continue;
        lib.close(fd);
        throw errnoFailure("writing a memfd", code);
      }
      done += n;
    }
    return fd;
  },
  open(path, global) {
    dl ??= openDl();
    const handle = dl.dlopen(Buffer.from(path + "\0"), RTLD_NOW | (global ? RTLD_GLOBAL : 0)) as Pointer | null;
    if (!handle) throw new Error(String(dl.dlerror() ?? `dlopen ${path} failed`));
    // struct link_map { ElfW(Addr) l_addr; char *l_name; … } (<link.h>): l_name is the path the loader found.
    const linkMap = new BigUint64Array(1);
    if (dl.dlinfo(handle, RTLD_DI_LINKMAP, linkMap) !== 0 || linkMap[0] === 0n) return path;
    const name = new BigUint64Array(toArrayBuffer(Number(linkMap[0]) as Pointer, 0, 16))[1]!;
    return name === 0n ? path : new CString(Number(name) as Pointer).toString();
  },
  closeFd(fd) {
    c().close(fd);
  },
};

/** Opaque native handles; only src/bpf dereferences them. */
export type ObjectHandle = Pointer & { readonly __object: unique symbol };
export type ProgramHandle = Pointer & { readonly __program: unique symbol };
export type MapHandle = Pointer & { readonly __map: unique symbol };
export type RingBufferHandle = Pointer & { readonly __ringbuf: unique symbol };

// ---- libbpf's own log ----------------------------------------------------

const logLines: string[] = [];
const LOG_KEEP = 400;
let logSink: ((level: number, line: string) => void) | undefined;
let printCallback: JSCallback | undefined;
const printBuffer = new Uint8Array(8192);
let linesPrinted = 0;

/**
 * libbpf prints through a printf-style callback with a va_list; vsnprintf
 * formats it (on x86-64 and arm64 a va_list argument travels as a pointer).
 * The last lines are kept for error messages (the verifier log's tail).
 */
function installPrint(lib: Libbpf) {
  printCallback = new JSCallback(
    (level: number, format: Pointer, args: Pointer) => {
      const n = c().vsnprintf(printBuffer, printBuffer.length, format, args);
      const text = new TextDecoder().decode(printBuffer.subarray(0, Math.min(Math.max(n, 0), printBuffer.length - 1)));
      for (const line of text.split("\n")) {
        if (line.length === 0) continue;
        logLines.push(line);
        linesPrinted++;
        logSink?.(level, line);
      }
      if (logLines.length > LOG_KEEP) logLines.splice(0, logLines.length - LOG_KEEP);
      return 0;
    },
    { args: [i32, p, p], returns: i32 },
  );
  lib.libbpf_set_print(printCallback.ptr);
}

/** libbpf levels: 0 warn, 1 info, 2 debug. */
export function setLibbpfLogSink(sink: ((level: number, line: string) => void) | undefined) {
  logSink = sink;
}

/** A position in libbpf's log, for libbpfLogSince. */
export function libbpfLogMark(): number {
  return linesPrinted;
}

/** Lines libbpf printed since the mark (of the last LOG_KEEP): the verifier log of a failed load. */
export function libbpfLogSince(mark: number): string[] {
  const wanted = linesPrinted - mark;
  return wanted <= 0 ? [] : logLines.slice(-Math.min(wanted, logLines.length));
}

// ---- errors ----------------------------------------------------------------

function check(result: number, doing: string): number {
  if (result < 0) throw BpfError.fromErrno(doing, -result);
  return result;
}

function checkPointer<T extends Pointer>(result: Pointer | null, doing: string): T {
  if (!result) throw BpfError.fromErrno(doing, -bpf().libbpf_get_error(null));
  return result as T;
}

// ---- general ---------------------------------------------------------------

/** "v1.1": the loaded libbpf's own version (libbpf_major_version/libbpf_minor_version). */
export function libbpfVersion(): string {
  const lib = bpf();
  return `v${lib.libbpf_major_version()}.${lib.libbpf_minor_version()}`;
}

/** Where the loaded libbpf came from, and why earlier places were passed over (loads it if nobody has yet). */
export function libbpfOrigin(): LibbpfOrigin {
  bpf();
  return libbpfFrom!;
}

export function possibleCpus(): number {
  return check(bpf().libbpf_num_possible_cpus(), "counting possible CPUs");
}

export function closeFd(fd: number) {
  c().close(fd);
}

const timespec = new BigInt64Array(2);
const CLOCK_MONOTONIC = 1;
/** CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns(). */
export function monotonicNs(): bigint {
  c().clock_gettime(CLOCK_MONOTONIC, timespec);
  return timespec[0]! * 1_000_000_000n + timespec[1]!;
}

// ---- objects, programs, maps -----------------------------------------------

/**
 * libbpf reads the ELF from `bytes` until bpf_object__load() returns (it does
 * not copy it): the caller must keep `bytes` referenced until then.
 */
export function openObjectFromMemory(bytes: Uint8Array, name: string): ObjectHandle {
  // bpf_object_open_opts: { size_t sz; const char *object_name; ... } — only the name is set.
  const lib = bpf(); // dlopen and its allocations first: nothing may run between ptr() and the call
  const nameBytes = new TextEncoder().encode(name + "\0");
  const opts = new BigUint64Array(16);
  opts[0] = 16n; // sz: covers sz and object_name
  opts[1] = BigInt(ptr(nameBytes));
  const handle = lib.bpf_object__open_mem(bytes, bytes.byteLength, opts) as Pointer | null;
  // opts holds nameBytes only as an address: keep it referenced until libbpf has copied the name.
  if (nameBytes.byteLength === 0) throw new Error("unreachable");
  // The name is copied into the object; the ELF is not (see above).
  return checkPointer<ObjectHandle>(handle, `opening BPF object ${name}`);
}

export function loadObject(obj: ObjectHandle, name: string) {
  check(bpf().bpf_object__load(obj), `loading BPF object ${name}`);
}

export function closeObject(obj: ObjectHandle) {
  bpf().bpf_object__close(obj);
}

export function findProgram(obj: ObjectHandle, name: string): ProgramHandle | null {
  return (bpf().bpf_object__find_program_by_name(obj, Buffer.from(name + "\0")) as ProgramHandle) || null;
}

export function findMap(obj: ObjectHandle, name: string): MapHandle | null {
  return (bpf().bpf_object__find_map_by_name(obj, Buffer.from(name + "\0")) as MapHandle) || null;
}

/** Before load: whether the program is loaded with the object (a feature turned off is not even verified). */
export function setProgramAutoload(prog: ProgramHandle, load: boolean, name: string) {
  check(bpf().bpf_program__set_autoload(prog, load), `choosing whether to load program ${name}`);
}

export function programFd(prog: ProgramHandle): number {
  return check(bpf().bpf_program__fd(prog), "getting a program's fd");
}

export function mapFd(map: MapHandle): number {
  return check(bpf().bpf_map__fd(map), "getting a map's fd");
}

export function mapGeometry(map: MapHandle) {
  return {
    keySize: bpf().bpf_map__key_size(map),
    valueSize: bpf().bpf_map__value_size(map),
    maxEntries: bpf().bpf_map__max_entries(map),
  };
}

/** The inner map template of a map-in-map (before load), or null. */
export function innerMap(map: MapHandle): MapHandle | null {
  return (bpf().bpf_map__inner_map(map) as MapHandle) || null;
}

export function setMapType(map: MapHandle, type: number, name: string) {
  check(bpf().bpf_map__set_type(map, type), `setting the type of map ${name}`);
}

export function setMapMaxEntries(map: MapHandle, entries: number, name: string) {
  check(bpf().bpf_map__set_max_entries(map, entries), `sizing map ${name} to ${entries} entries`);
}

/** Replaces a data section's initial contents (.rodata knobs) before load; sizes must match. */
export function setMapInitialValue(map: MapHandle, value: Uint8Array, name: string) {
  check(bpf().bpf_map__set_initial_value(map, value, value.byteLength), `setting the initial value of ${name}`);
}

const BPF_PROG_TYPE_SCHED_CLS = 3;
export const BPF_FUNC_ktime_get_coarse_ns = 160;

/** Whether TC programs may call the helper on this kernel. */
export function tcHelperSupported(helperId: number): boolean {
  return bpf().libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, helperId, null) === 1;
}

/** Returns false when the key does not exist. */
export function mapLookup(fd: number, key: Uint8Array, value: Uint8Array): boolean {
  const r = bpf().bpf_map_lookup_elem(fd, key, value);
  if (r === -2) return false;
  check(r, "looking up a map element");
  return true;
}

export function mapUpdate(fd: number, key: Uint8Array, value: Uint8Array) {
  check(bpf().bpf_map_update_elem(fd, key, value, 0), "updating a map element");
}

export function mapDelete(fd: number, key: Uint8Array): boolean {
  const r = bpf().bpf_map_delete_elem(fd, key);
  if (r === -2) return false;
  check(r, "deleting a map element");
  return true;
}

/** Returns false at the end of the map. A null key asks for the first key. */
export function mapNextKey(fd: number, key: Uint8Array | null, next: Uint8Array): boolean {
  const r = bpf().bpf_map_get_next_key(fd, key, next);
  if (r === -2) return false;
  check(r, "iterating a map");
  return true;
}

const ENOENT = 2;
const EINVAL = 22;
const ENOTSUPP = 524;
const EOPNOTSUPP = 95;

/**
 * One bpf_map_lookup_and_delete_batch call. `count` is how many elements the
 * buffers hold; returns how many were copied and whether the map is done.
 * `token` carries the position between calls (key-size bytes or more).
 * Returns null where the kernel does not support batch operations on this map.
 */
export function mapLookupAndDeleteBatch(
  fd: number,
  first: boolean,
  token: Uint8Array,
  keys: Uint8Array,
  values: Uint8Array,
  count: number,
): { copied: number; done: boolean } | null {
  const countBuf = new Uint32Array([count]);
  const r = bpf().bpf_map_lookup_and_delete_batch(fd, first ? null : token, token, keys, values, countBuf, null);
  if (r === -ENOENT) return { copied: countBuf[0]!, done: true };
  if (r === -EINVAL && first) return null;
  if (r === -ENOTSUPP || r === -EOPNOTSUPP) return null;
  check(r, "evicting flows (lookup_and_delete_batch)");
  return { copied: countBuf[0]!, done: false };
}

/**
 * One bpf_map_lookup_batch call (kernel 5.6; arrays and hashes): reads up to
 * `count` elements from the position in `token` (null: the start) without
 * deleting them. Returns how many were copied and whether the map is done.
 */
export function mapLookupBatch(fd: number, first: boolean, token: Uint8Array, keys: Uint8Array, values: Uint8Array, count: number): { copied: number; done: boolean } {
  const countBuf = new Uint32Array([count]);
  const r = bpf().bpf_map_lookup_batch(fd, first ? null : token, token, keys, values, countBuf, null);
  if (r === -ENOENT) return { copied: countBuf[0]!, done: true };
  check(r, "reading a map (lookup_batch)");
  return { copied: countBuf[0]!, done: false };
}

export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_PERCPU_HASH = 5;
export const BPF_F_NO_PREALLOC = 1;

/**
 * A new map (bpf_map_create, libbpf 0.7+); returns its fd, owned by the
 * caller (closeFd). Used for the flows maps that user space sizes itself.
 */
export function mapCreate(type: number, name: string, keySize: number, valueSize: number, maxEntries: number, flags: number): number {
  // struct bpf_map_create_opts: sz@0 btf_fd@8 btf_key_type_id@12 btf_value_type_id@16
  // btf_vmlinux_value_type_id@20 inner_map_fd@24 map_flags@28 map_extra@32 numa_node@40 map_ifindex@44 = 48 bytes
  const opts = new Uint8Array(48);
  const v = new DataView(opts.buffer);
  v.setBigUint64(0, 48n, true);
  v.setUint32(28, flags, true);
  return check(
    bpf().bpf_map_create(type, Buffer.from(name + "\0"), keySize, valueSize, maxEntries, opts),
    `creating map ${name} (${maxEntries} entries)`,
  );
}

/** Kernel memory charged to a map (the `memlock:` line of its fdinfo: its current use on 6.4+, its size before). */
export function mapMemoryBytes(fd: number): number {
  try {
    const match = /^memlock:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

// ---- memory-mapped ring buffer -------------------------------------------------

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;

/**
 * A BPF ring buffer map mapped into this process, the way libbpf maps it:
 * the consumer page (read-write) at offset 0, then the producer page and the
 * data area (read-only), the data mapped twice in a row so that a record
 * that wraps around the end reads as contiguous bytes.
 * `consumer`/`producer` hold the positions (first 8 bytes of each page);
 * `data` is 2 × dataBytes long. Valid until close().
 */
export interface MappedRing {
  readonly consumer: BigInt64Array;
  readonly producer: BigInt64Array;
  readonly data: Uint8Array;
  readonly dataBytes: number;
  close(): void;
}

export function mapRingBuffer(fd: number, dataBytes: number): MappedRing {
  const lib = c();
  const page = lib.getpagesize();
  const failed = (addr: number) => addr === -1 || addr === 0;
  const consumerAddr = lib.mmap(null, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) as number;
  if (failed(consumerAddr)) throw BpfError.fromErrno("mapping the overflow ring buffer's consumer page", errno());
  const producerLength = page + 2 * dataBytes;
  const producerAddr = lib.mmap(null, producerLength, PROT_READ, MAP_SHARED, fd, page) as number;
  if (failed(producerAddr)) {
    const error = errno();
    lib.munmap(consumerAddr as unknown as Pointer, page);
    throw BpfError.fromErrno("mapping the overflow ring buffer's data", error);
  }
  const consumerBuffer = toArrayBuffer(consumerAddr as unknown as Pointer, 0, page);
  const producerBuffer = toArrayBuffer(producerAddr as unknown as Pointer, 0, producerLength);
  let open = true;
  return {
    consumer: new BigInt64Array(consumerBuffer, 0, 1),
    producer: new BigInt64Array(producerBuffer, 0, 1),
    data: new Uint8Array(producerBuffer, page, 2 * dataBytes),
    dataBytes,
    close() {
      if (!open) return;
      open = false;
      lib.munmap(producerAddr as unknown as Pointer, producerLength);
      lib.munmap(consumerAddr as unknown as Pointer, page);
    },
  };
}

/** errno of the last failed libc call (read right after it: nothing in between may call libc). */
function errno(): number {
  const location = c().__errno_location() as Pointer;
  return new Int32Array(toArrayBuffer(location, 0, 4))[0]!;
}

// ---- sockets: the namespace's cookie, sock_diag ------------------------------------

const AF_NETLINK = 16;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const SOL_SOCKET = 1;
const SO_NETNS_COOKIE = 71; // asm-generic/socket.h, kernel 5.14+
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const NETLINK_SOCK_DIAG = 4;

/** The cookie of this process's network namespace (SO_NETNS_COOKIE), or 0n where the kernel is older than 5.14. */
export function networkNamespaceCookie(): bigint {
  const lib = c();
  const fd = lib.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw BpfError.fromErrno("opening a socket to read the network namespace's cookie", errno());
  try {
    const value = new BigUint64Array(1);
    const length = new Uint32Array([8]);
    return lib.getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, value, length) === 0 ? value[0]! : 0n;
  } finally {
    lib.close(fd);
  }
}

/**
 * One NETLINK_SOCK_DIAG dump: sends `request` (a whole netlink message) and
 * returns the reply's datagrams, each holding netlink messages. Never blocks:
 * the kernel builds a dump's parts as they are read (MSG_DONTWAIT), and an
 * empty queue before NLMSG_DONE ends it.
 */
export function sockDiagDump(request: Uint8Array, isDone: (datagram: Uint8Array) => boolean): Uint8Array[] {
  const lib = c();
  const fd = lib.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) throw BpfError.fromErrno("opening a sock_diag socket", errno());
  try {
    if (Number(lib.send(fd, request, request.byteLength, 0)) < 0) throw BpfError.fromErrno("asking sock_diag for the sockets", errno());
    const parts: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      const n = Number(lib.recv(fd, buffer, buffer.byteLength, MSG_DONTWAIT));
      if (n < 0) {
        const code = errno();
        if (code === EINTR) continue;
        if (code === EAGAIN) return parts;
        throw BpfError.fromErrno("reading sock_diag's answer", code);
      }
      if (n === 0) return parts;
      const part = buffer.slice(0, n);
      parts.push(part);
      if (isDone(part)) return parts;
    }
  } finally {
    lib.close(fd);
  }
}

// ---- attachments -------------------------------------------------------------

export const BPF_TCX_INGRESS = 46;
export const BPF_TCX_EGRESS = 47;

/** Returns the link fd; closing it detaches the program. */
export function linkCreate(progFd: number, ifindex: number, attachType: number, doing: string): number {
  return check(bpf().bpf_link_create(progFd, ifindex, attachType, null), doing);
}

/** How many programs are attached at (ifindex, attach type) — TCX types included (BPF_PROG_QUERY). */
export function attachedProgramCount(ifindex: number, attachType: number): number {
  const count = new Uint32Array([0]);
  check(bpf().bpf_prog_query(ifindex, attachType, 0, null, null, count), `querying programs on ifindex ${ifindex}`);
  return count[0]!;
}

export const BPF_TC_INGRESS = 1;
export const BPF_TC_EGRESS = 2;

function tcHook(ifindex: number, attachPoint: number): Uint8Array {
  // struct bpf_tc_hook { size_t sz; int ifindex; enum attach_point; __u32 parent; } = 24 bytes
  const hook = new Uint8Array(24);
  const v = new DataView(hook.buffer);
  v.setBigUint64(0, 24n, true);
  v.setInt32(8, ifindex, true);
  v.setUint32(12, attachPoint, true);
  return hook;
}

function tcOpts(progFd: number, handle: number, priority: number): Uint8Array {
  // struct bpf_tc_opts { size_t sz; int prog_fd; __u32 flags, prog_id, handle, priority; } = 32 bytes
  const opts = new Uint8Array(32);
  const v = new DataView(opts.buffer);
  v.setBigUint64(0, 32n, true);
  v.setInt32(8, progFd, true);
  v.setUint32(20, handle, true);
  v.setUint32(24, priority, true);
  return opts;
}

/** Creates the clsact qdisc; returns false if it existed already. */
export function tcHookCreate(ifindex: number, doing: string): boolean {
  const r = bpf().bpf_tc_hook_create(tcHook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
  if (r === -17) return false; // EEXIST: someone else's clsact, which we must not destroy
  check(r, doing);
  return true;
}

export function tcHookDestroy(ifindex: number) {
  bpf().bpf_tc_hook_destroy(tcHook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
}

export function tcAttach(ifindex: number, attachPoint: number, progFd: number, handle: number, priority: number, doing: string) {
  // No BPF_TC_F_REPLACE: attachments.ts removes a dead run's filters after its guard; one that appeared
  // since is another agent's, and EEXIST keeps it.
  const opts = tcOpts(progFd, handle, priority);
  check(bpf().bpf_tc_attach(tcHook(ifindex, attachPoint), opts), doing);
}

/** Returns false if no filter was there. */
export function tcDetach(ifindex: number, attachPoint: number, handle: number, priority: number): boolean {
  const r = bpf().bpf_tc_detach(tcHook(ifindex, attachPoint), tcOpts(0, handle, priority));
  return r === 0;
}

/** The id of the program at our handle/priority, or 0 when there is none. */
export function tcQuery(ifindex: number, attachPoint: number, handle: number, priority: number): number {
  const opts = tcOpts(0, handle, priority);
  const r = bpf().bpf_tc_query(tcHook(ifindex, attachPoint), opts);
  if (r < 0) return 0;
  return new DataView(opts.buffer).getUint32(16, true);
}

// ---- test runs -----------------------------------------------------------------

/** Fields of struct __sk_buff a test run may set (the kernel refuses the others when non-zero). */
export interface TestRunContext {
  /** skb_shinfo(skb)->gso_segs: a GSO skb of that many segments. */
  gsoSegs?: number;
  gsoSize?: number;
}

/** BPF_PROG_TEST_RUN: runs the program `repeat` times on `packet`. */
export function progTestRun(progFd: number, packet: Uint8Array, repeat = 1, context?: TestRunContext): { retval: number; durationNs: number } {
  // struct bpf_test_run_opts: sz@0 data_in@8 data_out@16 data_size_in@24 data_size_out@28
  // ctx_in@32 ctx_out@40 ctx_size_in@48 ctx_size_out@52 retval@56 repeat@60 duration@64 ... = 80 bytes
  const opts = new Uint8Array(80);
  const v = new DataView(opts.buffer);
  v.setBigUint64(0, 80n, true);
  v.setBigUint64(8, BigInt(ptr(packet)), true);
  v.setUint32(24, packet.byteLength, true);
  v.setInt32(60, repeat, true);
  // struct __sk_buff (192 bytes): gso_segs@164, gso_size@176 (UAPI offsets, checked against BTF by test/bpf/gso.test.ts).
  const ctx = new Uint8Array(192);
  if (context) {
    const c = new DataView(ctx.buffer);
    c.setUint32(164, context.gsoSegs ?? 0, true);
    c.setUint32(176, context.gsoSize ?? 0, true);
    v.setBigUint64(32, BigInt(ptr(ctx)), true);
    v.setUint32(48, ctx.byteLength, true);
  }
  check(bpf().bpf_prog_test_run_opts(progFd, opts), "running a program with BPF_PROG_TEST_RUN");
  if (ctx.byteLength === 0) throw new Error("unreachable"); // keeps ctx referenced until the call returned
  return { retval: v.getInt32(56, true), durationNs: v.getUint32(64, true) };
}

// ---- ring buffer -------------------------------------------------------------------

export interface RingBufferReader {
  /** Reads every record available now, without blocking; returns how many. */
  consume(): number;
  close(): void;
}

/**
 * A libbpf ring_buffer on the map. `onRecord` gets a copy of each record
 * (the ring's memory is reused as soon as it returns).
 */
export function ringBufferOpen(mapFd: number, recordSize: number, onRecord: (record: Uint8Array) => void): RingBufferReader {
  const callback = new JSCallback(
    (_ctx: Pointer, data: Pointer, size: number | bigint) => {
      const n = Math.min(Number(size), recordSize);
      onRecord(new Uint8Array(toArrayBuffer(data, 0, n)).slice());
      return 0;
    },
    { args: [p, p, FFIType.u64], returns: i32 },
  );
  const rb = bpf().ring_buffer__new(mapFd, callback.ptr, null, null) as RingBufferHandle | null;
  if (!rb) {
    // errno first: closing the callback calls into libc, which may overwrite it.
    const error = -bpf().libbpf_get_error(null);
    callback.close();
    throw BpfError.fromErrno("opening the overflow ring buffer", error);
  }
  let open = true;
  return {
    consume() {
      if (!open) return 0;
      return check(bpf().ring_buffer__consume(rb), "reading the overflow ring buffer");
    },
    close() {
      if (!open) return;
      open = false;
      bpf().ring_buffer__free(rb);
      callback.close();
    },
  };
}
