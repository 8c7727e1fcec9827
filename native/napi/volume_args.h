// Argument helpers shared by the op families over volumes (conv, patch_embed).
#pragma once
#include <string>
#include <vector>

#include "op_args.h"

namespace amae::napi {

// A float32 volume [N, C, H, W, D] (or a 5-D weight) with no empty dimension.
inline Tensor volume(const OpCall& c, const std::string& name) {
  Tensor t = c.input(name, DType::F32, 5);
  for (int i = 0; i < 5; ++i)
    if (t.shape[i] < 1) c.fail_range("inputs." + name + " must not have an empty dimension, got shape " + t.shape_str());
  return t;
}

// A data-less tensor of the given shape, the reference expect_shape compares against.
inline Tensor shape_ref(const std::vector<int64_t>& dims) {
  Tensor t;
  t.ndim = static_cast<int>(dims.size());
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = dims[i];
  return t;
}

}  // namespace amae::napi
