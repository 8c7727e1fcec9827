#include "threads.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace amae {
namespace {

class Pool {
 public:
  explicit Pool(int n) : size_(n) {
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      ++generation_;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return size_; }

  void run(int64_t n, int64_t grain, const RangeFn& fn) {
    grain = std::max<int64_t>(1, grain);
    const int64_t blocks = (n + grain - 1) / grain;
    // An atomic flag, not a mutex: a nested call comes from a thread that may already hold the
    // pool, and try_lock on a mutex the caller owns is undefined behaviour.
    bool idle = false;
    if (blocks <= 1 || size_ == 1 || !busy_.compare_exchange_strong(idle, true)) {
      if (n > 0) fn(0, n);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &fn;
      n_ = n;
      grain_ = grain;
      error_ = nullptr;
      next_.store(0);
      active_.store(static_cast<int>(workers_.size()));
      ++generation_;
    }
    cv_.notify_all();
    work();
    // Workers finish within one block of the caller; spinning beats a sleep/wake round trip.
    // The caller waits even when a task failed: fn lives on its stack.
    while (active_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    job_ = nullptr;
    std::exception_ptr error = error_;
    busy_.store(false, std::memory_order_release);
    if (error) std::rethrow_exception(error);
  }

 private:
  // Runs blocks until none is left. A throwing task (bad_alloc, a failed check) must not escape
  // a worker thread, where it would terminate the process: the first error is kept for the
  // caller to rethrow, and the remaining blocks are skipped.
  void work() {
    for (;;) {
      const int64_t b = next_.fetch_add(grain_);
      if (b >= n_) break;
      try {
        (*job_)(b, std::min(n_, b + grain_));
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_);
      }
    }
  }
  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        // Short spin first: training issues many small parallel ops back to back.
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
        while (generation_.load(std::memory_order_acquire) == seen &&
               std::chrono::steady_clock::now() < until)
          std::this_thread::yield();
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return generation_.load() != seen; });
        seen = generation_.load();
        if (stop_) return;
      }
      work();
      active_.fetch_sub(1, std::memory_order_release);
    }
  }

  int size_;
  std::vector<std::thread> workers_;
  std::atomic<bool> busy_{false};  // set while a parallel_for is in flight
  std::mutex error_mu_;
  std::exception_ptr error_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
  const RangeFn* job_ = nullptr;
  int64_t n_ = 0, grain_ = 1;
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};
};

Pool& pool() {
  static Pool p([] {
    if (const char* env = std::getenv("AMAE_NUM_THREADS")) {
      const int v = std::atoi(env);
      if (v > 0) return v;
    }
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }());
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }

void parallel_for(int64_t n, int64_t grain, RangeFn fn) {
  pool().run(n, grain, fn);
}

}  // namespace amae
