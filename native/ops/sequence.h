// Data movement on token sequences [T][E] and channel stacks: concatenation, the embedding add
// of spec §2.2 and row gathers. Backward ops take an absent gradient as a Tensor with
// data == nullptr and skip it.
#pragma once
#include "../core/backend.h"

namespace amae {

// y = [a; b] along dim 1: a [N, Ca, ...], b [N, Cb, ...], y [N, Ca + Cb, ...] (dims 2.. equal).
AMAE_OP(concat_forward, (const Tensor& a, const Tensor& b, const Tensor& y), (a, b, y))
// da += dy[:, :Ca], db += dy[:, Ca:]. The split Ca comes from da (or, when da is absent, from
// C − Cb), so a skipped gradient still needs no extra argument.
AMAE_OP(concat_backward, (const Tensor& dy, const Tensor& da, const Tensor& db), (dy, da, db))

// y[t] = x[t] + pos[pos_index[t]] + mod[mod_index[t]], summed in that order: x, y [T, E],
// pos [P, E], mod [K, E], Int32 indices [T] in range.
AMAE_OP(embed_add_forward,
        (const Tensor& x, const Tensor& pos, const Tensor& mod, const Tensor& pos_index, const Tensor& mod_index,
         const Tensor& y),
        (x, pos, mod, pos_index, mod_index, y))
// dx += dy; dpos[pos_index[t]] += dy[t]; dmod[mod_index[t]] += dy[t]. Each gradient is optional.
// The scatter-adds add tokens in ascending t for every element, whatever the thread count.
AMAE_OP(embed_add_backward,
        (const Tensor& pos_index, const Tensor& mod_index, const Tensor& dy, const Tensor& dx, const Tensor& dpos,
         const Tensor& dmod),
        (pos_index, mod_index, dy, dx, dpos, dmod))

// y[t] = x[index[t]]: x [R, ...], Int32 index [T] in [0, R), y [T, ...]; a row is everything
// after dim 0. Picks the kept tokens for the encoder and builds the decoder's full sequence.
AMAE_OP(gather_rows_forward, (const Tensor& x, const Tensor& index, const Tensor& y), (x, index, y))
// dx[index[t]] += dy[t], tokens added in ascending t (deterministic with repeated indices).
AMAE_OP(gather_rows_backward, (const Tensor& index, const Tensor& dy, const Tensor& dx), (index, dy, dx))
// Tokens back to a feature volume, MONAI UNETR's proj_feat: x [N, P, E] (N samples of P tokens,
// patch q = (gh·Gw + gw)·Gd + gd) → y [N, E, Gh, Gw, Gd] with y[n, e, q] = x[n, q, e], P = Gh·Gw·Gd.
// It is a transpose of each sample's [P, E] matrix; the segmentation decoders read the ViT's
// states through it.
AMAE_OP(tokens_to_volume_forward, (const Tensor& x, const Tensor& y), (x, y))
// dx[n, q, e] += dy[n, e, q].
AMAE_OP(tokens_to_volume_backward, (const Tensor& dy, const Tensor& dx), (dy, dx))

}  // namespace amae
