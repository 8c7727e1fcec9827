#include <climits>

#include "../ops/pool.h"
#include "op_args.h"
#include "op_registry.h"

namespace amae::napi {
namespace {

const char* const kAxis[3] = {"H", "W", "D"};

// argmax holds flat indices into one (n, c) volume as Int32.
void expect_int32_volume(const OpCall& c, const std::string& where, int64_t h, int64_t w, int64_t d) {
  if (h * w * d > INT32_MAX)
    c.fail_range(where + ": a " + std::to_string(h) + "×" + std::to_string(w) + "×" + std::to_string(d) +
                 " volume has more voxels than an Int32 arg-max can index");
}

// Every arg-max must lie in its own 2×2×2 window of an [H, W, D] volume: that is what the forward
// produces, and it is what lets the backward scatter in parallel without collisions.
void expect_in_window(const OpCall& c, const Tensor& argmax, int64_t W, int64_t D) {
  if (argmax.device != Device::CPU) return;  // checked on the host snapshot (see expect_indices)
  const int64_t ho_n = argmax.dim(2), wo_n = argmax.dim(3), do_n = argmax.dim(4);
  const int32_t* p = argmax.i32();
  for (int64_t i = 0, n = argmax.numel(); i < n; ++i) {
    const int64_t od = i % do_n, wo = i / do_n % wo_n, ho = i / (do_n * wo_n) % ho_n;
    const int64_t a = p[i], h = a / (W * D), w = a / D % W, d = a % D;
    if (a < 0 || h / 2 != ho || w / 2 != wo || d / 2 != od)
      c.fail_range("inputs.argmax[" + std::to_string(i) + "] = " + std::to_string(a) +
                   " is outside its window: output (" + std::to_string(ho) + ", " + std::to_string(wo) + ", " +
                   std::to_string(od) + ") pools input h " + std::to_string(2 * ho) + ".." + std::to_string(2 * ho + 1) +
                   ", w " + std::to_string(2 * wo) + ".." + std::to_string(2 * wo + 1) + ", d " +
                   std::to_string(2 * od) + ".." + std::to_string(2 * od + 1) + " (flat index (h·W + w)·D + d)");
  }
}

void register_pool_ops() {
  register_op({"maxpool3d_forward", {"x"}, {},
               [](OpCall& c) {
                 Tensor x = c.input("x", DType::F32, 5);
                 for (int i = 0; i < 3; ++i)
                   if (x.dim(2 + i) < 2)
                     c.fail_range("inputs.x.shape[" + std::to_string(2 + i) + "] (" + kAxis[i] +
                                  ") must be at least 2 for a 2×2×2 pool, got shape " + x.shape_str());
                 expect_int32_volume(c, "inputs.x", x.dim(2), x.dim(3), x.dim(4));
                 std::vector<int64_t> out = {x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2, x.dim(4) / 2};
                 c.declare_output("y", out);
                 c.declare_output("argmax", out, DType::I32);
               },
               [](OpCall& c) { ops::maxpool3d_forward(c.inputs_.at("x"), c.output("y"), c.output("argmax")); }});
  // attrs.input_size = [H, W, D] of the pooled input: odd sizes cannot be recovered from dy.
  register_op({"maxpool3d_backward", {"argmax", "dy"}, {"input_size"},
               [](OpCall& c) {
                 Tensor argmax = c.input("argmax", DType::I32, 5);
                 c.expect_shape("dy", c.input("dy", DType::F32, 5), argmax, "the shape of argmax");
                 const std::vector<int64_t> size = c.ints_attr("input_size");
                 if (size.size() != 3) c.fail_range("attrs.input_size must be [H, W, D]");
                 for (int i = 0; i < 3; ++i)
                   if (size[i] < 2 || size[i] / 2 != argmax.dim(2 + i))
                     c.fail_range("attrs.input_size[" + std::to_string(i) + "] = " + std::to_string(size[i]) +
                                  " does not pool to inputs.argmax.shape[" + std::to_string(2 + i) + "] = " +
                                  std::to_string(argmax.dim(2 + i)));
                 expect_int32_volume(c, "attrs.input_size", size[0], size[1], size[2]);
                 expect_in_window(c, argmax, size[1], size[2]);
                 c.declare_output("dx", {argmax.dim(0), argmax.dim(1), size[0], size[1], size[2]});
               },
               [](OpCall& c) { ops::maxpool3d_backward(c.inputs_.at("argmax"), c.inputs_.at("dy"), c.output("dx")); }});
  // A group-max row is everything after dim 0 ([R, P, E] tokens or [R, C, H, W, D] volumes);
  // rank 1 means one value per row.
  register_op({"group_max_forward", {"x", "offsets"}, {},
               [](OpCall& c) {
                 Tensor x = input_min_rank(c, "x", DType::F32, 1);
                 Tensor offsets = c.input("offsets", DType::I32, 1);
                 expect_offsets(c, "offsets", offsets, x.dim(0), "the rows of x");
                 c.declare_output("y", with_rows(x, offsets.dim(0) - 1));
                 c.declare_output("argmax", with_rows(x, offsets.dim(0) - 1), DType::I32);
               },
               [](OpCall& c) {
                 ops::group_max_forward(c.inputs_.at("x"), c.inputs_.at("offsets"), c.output("y"),
                                        c.output("argmax"));
               }});
  // attrs.rows = R, the row count of the forward's x (argmax holds absolute rows).
  register_op({"group_max_backward", {"argmax", "dy"}, {"rows"},
               [](OpCall& c) {
                 Tensor argmax = input_min_rank(c, "argmax", DType::I32, 1);
                 c.expect_shape("dy", c.input_any_rank("dy", DType::F32), argmax, "the shape of argmax");
                 const int64_t rows = c.int_attr("rows");
                 if (rows < 0) c.fail_range("attrs.rows must be ≥ 0");
                 expect_indices(c, "argmax", argmax, rows, "rows of x, attrs.rows");
                 c.declare_output("dx", with_rows(argmax, rows));
               },
               [](OpCall& c) { ops::group_max_backward(c.inputs_.at("argmax"), c.inputs_.at("dy"), c.output("dx")); }});
}

}  // namespace
AMAE_REGISTER_OPS(register_pool_ops);
}  // namespace amae::napi
