// The CUDA device as the binding sees it, on every build: whether it can run here and, if not,
// why (the reason cudaInfo() reports), and the option parsing the entry points share.
#pragma once
#include <napi.h>

#include <string>

#include "../core/tensor.h"

namespace amae::napi {

// What a build without the CUDA backend answers wherever CUDA is asked for.
constexpr const char* kNoCudaBuild = "this build of amae has no CUDA backend (build with AMAE_CUDA=1)";

// Empty when CUDA can run here, else why not. Never throws.
std::string cuda_unavailable_reason();
// Throws an Error "<what>: <reason>" unless CUDA can run here.
void require_cuda(const std::string& what);
// A device option: undefined → fallback; 'cpu' | 'cuda'; TypeError (not a string) or RangeError
// (another string) naming `what` otherwise.
Device device_arg(const Napi::Value& v, const std::string& what, Device fallback = Device::CPU);

}  // namespace amae::napi
