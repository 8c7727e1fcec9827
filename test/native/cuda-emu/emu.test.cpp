// Self-test of the emulation (family "emu", not a CUDA family): that the warp collectives and
// the real context.cuh helpers compute what CUDA defines, and that the bugs the emulation claims
// to catch are caught: a missing __syncthreads, stale shared memory, a divergent barrier, a host
// pointer passed to a kernel, host code touching device memory, an out-of-bounds access, a bad
// launch configuration, poisoned scratch. Kernels here call emu::launch and emu::Shared directly
// (what sync.mjs writes for the real files).
#include <sys/wait.h>
#include <unistd.h>

#include <cub/device/device_radix_sort.cuh>

#include "harness.h"
#include "native/cuda/context.cuh"

using namespace emu_test;

namespace {

// Runs fn in a child process; true when the child did NOT finish normally (crash, ASan report,
// emulator abort), i.e. the bug was caught.
bool caught_in_child(const std::function<void()>& fn) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    // The child's reports would read as this family's FAIL lines: silence them.
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(3);
    fn();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// ---- kernels ----
__global__ void shuffles_kernel(int* out, int width) {
  const int t = threadIdx.x, lane = t % 32;
  out[5 * t + 0] = __shfl_xor_sync(0xffffffffu, t, 5, width);
  out[5 * t + 1] = __shfl_up_sync(0xffffffffu, t, 3, width);
  out[5 * t + 2] = __shfl_down_sync(0xffffffffu, t, 3, width);
  out[5 * t + 3] = __shfl_sync(0xffffffffu, t, lane + 7, width);
  out[5 * t + 4] = int(__ballot_sync(0xffffffffu, lane % 3 == 0));
}

__global__ void block_sum_kernel(const double* x, double* out) {
  const double v = x[blockIdx.x * blockDim.x + threadIdx.x];
  const double a = amae::cuda::block_sum<double>(v);
  const double b = amae::cuda::block_sum<double>(2 * v);  // a second call reuses the partials
  const float m = amae::cuda::warp_max(float(v));
  if (threadIdx.x == 0) {
    out[3 * blockIdx.x] = a;
    out[3 * blockIdx.x + 1] = b;
  }
  if (threadIdx.x == 32) out[3 * blockIdx.x + 2] = m;
}

// BUG on purpose: lane 0 of each warp writes its partial, thread 0 reads all of them without a
// __syncthreads in between.
__global__ void missing_barrier_kernel(float* out) {
  static float partial[32];
  static emu::Shared partial_reg(partial, sizeof(partial));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) partial[warp] = float(warp + 1);
  if (threadIdx.x == 0) {
    float s = 0;
    for (unsigned w = 0; w < blockDim.x / 32; ++w) s += partial[w];
    out[blockIdx.x] = s;
  }
}

// BUG on purpose: only block 0 fills the shared value; the others read what it left.
__global__ void stale_shared_kernel(float* out) {
  static float v;
  static emu::Shared v_reg(&v, sizeof(v));
  if (blockIdx.x == 0 && threadIdx.x == 0) v = 1.0f;
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = v;
}

// BUG on purpose: threads past n return, the rest then meet at a __syncthreads.
__global__ void divergent_barrier_kernel(float* x, int n) {
  if (int(threadIdx.x) >= n) return;
  __syncthreads();
  x[threadIdx.x] = 1;
}

// BUG on purpose: block b reads what block b − 1 wrote in the same launch.
__global__ void chained_blocks_kernel(float* out) {
  if (threadIdx.x == 0) out[blockIdx.x] = blockIdx.x == 0 ? 1.0f : out[blockIdx.x - 1] + 1.0f;
}

// BUG on purpose: odd lanes leave, the even ones shuffle with a full mask.
__global__ void partial_shuffle_kernel(float* out) {
  if (threadIdx.x % 2) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, float(threadIdx.x), 2);
}

// As sync.mjs instruments `__global__ void __launch_bounds__(64) bounded_kernel(...)`.
__global__ void bounded_kernel(float* out) {
  ::emu::launch_bounds(64);
  if (threadIdx.x == 0) out[0] = 1;
}

__global__ void write_kernel(float* x, int i) { if (threadIdx.x == 0) x[i] = 1; }
__global__ void read_kernel(const float* x, float* out) { if (threadIdx.x == 0) out[0] = x[0]; }

}  // namespace

