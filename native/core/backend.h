// The backend boundary. Every op is declared once with AMAE_OP: that declares its CPU
// implementation (native/cpu), its CUDA implementation (native/cuda, compiled with AMAE_CUDA=ON)
// and the entry point ops::name, which runs the op on the device of its first tensor argument.
// Models call ops::*, never a backend directly.
#pragma once
#include <stdexcept>
#include <type_traits>

#include "tensor.h"

namespace amae {

inline Device device_of() { return Device::CPU; }
template <class T, class... R>
Device device_of(const T& a, const R&... rest) {
  if constexpr (std::is_same_v<std::decay_t<T>, Tensor>)
    return a.device;
  else
    return device_of(rest...);
}

}  // namespace amae

#ifdef AMAE_WITH_CUDA
#define AMAE_CUDA_CALL(name, args) cuda::name args
#else
#define AMAE_CUDA_CALL(name, args) throw std::runtime_error(#name ": this build of amae has no CUDA backend")
#endif

#define AMAE_OP(name, params, args)                \
  namespace cpu {                                  \
  void name params;                                \
  }                                                \
  namespace cuda {                                 \
  void name params;                                \
  }                                                \
  namespace ops {                                  \
  inline void name params {                        \
    if (device_of args == Device::CUDA) {          \
      AMAE_CUDA_CALL(name, args);                  \
      return;                                      \
    }                                              \
    cpu::name args;                                \
  }                                                \
  }
