// The CUDA backend's host-side surface, free of CUDA headers so that core/ and napi/ can include
// it: the device, its memory and the backend-wide math mode. Only compiled with AMAE_CUDA=ON.
#pragma once
#include <cstddef>
#include <string>

namespace amae::cuda {

struct DeviceInfo {
  bool available = false;
  std::string reason;  // why not, when unavailable ("no CUDA device", a driver error…)
  int index = -1, count = 0;
  std::string name;
  int major = 0, minor = 0, multiprocessors = 0;
  size_t total_memory = 0, free_memory = 0;
  bool cublas = false;  // GEMMs go through cuBLAS (else amae's own kernels)
};

// Never throws: a machine without a GPU or driver is an answer, not an error.
DeviceInfo device_info();
// Every later CUDA call of the process runs on this device (default 0); throws naming the index
// and the count when it does not exist.
void select_device(int index);

void* device_alloc(size_t bytes);  // throws "CUDA out of memory …" with the free/total figures
void device_release(void* p);
void device_copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes);
void device_zero(void* p, size_t bytes);
void device_synchronize();

// How GEMMs multiply: F32 (full single precision, for parity with the CPU) or BF16 (bf16
// operands on the tensor cores, fp32 accumulation and storage; the training default).
enum class Math { F32, BF16 };
void set_math(Math m);
Math math();

}  // namespace amae::cuda
