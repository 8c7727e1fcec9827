// A tensor is a non-owning view: data pointer, dtype, device and a contiguous C-order shape.
// Ownership lives elsewhere (a JS buffer, an Arena, a model's parameter store), which keeps
// ops free of allocation and lets the same op run on memory from any owner.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "error.h"

namespace amae {

enum class DType : uint8_t { F32, I32, BF16 };  // BF16 is reserved for the CUDA backend
enum class Device : uint8_t { CPU, CUDA };

constexpr int kMaxDims = 6;

inline size_t dtype_size(DType t) { return t == DType::BF16 ? 2 : 4; }
inline const char* dtype_name(DType t) {
  return t == DType::F32 ? "float32" : t == DType::I32 ? "int32" : "bfloat16";
}

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};

  Tensor() = default;
  Tensor(void* d, std::initializer_list<int64_t> dims, DType t = DType::F32, Device dev = Device::CPU)
      : data(d), dtype(t), device(dev) {
    AMAE_CHECK(dims.size() <= kMaxDims, "too many dimensions");
    for (int64_t s : dims) shape[ndim++] = s;
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  // Negative indices count from the end, as in NumPy.
  int64_t dim(int i) const { return shape[i < 0 ? ndim + i : i]; }
  // Contiguous strides in elements; ops index with these instead of re-deriving them.
  int64_t stride(int i) const {
    int64_t s = 1;
    for (int j = (i < 0 ? ndim + i : i) + 1; j < ndim; ++j) s *= shape[j];
    return s;
  }
  float* f32() const {
    AMAE_CHECK(dtype == DType::F32, "tensor is not float32");
    return static_cast<float*>(data);
  }
  int32_t* i32() const {
    AMAE_CHECK(dtype == DType::I32, "tensor is not int32");
    return static_cast<int32_t*>(data);
  }
  std::string shape_str() const {
    std::string s = "[";
    for (int i = 0; i < ndim; ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

}  // namespace amae