EMU_FAMILY(emu) {
  run("warp collectives", [] {
    for (int width : {32, 8}) {
      DI out(I(64 * 5, -1));
      emu::launch("shuffles_kernel", 1, 64, 0, nullptr, shuffles_kernel, out.p, width);
      const I got = out.get();
      bool ok = true;
      for (int t = 0; t < 64; ++t) {
        const int lane = t % 32, seg = lane / width * width, base = t - lane;
        const int x = (lane ^ 5) < seg + width ? base + (lane ^ 5) : t;
        const int up = lane - 3 >= seg ? t - 3 : t;
        const int down = lane + 3 < seg + width ? t + 3 : t;
        const int idx = base + seg + (lane + 7) % width;
        unsigned ballot = 0;
        for (int l = 0; l < 32; ++l) ballot |= unsigned(l % 3 == 0) << l;
        ok = ok && got[5 * t] == x && got[5 * t + 1] == up && got[5 * t + 2] == down && got[5 * t + 3] == idx &&
             unsigned(got[5 * t + 4]) == ballot;
      }
      expect(fmt("shuffle xor/up/down/idx/ballot width %d", width), ok);
    }
  });
  run("context.cuh block_sum / warp_max", [] {
    for (int threads : {32, 256, 1024}) {
      std::vector<double> x(size_t(2 * threads));
      for (size_t i = 0; i < x.size(); ++i) x[i] = double(i % 97) - 40.5;
      Dev<double> dx(x), out(std::vector<double>(6));
      emu::launch("block_sum_kernel", 2, threads, 0, nullptr, block_sum_kernel, dx.p, out.p);
      const std::vector<double> got = out.get();
      bool ok = true;
      for (int b = 0; b < 2; ++b) {
        double s = 0, m = -1e300;
        for (int i = 0; i < threads; ++i) s += x[size_t(b * threads + i)];
        for (int i = 32; i < 64 && i < threads; ++i) m = std::max(m, x[size_t(b * threads + i)]);
        ok = ok && got[3 * b] == s && got[3 * b + 1] == 2 * s && (threads < 64 || got[3 * b + 2] == m);
      }
      expect(fmt("block_sum<double> twice, warp_max, %d threads", threads), ok);
    }
  });
  run("caught: missing __syncthreads", [] {
    DF out(nans(8));
    emu::launch("missing_barrier_kernel", 8, 256, 0, nullptr, missing_barrier_kernel, out.p);
    int wrong = 0;
    for (float v : out.get()) wrong += v != 36.0f;
    expect("a missing __syncthreads gives wrong sums (random schedule)", wrong > 0, fmt("%d of 8 blocks wrong", wrong));
  });
  run("caught: stale shared memory", [] {
    DF out(nans(3));
    emu::launch("stale_shared_kernel", 3, 32, 0, nullptr, stale_shared_kernel, out.p);
    const F got = out.get();
    expect("shared memory is poisoned before every block", got[0] == 1.0f && std::isnan(got[1]) && std::isnan(got[2]));
  });
  run("caught: divergent __syncthreads", [] {
    expect("control: every thread at the barrier runs", !caught_in_child([] {
      DF x(nans(64));
      emu::launch("divergent_barrier_kernel", 1, 64, 0, nullptr, divergent_barrier_kernel, x.p, 64);
    }));
    expect("__syncthreads after some threads returned aborts", caught_in_child([] {
      DF x(nans(64));
      emu::launch("divergent_barrier_kernel", 1, 64, 0, nullptr, divergent_barrier_kernel, x.p, 40);
    }));
  });
  run("caught: order between blocks", [] {
    DF out(nans(16));
    emu::launch("chained_blocks_kernel", 16, 32, 0, nullptr, chained_blocks_kernel, out.p);
    const F got = out.get();
    bool in_order = true;
    for (int b = 0; b < 16; ++b) in_order = in_order && got[size_t(b)] == float(b + 1);
    const char* order = std::getenv("EMU_ORDER");
    const bool debugging = order && *order == '1';  // everything in order on purpose
    expect("blocks run in a random order", !in_order || debugging, debugging ? "(EMU_ORDER=1: not checked)" : "");
  });
  run("caught: shuffle with lanes missing", [] {
    expect("a full-mask shuffle after some lanes returned aborts", caught_in_child([] {
      DF out(nans(32));
      emu::launch("partial_shuffle_kernel", 1, 32, 0, nullptr, partial_shuffle_kernel, out.p);
    }));
  });
  run("caught: host pointer argument", [] {
    F host_buf(4);
    bool threw = false;
    try {
      emu::launch("write_kernel", 1, 32, 0, nullptr, write_kernel, host_buf.data(), 0);
    } catch (const std::exception&) {
      threw = true;
    }
    expect("a host pointer passed to a kernel throws", threw);
  });
  run("caught: host access to device memory", [] {
    expect("control: the same read under DeviceAccess runs", !caught_in_child([] {
      DF x(nans(4));
      emu::DeviceAccess a;
      volatile float v = x.p[0];
      (void)v;
    }));
    expect("host code reading device memory crashes", caught_in_child([] {
      DF x(nans(4));
      volatile float v = x.p[0];
      (void)v;
    }));
  });
  run("caught: out of bounds", [] {
    expect("control: a kernel writing the last element of its buffer runs", !caught_in_child([] {
      DF x(nans(5));
      emu::launch("write_kernel", 1, 32, 0, nullptr, write_kernel, x.p, 4);
    }));
    expect("a kernel writing one past its buffer is reported (ASan)", caught_in_child([] {
      DF x(nans(5));
      emu::launch("write_kernel", 1, 32, 0, nullptr, write_kernel, x.p, 5);
    }));
    expect("a kernel reading a freed buffer is reported (ASan)", caught_in_child([] {
      float* p = static_cast<float*>(emu::dev_alloc(16));
      emu::dev_free(p);
      DF out(nans(1));
      emu::launch("read_kernel", 1, 32, 0, nullptr, read_kernel, p, out.p);
    }));
  });
  run("caught: bad launches", [] {
    DF x(nans(1));
    auto throws = [&](dim3 g, dim3 b) {
      try {
        emu::launch("write_kernel", g, b, 0, nullptr, write_kernel, x.p, 0);
      } catch (const std::exception&) {
        return true;
      }
      return false;
    };
    expect("grid.y = 65536 throws", throws(dim3(1, 65536), 32));
    expect("grid.x = 0 throws", throws(dim3(0), 32));
    expect("1025 threads per block throw", throws(1, 1025));
    expect("block.z = 65 throws", throws(1, dim3(1, 1, 65)));
  });
  run("caught: __launch_bounds__ exceeded", [] {
    expect("control: 64 threads under __launch_bounds__(64) run", !caught_in_child([] {
      DF out(nans(1));
      emu::launch("bounded_kernel", 1, 64, 0, nullptr, bounded_kernel, out.p);
    }));
    expect("128 threads under __launch_bounds__(64) abort", caught_in_child([] {
      DF out(nans(1));
      emu::launch("bounded_kernel", 1, 128, 0, nullptr, bounded_kernel, out.p);
    }));
  });
  run("poisoned scratch", [] {
    amae::cuda::Workspace ws(amae::cuda::Workspace::bytes_for({sizeof(float) * 3}));
    float* s = ws.take<float>(3);
    DF out(F{0.0f});
    emu::launch("read_kernel", 1, 32, 0, nullptr, read_kernel, s, out.p);
    expect("Workspace scratch reads as NaN", std::isnan(out.get()[0]));
  });
  run("CUB test double", [] {
    // keys with bits above end_bit: ordered by the low bits only, stable.
    std::vector<uint32_t> k = {5, 2, 0x105, 2, 1, 0x102};
    I v = {0, 1, 2, 3, 4, 5};
    Dev<uint32_t> kin(k), kout(std::vector<uint32_t>(6));
    DI vin(v), vout(I(6));
    size_t temp = 0;
    cub::DeviceRadixSort::SortPairs(nullptr, temp, kin.p, kout.p, vin.p, vout.p, 6, 0, 8);
    void* t = emu::dev_alloc(temp);
    cub::DeviceRadixSort::SortPairs(t, temp, kin.p, kout.p, vin.p, vout.p, 6, 0, 8);
    emu::dev_free(t);
    expect("SortPairs: stable, by bits [0, 8)", vout.get() == I{4, 1, 3, 5, 0, 2});
  });
}
