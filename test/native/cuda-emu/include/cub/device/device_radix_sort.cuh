// TEST DOUBLE of CUB's cub::DeviceRadixSort for the host emulation (test/native/cuda-emu): it is
// NOT CUB. It implements exactly the calls amae makes (SortPairs with unsigned keys, the size
// query with a null temp pointer, then the sort) with a host stable sort that, like CUB's LSD
// radix sort, orders by the key bits [begin_bit, end_bit) only and keeps equal keys in input
// order. It also checks the contract CUB relies on without checking: temp storage of the size
// it reported, device pointers, no overlap between input and output. CUB's own correctness and
// speed are for the GPU run.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <vector>

#include <cuda_runtime.h>

namespace cub {

struct DeviceRadixSort {
  // What the double asks for: one byte per item plus a little, so a caller that allocates less
  // than the reported size is caught by ASan (the double writes all of it).
  static size_t temp_bytes_for(size_t items) { return items + 64; }

  template <class KeyT, class ValueT, class NumItemsT>
  static cudaError_t SortPairs(void* d_temp_storage, size_t& temp_storage_bytes, const KeyT* d_keys_in,
                               KeyT* d_keys_out, const ValueT* d_values_in, ValueT* d_values_out, NumItemsT num_items,
                               int begin_bit = 0, int end_bit = sizeof(KeyT) * 8, cudaStream_t stream = 0) {
    (void)stream;
    static_assert(std::is_unsigned_v<KeyT>, "the CUB test double handles unsigned keys only");
    const size_t n = num_items < 0 ? 0 : size_t(num_items);
    if (!d_temp_storage) {
      temp_storage_bytes = temp_bytes_for(n);
      return cudaSuccess;
    }
    if (num_items < 0 || begin_bit < 0 || end_bit > int(sizeof(KeyT) * 8) || begin_bit >= end_bit)
      emu::die("cub::DeviceRadixSort::SortPairs: bad item count or bit range");
    if (temp_storage_bytes < temp_bytes_for(n) || !emu::is_device(d_temp_storage, temp_storage_bytes))
      emu::die("cub::DeviceRadixSort::SortPairs: temp storage smaller than reported, or not device memory");
    const size_t kb = n * sizeof(KeyT), vb = n * sizeof(ValueT);
    if (!emu::is_device(d_keys_in, kb) || !emu::is_device(d_keys_out, kb) || !emu::is_device(d_values_in, vb) ||
        !emu::is_device(d_values_out, vb))
      emu::die("cub::DeviceRadixSort::SortPairs: a key or value array is not device memory of num_items entries");
    auto overlap = [](const void* a, size_t na, const void* b, size_t nb) {
      const char *pa = static_cast<const char*>(a), *pb = static_cast<const char*>(b);
      return na && nb && pa < pb + nb && pb < pa + na;
    };
    if (overlap(d_keys_in, kb, d_keys_out, kb) || overlap(d_values_in, vb, d_values_out, vb))
      emu::die("cub::DeviceRadixSort::SortPairs: input and output overlap");
    emu::DeviceAccess access;
    std::memset(d_temp_storage, 0xab, temp_storage_bytes);  // CUB owns all of it
    const int bits = end_bit - begin_bit;
    const KeyT mask = bits >= int(sizeof(KeyT) * 8) ? KeyT(~KeyT(0)) : KeyT((KeyT(1) << bits) - 1);
    auto digit = [&](KeyT k) { return KeyT((k >> begin_bit) & mask); };
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return digit(d_keys_in[a]) < digit(d_keys_in[b]); });
    for (size_t i = 0; i < n; ++i) {
      d_keys_out[i] = d_keys_in[order[i]];
      d_values_out[i] = d_values_in[order[i]];
    }
    return cudaSuccess;
  }
};

}  // namespace cub
