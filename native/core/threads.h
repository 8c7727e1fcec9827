// The CPU backend's one piece of global state: a fixed pool of worker threads.
// parallel_for splits [0, n) into blocks of `grain` and hands them out dynamically, the caller
// working too. A call made while the pool is busy (a nested call, or another model running on
// another AsyncWorker) runs inline on its own thread instead of waiting, so calls never deadlock.
#pragma once
#include <cstdint>
#include <type_traits>

namespace amae {

// Number of threads parallel_for uses (AMAE_NUM_THREADS, else the hardware's count).
int num_threads();

// A non-owning reference to a callable fn(begin, end). parallel_for finishes with its callable
// before returning, so a reference suffices; a std::function would heap-allocate for every lambda
// that captures more than two pointers, i.e. on nearly every op call of a training step.
class RangeFn {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, RangeFn>>>
  RangeFn(const F& f)  // NOLINT: implicit, so that call sites pass lambdas as they are
      : obj_(&f), call_([](const void* o, int64_t b, int64_t e) { (*static_cast<const F*>(o))(b, e); }) {}
  void operator()(int64_t begin, int64_t end) const { call_(obj_, begin, end); }

 private:
  const void* obj_;
  void (*call_)(const void*, int64_t, int64_t);
};

void parallel_for(int64_t n, int64_t grain, RangeFn fn);

}  // namespace amae
