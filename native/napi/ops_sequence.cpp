#include "../ops/sequence.h"
#include "op_args.h"
#include "op_registry.h"

namespace amae::napi {
namespace {

// attrs.<grid> = [Gh, Gw, Gd], positive, with Gh·Gw·Gd equal to `tokens`.
std::vector<int64_t> grid_attr(const OpCall& c, int64_t tokens, const std::string& what) {
  const std::vector<int64_t> g = c.ints_attr("grid");
  if (g.size() != 3 || g[0] < 1 || g[1] < 1 || g[2] < 1)
    c.fail_range("attrs.grid must be [Gh, Gw, Gd], three positive integers");
  if (g[0] * g[1] * g[2] != tokens)
    c.fail_range("attrs.grid [" + std::to_string(g[0]) + ", " + std::to_string(g[1]) + ", " + std::to_string(g[2]) +
                 "] holds " + std::to_string(g[0] * g[1] * g[2]) + " patches, " + what + " is " + std::to_string(tokens));
  return g;
}

// Backward ops return only the gradients asked for: attrs.<output> = false (e.g. dpos) skips
// one, and its output is then absent.
void register_sequence_ops() {
  register_op({"concat_forward", {"a", "b"}, {},
               [](OpCall& c) {
                 Tensor a = input_min_rank(c, "a", DType::F32, 2);
                 Tensor b = c.input("b", DType::F32, a.ndim);
                 for (int i = 0; i < a.ndim; ++i)
                   if (i != 1) c.expect_dim("b", b, i, a.dim(i), "inputs.a's, all dims but 1 must match");
                 std::vector<int64_t> out = dims_of(a);
                 out[1] += b.dim(1);
                 c.declare_output("y", out);
               },
               [](OpCall& c) { ops::concat_forward(c.inputs_.at("a"), c.inputs_.at("b"), c.output("y")); }});
  // attrs.split = Ca, the channels of a: dy[:, :Ca] is da, the rest db.
  register_op({"concat_backward", {"dy"}, {"split", "da", "db"},
               [](OpCall& c) {
                 Tensor dy = input_min_rank(c, "dy", DType::F32, 2);
                 const int64_t split = c.int_attr("split");
                 if (split < 0 || split > dy.dim(1))
                   c.fail_range("attrs.split = " + std::to_string(split) + " must lie in [0, " +
                                std::to_string(dy.dim(1)) + "] (the channels of inputs.dy)");
                 std::vector<int64_t> a = dims_of(dy), b = dims_of(dy);
                 a[1] = split;
                 b[1] = dy.dim(1) - split;
                 if (wants(c, "da")) c.declare_output("da", a);
                 if (wants(c, "db")) c.declare_output("db", b);
               },
               [](OpCall& c) {
                 ops::concat_backward(c.inputs_.at("dy"), optional_output(c, "da"), optional_output(c, "db"));
               }});
  register_op({"embed_add_forward", {"x", "pos", "mod", "pos_index", "mod_index"}, {},
               [](OpCall& c) {
                 Tensor x = c.input("x", DType::F32, 2);
                 Tensor pos = c.input("pos", DType::F32, 2), mod = c.input("mod", DType::F32, 2);
                 c.expect_dim("pos", pos, 1, x.dim(1), "E of x");
                 c.expect_dim("mod", mod, 1, x.dim(1), "E of x");
                 Tensor pi = c.input("pos_index", DType::I32, 1), mi = c.input("mod_index", DType::I32, 1);
                 c.expect_dim("pos_index", pi, 0, x.dim(0), "T of x");
                 c.expect_dim("mod_index", mi, 0, x.dim(0), "T of x");
                 expect_indices(c, "pos_index", pi, pos.dim(0), "rows of inputs.pos");
                 expect_indices(c, "mod_index", mi, mod.dim(0), "rows of inputs.mod");
                 c.declare_output("y", dims_of(x));
               },
               [](OpCall& c) {
                 ops::embed_add_forward(c.inputs_.at("x"), c.inputs_.at("pos"), c.inputs_.at("mod"),
                                        c.inputs_.at("pos_index"), c.inputs_.at("mod_index"), c.output("y"));
               }});
  // attrs.num_pos = P and attrs.num_mod = K size dpos and dmod; each is needed only when its
  // gradient is.
  register_op({"embed_add_backward",
               {"pos_index", "mod_index", "dy"},
               {"num_pos", "num_mod", "dx", "dpos", "dmod"},
               [](OpCall& c) {
                 Tensor dy = c.input("dy", DType::F32, 2);
                 Tensor pi = c.input("pos_index", DType::I32, 1), mi = c.input("mod_index", DType::I32, 1);
                 c.expect_dim("pos_index", pi, 0, dy.dim(0), "T of dy");
                 c.expect_dim("mod_index", mi, 0, dy.dim(0), "T of dy");
                 if (wants(c, "dx")) c.declare_output("dx", dims_of(dy));
                 const std::pair<const char*, const Tensor*> tables[2] = {{"pos", &pi}, {"mod", &mi}};
                 for (const auto& [table, index] : tables) {
                   const std::string t = table;
                   if (!wants(c, "d" + t)) continue;
                   const int64_t rows = c.int_attr("num_" + t);
                   if (rows < 0) c.fail_range("attrs.num_" + t + " must be ≥ 0");
                   expect_indices(c, t + "_index", *index, rows, "rows of " + t + ", attrs.num_" + t);
                   c.declare_output("d" + t, {rows, dy.dim(1)});
                 }
               },
               [](OpCall& c) {
                 ops::embed_add_backward(c.inputs_.at("pos_index"), c.inputs_.at("mod_index"), c.inputs_.at("dy"),
                                         optional_output(c, "dx"), optional_output(c, "dpos"),
                                         optional_output(c, "dmod"));
               }});
  // A gathered row is everything after dim 0 of x.
  register_op({"gather_rows_forward", {"x", "index"}, {},
               [](OpCall& c) {
                 Tensor x = input_min_rank(c, "x", DType::F32, 1);
                 Tensor index = c.input("index", DType::I32, 1);
                 expect_indices(c, "index", index, x.dim(0), "rows of inputs.x");
                 c.declare_output("y", with_rows(x, index.dim(0)));
               },
               [](OpCall& c) {
                 ops::gather_rows_forward(c.inputs_.at("x"), c.inputs_.at("index"), c.output("y"));
               }});
  // attrs.rows = R, the row count of the forward's x.
  register_op({"gather_rows_backward", {"index", "dy"}, {"rows"},
               [](OpCall& c) {
                 Tensor index = c.input("index", DType::I32, 1);
                 Tensor dy = input_min_rank(c, "dy", DType::F32, 1);
                 c.expect_dim("dy", dy, 0, index.dim(0), "the length of inputs.index");
                 const int64_t rows = c.int_attr("rows");
                 if (rows < 0) c.fail_range("attrs.rows must be ≥ 0");
                 expect_indices(c, "index", index, rows, "rows of x, attrs.rows");
                 c.declare_output("dx", with_rows(dy, rows));
               },
               [](OpCall& c) {
                 ops::gather_rows_backward(c.inputs_.at("index"), c.inputs_.at("dy"), c.output("dx"));
               }});
  // attrs.grid = [Gh, Gw, Gd] with Gh·Gw·Gd = P, the token count of inputs.x.
  register_op({"tokens_to_volume_forward", {"x"}, {"grid"},
               [](OpCall& c) {
                 Tensor x = c.input("x", DType::F32, 3);
                 const std::vector<int64_t> g = grid_attr(c, x.dim(1), "inputs.x dim 1 (P)");
                 c.declare_output("y", {x.dim(0), x.dim(2), g[0], g[1], g[2]});
               },
               [](OpCall& c) { ops::tokens_to_volume_forward(c.inputs_.at("x"), c.output("y")); }});
  register_op({"tokens_to_volume_backward", {"dy"}, {},
               [](OpCall& c) {
                 Tensor dy = c.input("dy", DType::F32, 5);
                 c.declare_output("dx", {dy.dim(0), dy.dim(2) * dy.dim(3) * dy.dim(4), dy.dim(1)});
               },
               [](OpCall& c) { ops::tokens_to_volume_backward(c.inputs_.at("dy"), c.output("dx")); }});
}

}  // namespace
AMAE_REGISTER_OPS(register_sequence_ops);
}  // namespace amae::napi
