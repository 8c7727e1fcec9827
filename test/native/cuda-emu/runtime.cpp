// HOST EMULATION of the CUDA runtime: the fiber scheduler, device memory and the runtime API
// declared in include/cuda_runtime.h (see there for the model).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

#include "include/cuda_runtime.h"

// This file is compiled optimised and without instrumentation (it is the emulator, not code
// under test); EMU_ASAN=1 (run.sh sets it when the rest is built with ASan) makes it tell ASan
// about fiber switches and device-memory redzones through ASan's interface functions.
#if EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define ASAN_POISON(p, n) __asan_poison_memory_region((p), (n))
#define ASAN_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define EMU_ASAN 0
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace emu {

int grid_cap = [] {
  const char* s = std::getenv("EMU_SMALL");
  return s && *s && *s != '0' ? 2 : 65535;
}();
cudaError_t last_error = cudaSuccess;
long long launches = 0, threads_run = 0;

void die(const std::string& what) {
  std::fprintf(stdout, "FAIL emu: %s\n", what.c_str());
  std::fflush(stdout);
  std::abort();
}

// ---- device memory ----------------------------------------------------------------------------
// One reserved range of address space; allocations are carved from it in order and never reused
// (a freed range stays poisoned, its pages returned), so switching host access on and off is one
// mprotect of the used part, and a stale device pointer never meets a later allocation.
namespace {
struct Alloc {
  size_t bytes;
};
std::map<const char*, Alloc>& allocs() {
  static std::map<const char*, Alloc> m;
  return m;
}
constexpr size_t kArenaBytes = size_t(64) << 30;
constexpr size_t kRedzone = 256;
char* arena = nullptr;
size_t arena_used = 0;  // bytes of the arena handed out so far (page-rounded when protecting)
int access_depth = 0;
size_t page() {
  static const size_t p = size_t(sysconf(_SC_PAGESIZE));
  return p;
}
size_t used_pages() { return (arena_used + page() - 1) / page() * page(); }
void protect(bool rw) {
  if (used_pages() && mprotect(arena, used_pages(), rw ? PROT_READ | PROT_WRITE : PROT_NONE) != 0) die("mprotect failed");
}
}  // namespace

void* dev_alloc(size_t bytes) {
  if (!arena) {
    void* m = mmap(nullptr, kArenaBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) die("cannot reserve the emulated device memory");
    arena = static_cast<char*>(m);
  }
  // [redzone][bytes, 256-aligned like cudaMalloc][redzone]
  const size_t at = arena_used + kRedzone, end = at + (bytes + kRedzone - 1) / kRedzone * kRedzone + kRedzone;
  if (end > kArenaBytes) die("emulated device memory exhausted");
  char* p = arena + at;
#if EMU_ASAN
  // The redzones around it are poisoned; what lies beyond the arena's used part is PROT_NONE even
  // while kernels run.
  ASAN_POISON(arena + arena_used, end - arena_used);
  ASAN_UNPOISON(p, bytes);
#endif
  arena_used = end;
  protect(true);
  std::memset(p, 0xff, bytes);  // what a kernel reads before anyone wrote it: NaN
  if (access_depth == 0) protect(false);
  allocs()[p] = Alloc{bytes};
  return p;
}

void dev_free(void* ptr) {
  if (!ptr) return;
  auto it = allocs().find(static_cast<const char*>(ptr));
  if (it == allocs().end()) die("dev_free of a pointer that is not a live device allocation");
  char* p = static_cast<char*>(ptr);
#if EMU_ASAN
  ASAN_POISON(p, it->second.bytes);
#endif
  // Give back the whole pages inside the freed range (they read as zero if ever touched again,
  // which ASan reports first).
  const uintptr_t lo = (uintptr_t(p) + page() - 1) / page() * page(), hi = (uintptr_t(p) + it->second.bytes) / page() * page();
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  allocs().erase(it);
}

void scratch_poison(void* p, size_t bytes) {
#if EMU_ASAN
  ASAN_POISON(p, bytes);
#else
  (void)p, (void)bytes;
#endif
}
void scratch_part(void* p, size_t bytes) {
#if EMU_ASAN
  ASAN_UNPOISON(p, bytes);
#else
  (void)p, (void)bytes;
#endif
}

bool is_device(const void* ptr, size_t bytes) {
  const char* p = static_cast<const char*>(ptr);
  auto& m = allocs();
  auto it = m.upper_bound(p);
  if (it == m.begin()) return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second.bytes;
}

DeviceAccess::DeviceAccess() {
  if (access_depth++ == 0) protect(true);
}
DeviceAccess::~DeviceAccess() {
  if (--access_depth == 0) protect(false);
}

// ---- __shared__ -------------------------------------------------------------------------------
namespace {
std::vector<std::pair<void*, size_t>>& shared_vars() {
  static std::vector<std::pair<void*, size_t>> v;
  return v;
}
void poison_shared() {
  for (auto& [p, n] : shared_vars()) std::memset(p, 0xff, n);
}
}  // namespace

Shared::Shared(void* p, size_t bytes) {
  std::memset(p, 0xff, bytes);
  shared_vars().emplace_back(p, bytes);
}

// ---- fibers ---------------------------------------------------------------------------------
// A context switch saves the callee-saved registers and the floating-point control words on the
// current stack, stores the stack pointer in *save and continues on `to` (a stack that was saved
// the same way, or prepared by new_context). No signal masks, no system call: glibc's
// swapcontext makes two per switch, and ASan's interceptor of it clears the shadow of the whole
// target stack each time.
#if defined(__x86_64__)
extern "C" void emu_switch(void** save, void* to);
asm(R"(
  .text
  .globl emu_switch
  .type emu_switch, @function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_switch, .-emu_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");
#else
#error "the CUDA emulation's context switch is written for x86-64"
#endif

namespace {

// A stack whose first emu_switch "returns" into entry() (which must never return), with the
// stack 16-byte aligned as at a call.
void* new_context(char* stack, size_t bytes, void (*entry)()) {
#if EMU_ASAN
  // A finished fiber never returned from its entry function: that frame's redzones are still
  // poisoned in the shadow of this (reused) stack.
  ASAN_UNPOISON(stack + bytes - 16384, 16384);
#endif
  uintptr_t top = (uintptr_t(stack) + bytes) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top - 16);
  sp[0] = reinterpret_cast<void*>(entry);   // return address
  sp[1] = nullptr;
  sp -= 6;                                  // rbp rbx r12 r13 r14 r15 (popped in reverse)
  for (int i = 0; i < 6; ++i) sp[i] = nullptr;
  sp -= 1;                                  // mxcsr, x87 control word: the current ones
  uint32_t csr;
  uint16_t cw;
  asm volatile("stmxcsr %0" : "=m"(csr));
  asm volatile("fnstcw %0" : "=m"(cw));
  std::memcpy(reinterpret_cast<char*>(sp), &csr, 4);
  std::memcpy(reinterpret_cast<char*>(sp) + 4, &cw, 2);
  return sp;
}

enum class State : uint8_t { Runnable, AtBarrier, AtWarp, Done };

struct Fiber {
  void* sp = nullptr;  // the saved stack pointer while it does not run
  char* stack = nullptr;  // lowest usable address (a PROT_NONE guard page lies below it)
  State state = State::Done;
  uint3 tid;
  int lane = 0, warp = 0;
  void* fake_stack = nullptr;
  // The warp collective this fiber waits in.
  WarpOp op = WarpOp::Sync;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int arg = 0, width = 32;
};

constexpr size_t kStackBytes = 256 * 1024;
constexpr int kMaxThreads = 1024;
Fiber fibers[kMaxThreads];
int n_threads = 0, cur = -1;
const char* kernel_name = "";
const std::function<void()>* body = nullptr;
void* sched_sp = nullptr;
void* sched_fake_stack = nullptr;
const void* sched_stack_bottom = nullptr;
size_t sched_stack_size = 0;

// The per-block bookkeeping of barriers.
int n_done = 0, at_barrier = 0;
std::vector<int> warp_live, warp_waiting;  // per warp: lanes not Done, lanes in a collective
// Runnable fibers, kept per warp; `active` lists the warps that have any (pos: index in it).
std::vector<std::vector<int>> runnable;
std::vector<int> active, active_pos;
int n_runnable = 0;

uint64_t rng_state = [] {
  const char* s = std::getenv("EMU_SEED");
  return s ? std::strtoull(s, nullptr, 10) * 2654435761ull + 1 : 0x9E3779B97F4A7C15ull;
}();
uint64_t next_random() {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
const bool in_order = [] {
  const char* s = std::getenv("EMU_ORDER");  // "1": run fibers in thread order (debugging)
  return s && *s == '1';
}();

std::string where() {
  char b[200];
  std::snprintf(b, sizeof b, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u)", kernel_name, blockIdx.x, blockIdx.y,
                blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
  return b;
}

void start_switch_from_fiber(Fiber& f, bool exiting) {
#if EMU_ASAN
  __sanitizer_start_switch_fiber(exiting ? nullptr : &f.fake_stack, sched_stack_bottom, sched_stack_size);
#else
  (void)f;
  (void)exiting;
#endif
}
void finish_switch_in_fiber(Fiber& f) {
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(f.fake_stack, &sched_stack_bottom, &sched_stack_size);
#else
  (void)f;
#endif
}

[[noreturn]] void trampoline() {
  Fiber& f = fibers[cur];
  finish_switch_in_fiber(f);
  (*body)();
  Fiber& g = fibers[cur];
  g.state = State::Done;
  start_switch_from_fiber(g, true);
  void* dead;
  emu_switch(&dead, sched_sp);  // never resumed
  __builtin_unreachable();
}

// From inside a fiber: back to the scheduler until released.
void yield() {
  Fiber& f = fibers[cur];
  start_switch_from_fiber(f, false);
  emu_switch(&f.sp, sched_sp);
  finish_switch_in_fiber(fibers[cur]);
}

void resume(int i) {
  cur = i;
  threadIdx = fibers[i].tid;
#if EMU_ASAN
  __sanitizer_start_switch_fiber(&sched_fake_stack, fibers[i].stack, kStackBytes);
#endif
  emu_switch(&sched_sp, fibers[i].sp);
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(sched_fake_stack, nullptr, nullptr);
#endif
}

void make_runnable(int i) {
  fibers[i].state = State::Runnable;
  const int w = i / 32;
  if (runnable[w].empty()) {
    active_pos[w] = int(active.size());
    active.push_back(w);
  }
  runnable[w].push_back(i);
  ++n_runnable;
}

// The scheduling policies, one drawn per block: kUniform picks a random runnable fiber of a
// random warp each time, so warps advance roughly together; kGreedy keeps running one warp while
// it has runnable lanes, so a warp can race ahead of the others by whole phases (through a
// missing barrier between two block-wide reductions, say); kInOrder (EMU_ORDER=1, debugging)
// runs the lowest runnable thread.
enum class Policy { kUniform, kGreedy, kInOrder };
Policy policy = Policy::kUniform;
int current_warp = -1;

int pick_runnable() {
  int w;
  if (policy == Policy::kInOrder) {
    w = *std::min_element(active.begin(), active.end());
  } else if (policy == Policy::kGreedy && current_warp >= 0 && !runnable[current_warp].empty()) {
    w = current_warp;
  } else {
    w = active[next_random() % active.size()];
  }
  current_warp = w;
  auto& r = runnable[w];
  size_t j = 0;
  if (policy == Policy::kInOrder) j = std::min_element(r.begin(), r.end()) - r.begin();
  else j = next_random() % r.size();
  const int i = r[j];
  r[j] = r.back();
  r.pop_back();
  --n_runnable;
  if (r.empty()) {  // drop w from the active warps
    const int at = active_pos[w], last = active.back();
    active[at] = last;
    active_pos[last] = at;
    active.pop_back();
    active_pos[w] = -1;
  }
  return i;
}

// All live lanes of warp w wait in a collective: check they agree, compute every lane's result
// and release them.
void resolve_warp(int w) {
  const int first = w * 32, last = std::min(n_threads, first + 32);
  const Fiber& f0 = fibers[first];
  for (int i = first; i < last; ++i) {
    const Fiber& f = fibers[i];
    threadIdx = f.tid;
    if (f.state != State::AtWarp) die("a lane of a warp left the kernel while the others wait in a warp collective: " + where());
    if (f.op != f0.op || f.mask != f0.mask || f.width != f0.width)
      die("the lanes of a warp wait in different warp collectives (divergent shuffles): " + where());
  }
  const unsigned full = last - first == 32 ? 0xffffffffu : (1u << (last - first)) - 1;
  if (f0.mask != 0xffffffffu) die("warp collective with a partial mask (not emulated): " + where());
  if (full != 0xffffffffu) die("full-mask warp collective in a partial warp (lanes missing): " + where());
  if (f0.width <= 0 || f0.width > 32 || (f0.width & (f0.width - 1))) die("shuffle width not a power of two ≤ 32: " + where());
  uint64_t ballot = 0;
  for (int i = first; i < last; ++i) ballot |= uint64_t(fibers[i].value != 0) << (i - first);
  for (int i = first; i < last; ++i) {
    Fiber& f = fibers[i];
    const int lane = i - first, seg = lane & ~(f.width - 1);
    int src = lane;
    switch (f.op) {
      case WarpOp::Sync: break;
      case WarpOp::Idx: src = seg + (f.arg & (f.width - 1)); break;
      case WarpOp::Up: src = lane - f.arg >= seg ? lane - f.arg : lane; break;
      case WarpOp::Down: src = lane + f.arg < seg + f.width ? lane + f.arg : lane; break;
      case WarpOp::Xor: src = (lane ^ f.arg) < seg + f.width ? lane ^ f.arg : lane; break;
      default: break;
    }
    if (f.op == WarpOp::Ballot) f.result = ballot;
    else if (f.op == WarpOp::Any) f.result = ballot != 0;
    else if (f.op == WarpOp::All) f.result = ballot == 0xffffffffull;
    else f.result = fibers[first + src].value;
  }
  warp_waiting[w] = 0;
  for (int i = first; i < last; ++i) make_runnable(i);
}

char* stack_of(int i) {
  if (!fibers[i].stack) {
    const size_t guard = page();
    void* m = mmap(nullptr, kStackBytes + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) die("mmap of a fiber stack failed");
    mprotect(m, guard, PROT_NONE);
    fibers[i].stack = static_cast<char*>(m) + guard;
  }
  return fibers[i].stack;
}

void run_block() {
  poison_shared();
  n_done = 0;
  at_barrier = 0;
  const int warps = (n_threads + 31) / 32;
  warp_live.assign(warps, 0);
  warp_waiting.assign(warps, 0);
  runnable.assign(warps, {});
  active.clear();
  active_pos.assign(warps, -1);
  n_runnable = 0;
  current_warp = -1;
  policy = in_order ? Policy::kInOrder : next_random() % 2 ? Policy::kGreedy : Policy::kUniform;
  for (int t = 0; t < n_threads; ++t) {
    Fiber& f = fibers[t];
    f.tid = uint3{t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
    f.lane = t % 32;
    f.warp = t / 32;
    f.fake_stack = nullptr;
    warp_live[f.warp]++;
    f.sp = new_context(stack_of(t), kStackBytes, trampoline);
    make_runnable(t);
  }
  while (n_runnable > 0) {
    const int i = pick_runnable();
    resume(i);
    Fiber& f = fibers[i];
    threadIdx = f.tid;
    switch (f.state) {
      case State::Done:
        ++n_done;
        --warp_live[f.warp];
        if (at_barrier > 0) die("a thread returned while others of its block wait at __syncthreads: " + where());
        if (warp_waiting[f.warp] > 0) die("a lane returned while others of its warp wait in a warp collective: " + where());
        break;
      case State::AtBarrier:
        if (n_done > 0) die("__syncthreads reached after another thread of the block returned: " + where());
        if (++at_barrier == n_threads) {
          at_barrier = 0;
          for (int t = 0; t < n_threads; ++t) make_runnable(t);
        }
        break;
      case State::AtWarp:
        if (++warp_waiting[f.warp] == warp_live[f.warp]) resolve_warp(f.warp);
        break;
      case State::Runnable: die("emulator: a fiber yielded without waiting");
    }
  }
  if (n_done != n_threads) {
    char b[160];
    std::snprintf(b, sizeof b, "deadlock: %d of %d threads returned, %d wait at __syncthreads, the rest in warp collectives",
                  n_done, n_threads, at_barrier);
    die(std::string(b) + " (kernel " + kernel_name + ")");
  }
}

}  // namespace

uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int arg, int width) {
  if (cur < 0) die("warp collective outside a kernel");
  Fiber& f = fibers[cur];
  f.op = op;
  f.mask = mask;
  f.value = value;
  f.arg = arg;
  f.width = width;
  f.state = State::AtWarp;
  yield();
  return fibers[cur].result;
}

void launch_bounds(int max_threads) {
  if (int(blockDim.x * blockDim.y * blockDim.z) > max_threads) {
    char b[160];
    std::snprintf(b, sizeof b, "block of %u threads for a kernel with __launch_bounds__(%d): the launch fails on the GPU",
                  blockDim.x * blockDim.y * blockDim.z, max_threads);
    die(std::string(b) + " (kernel " + kernel_name + ")");
  }
}

void syncthreads() {
  if (cur < 0) die("__syncthreads outside a kernel");
  fibers[cur].state = State::AtBarrier;
  yield();
}

void check_launch(const char* name, dim3 grid, dim3 block, size_t shmem, size_t param_bytes) {
  std::string err;
  const unsigned long long nt = 1ull * block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) err = "a grid dimension is 0";
  else if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) err = "grid exceeds (2^31-1, 65535, 65535)";
  else if (block.x == 0 || block.y == 0 || block.z == 0) err = "a block dimension is 0";
  else if (nt > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64) err = "block exceeds 1024 threads (x, y ≤ 1024, z ≤ 64)";
  else if (shmem != 0) err = "dynamic shared memory is not emulated";
  else if (param_bytes > 4096) err = "kernel parameters exceed 4 KB";
  if (!err.empty()) {
    char b[200];
    std::snprintf(b, sizeof b, " (grid %u,%u,%u block %u,%u,%u)", grid.x, grid.y, grid.z, block.x, block.y, block.z);
    last_error = cudaErrorInvalidConfiguration;
    throw std::runtime_error(std::string("emu: invalid launch of ") + name + ": " + err + b);
  }
}

