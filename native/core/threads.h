// The CPU backend's one piece of global state: a fixed pool of worker threads.
// parallel_for splits [0, n) into blocks of `grain` and hands them out dynamically, the caller
// working too. A call made while the pool is busy (a nested call, or another model running on
// another AsyncWorker) runs inline on its own thread instead of waiting, so calls never deadlock.
#pragma once
#include <cstdint>
#include <functional>

namespace amae {

// Number of threads parallel_for uses (AMAE_NUM_THREADS, else the hardware's count).
int num_threads();

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

}  // namespace amae
