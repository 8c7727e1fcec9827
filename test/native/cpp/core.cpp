// The core pieces the op tests cannot see from JS: the Arena and the thread pool.
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../../native/core/arena.h"
#include "../../../native/core/threads.h"
#include "check.h"

using check::expect;
using namespace amae;

int main() {
  {
    Arena a;
    Tensor t = a.zeros({3, 5});
    expect(reinterpret_cast<uintptr_t>(t.data) % Arena::kAlign == 0, "arena tensors are 64-byte aligned");
    bool zero = true;
    for (int i = 0; i < 15; ++i) zero &= t.f32()[i] == 0.0f;
    expect(zero, "zeros() is zero-filled");
    void* p = a.alloc(1);
    expect(reinterpret_cast<uintptr_t>(p) % Arena::kAlign == 0, "odd-sized allocations keep alignment");
    // A "training step" that outgrows the first block: several blocks, then one after reset.
    for (int i = 0; i < 5; ++i) a.alloc(700 << 10);
    const size_t peak = a.peak();
    expect(peak >= 5 * (700 << 10), "peak counts every allocation");
    a.reset();
    // One block of the round's peak: what it held at once fits again, without the chain's tail waste.
    const size_t cap = a.capacity();
    expect(a.used() == 0 && cap == peak, "reset keeps one block of the round's peak");
    void* first = a.alloc(700 << 10);
    for (int i = 0; i < 4; ++i) a.alloc(700 << 10);
    expect(a.capacity() == cap, "the second step allocates nothing new");
    a.reset();
    expect(a.alloc(64) == first, "after reset the same memory is handed out again");
    // mark/release: scratch handed back, LIFO, within a block and across an added block.
    const Arena::Mark m = a.mark();
    void* s1 = a.alloc(1000);
    a.release(m);
    expect(a.alloc(1000) == s1 && a.used() == 64 + 1024, "release hands the scratch back");
    const Arena::Mark m2 = a.mark();
    a.alloc(cap * 2);  // forces a new block
    a.release(m2);
    expect(a.capacity() == cap && a.used() == 64 + 1024, "release drops the blocks added after the mark");
  }
  {
    // Every index exactly once, across block sizes that do and do not divide n.
    for (int64_t n : {0, 1, 7, 1000, 100003}) {
      for (int64_t grain : {1, 3, 64, 1 << 20}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        parallel_for(n, grain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        });
        bool once = true;
        for (auto& h : hits) once &= h.load() == 1;
        expect(once, "parallel_for covers every index exactly once");
      }
    }
    // A nested call runs inline instead of deadlocking, and still covers its range.
    std::atomic<int64_t> inner{0};
    parallel_for(8, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) parallel_for(100, 7, [&](int64_t ib, int64_t ie) { inner += ie - ib; });
    });
    expect(inner.load() == 800, "nested parallel_for");
    expect(num_threads() >= 1, "at least one thread");
    // A task that throws, on whichever thread runs it: the caller gets the exception (a worker
    // thread must not terminate the process), and the pool serves the next call.
    for (int64_t bad : {0, 999}) {
      bool caught = false;
      try {
        parallel_for(1000, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i)
            if (i == bad) throw std::runtime_error("task failed");
        });
      } catch (const std::runtime_error& err) {
        caught = std::string(err.what()) == "task failed";
      }
      expect(caught, "an exception in a task reaches the caller");
    }
    std::atomic<int64_t> after{0};
    parallel_for(1000, 1, [&](int64_t b, int64_t e) { after += e - b; });
    expect(after.load() == 1000, "the pool works after a failed call");
  }
  return check::report();
}