void check_pointer_arg(const char* name, int index, const void* p) {
  if (p && !is_device(p))
    throw std::runtime_error(std::string("emu: kernel ") + name + " argument " + std::to_string(index) +
                             " is not device memory (a host pointer passed to a kernel)");
}

void run_grid(const char* name, dim3 grid, dim3 block, const std::function<void()>& b) {
  if (cur >= 0) die("kernel launch from inside a kernel");
  ++launches;
  DeviceAccess access;
  kernel_name = name;
  body = &b;
  gridDim = grid;
  blockDim = block;
  n_threads = int(block.x * block.y * block.z);
  // Blocks one at a time (their __shared__ variables are statics), in a random order: a kernel
  // that counts on another block of the same launch having run first is caught (in-order
  // execution with EMU_ORDER=1).
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  std::vector<uint64_t> order(blocks);
  for (uint64_t b = 0; b < blocks; ++b) order[b] = b;
  if (!in_order)
    for (uint64_t b = blocks; b > 1; --b) std::swap(order[b - 1], order[next_random() % b]);
  for (uint64_t b : order) {
    blockIdx = uint3{unsigned(b % grid.x), unsigned(b / grid.x % grid.y), unsigned(b / (uint64_t(grid.x) * grid.y))};
    run_block();
    threads_run += n_threads;
  }
  cur = -1;
  body = nullptr;
}

}  // namespace emu

// ---- runtime API ------------------------------------------------------------------------------
cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::last_error;
  emu::last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return emu::last_error; }
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  }
  return "unknown error";
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  const bool dd = emu::is_device(dst, bytes), sd = emu::is_device(src, bytes);
  const bool ok = kind == cudaMemcpyDefault ||
                  (kind == cudaMemcpyHostToDevice && dd && !sd) || (kind == cudaMemcpyDeviceToHost && !dd && sd) ||
                  (kind == cudaMemcpyDeviceToDevice && dd && sd) || (kind == cudaMemcpyHostToHost && !dd && !sd);
  if (!ok) {
    char b[160];
    std::snprintf(b, sizeof b, "cudaMemcpyAsync kind %d with dst %s and src %s (or a range past an allocation)", int(kind),
                  dd ? "device" : "host", sd ? "device" : "host");
    emu::die(b);
  }
  emu::DeviceAccess a;
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) {
  if (!emu::is_device(p, bytes)) emu::die("cudaMemsetAsync on memory that is not a device allocation of that size");
  emu::DeviceAccess a;
  if (bytes) std::memset(p, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
