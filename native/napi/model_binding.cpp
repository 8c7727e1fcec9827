// Model: the ONE ObjectWrap over every native model (models::Model: AMAE, UNETR, Adaptive UNETR,
// U-Net), created as `new Model(kind, config, seed)`. Arguments are checked on the JS thread (a
// TypeError or RangeError naming the argument, thrown synchronously) against the model's
// BatchSpec; the work runs in an AsyncWorker and every compute method returns a Promise. Calls on
// one model are serialised: a call made while another runs waits in the model's queue, so two
// never touch the weights at once. Different models run concurrently.
#include <napi.h>

#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/memory.h"
#include "../models/model.h"
#include "convert.h"
#include "cuda_binding.h"
#include "js_args.h"
#include "model_kinds.h"

namespace amae::napi {
namespace {

using models::Model;

uint64_t read_seed(const Napi::Value& v) {
  if (v.IsUndefined()) return 0;
  if (!v.IsNumber()) type_error("seed must be a number");
  const double s = v.As<Napi::Number>().DoubleValue();
  if (!(s >= 0) || s != std::floor(s) || s > 9007199254740991.0)
    range_error("seed must be a non-negative safe integer, got " + num(s));
  return static_cast<uint64_t>(s);
}

// ---- the batch ----------------------------------------------------------------------------

// A checked batch: copies of the index arrays and a view of the volumes (kept alive by the
// call's references). The index copies live here until the call finishes.
struct Batch {
  Tensor volumes, labels;
  std::vector<int32_t> contrasts, subjects, keep, keep_offsets;

  models::Batch view() {
    auto ints = [](std::vector<int32_t>& v) {
      return v.empty() ? Tensor() : Tensor(v.data(), {static_cast<int64_t>(v.size())}, DType::I32);
    };
    return {volumes, ints(contrasts), ints(subjects), ints(keep), ints(keep_offsets), labels};
  }
};

// What a call needs of the batch beyond its spec: labels for the loss (trainStep, lossAndGrads).
enum class Need { Inputs, Loss };

[[noreturn]] void batch_range(const std::string& msg) { range_error("batch." + msg); }

// offsets[0] = 0, strictly increasing (`why` says why no range may be empty), ending at total
// (`what` says what total counts).
void check_offsets(const std::vector<int32_t>& off, const std::string& name, int64_t total, const std::string& what,
                   const std::string& why) {
  if (off.size() < 2) batch_range(name + " must hold at least 2 offsets, got " + std::to_string(off.size()));
  if (off[0] != 0) batch_range(name + "[0] = " + std::to_string(off[0]) + " must be 0");
  for (size_t i = 1; i < off.size(); ++i)
    if (off[i] <= off[i - 1])
      batch_range(name + "[" + std::to_string(i) + "] = " + std::to_string(off[i]) + " must be greater than batch." +
                  name + "[" + std::to_string(i - 1) + "] = " + std::to_string(off[i - 1]) + " (" + why + ")");
  if (off.back() != total)
    batch_range(name + "[" + std::to_string(off.size() - 1) + "] = " + std::to_string(off.back()) + " must be " +
                std::to_string(total) + " (" + what + ")");
}

Batch read_batch(const Napi::Value& v, const models::BatchSpec& spec, Need need) {
  Napi::Object o = object_arg(v, "batch");
  if (spec.masks)
    reject_unknown_keys(o, {"volumes", "contrasts", "subjects", "keep", "keepOffsets"}, "batch");
  else
    reject_unknown_keys(o, {"volumes", "contrasts", "subjects", "labels"}, "batch");
  Batch b;
  b.contrasts = int32_field(o, "contrasts", "batch");
  b.subjects = int32_field(o, "subjects", "batch");
  if (spec.masks) {
    b.keep = int32_field(o, "keep", "batch");
    b.keep_offsets = int32_field(o, "keepOffsets", "batch");
  }
  b.volumes = tensor_from_js(o.Get("volumes"), "batch.volumes");
  const int64_t* size = spec.size;
  const int64_t Nc = static_cast<int64_t>(b.contrasts.size());
  if (b.volumes.dtype != DType::F32) type_error("batch.volumes.data must be a Float32Array");
  const Tensor& vol = b.volumes;
  if (vol.ndim != 4 || vol.shape[0] != Nc || vol.shape[1] != size[0] || vol.shape[2] != size[1] ||
      vol.shape[3] != size[2])
    batch_range("volumes.shape " + vol.shape_str() + " must be [" + std::to_string(Nc) + "," +
                std::to_string(size[0]) + "," + std::to_string(size[1]) + "," + std::to_string(size[2]) +
                "] (one volume per entry of batch.contrasts, at the model's size)");
  if (Nc == 0) batch_range("contrasts must not be empty");
  for (int64_t n = 0; n < Nc; ++n) {
    if (b.contrasts[n] < 0 || b.contrasts[n] >= models::kContrasts)
      batch_range("contrasts[" + std::to_string(n) + "] = " + std::to_string(b.contrasts[n]) + " is out of range [0, " +
                  std::to_string(models::kContrasts) + ")");
    if (!(spec.accepted >> b.contrasts[n] & 1u)) {
      std::string list;
      for (int k = 0; k < models::kContrasts; ++k)
        if (spec.accepted >> k & 1u) list += (list.empty() ? "" : ", ") + std::string(kContrastNames[k]);
      batch_range("contrasts[" + std::to_string(n) + "] = " + std::to_string(b.contrasts[n]) + " (" +
                  kContrastNames[b.contrasts[n]] + ") is not a contrast this model takes (it takes " + list + ")");
    }
  }
  check_offsets(b.subjects, "subjects", Nc, "the number of volumes", "every subject has a contrast");
  for (size_t s = 0; s + 1 < b.subjects.size(); ++s)
    for (int32_t n = b.subjects[s] + 1; n < b.subjects[s + 1]; ++n)
      if (b.contrasts[n] <= b.contrasts[n - 1])
        batch_range("contrasts[" + std::to_string(n) + "] = " + std::to_string(b.contrasts[n]) +
                    " must be greater than batch.contrasts[" + std::to_string(n - 1) + "] = " +
                    std::to_string(b.contrasts[n - 1]) + " (a subject's contrasts in registry order, each once)");
  if (spec.classes > 0) {
    const int64_t S = static_cast<int64_t>(b.subjects.size()) - 1;
    Napi::Value labels = o.Get("labels");
    if (labels.IsUndefined()) {
      if (need == Need::Loss) type_error("batch.labels is required for the loss (a [S, classes, H, W, D] tensor)");
    } else {
      b.labels = tensor_from_js(labels, "batch.labels");
      const Tensor& l = b.labels;
      if (l.dtype != DType::F32) type_error("batch.labels.data must be a Float32Array");
      if (l.ndim != 5 || l.shape[0] != S || l.shape[1] != spec.classes || l.shape[2] != size[0] ||
          l.shape[3] != size[1] || l.shape[4] != size[2])
        batch_range("labels.shape " + l.shape_str() + " must be [" + std::to_string(S) + "," +
                    std::to_string(spec.classes) + "," + std::to_string(size[0]) + "," + std::to_string(size[1]) + "," +
                    std::to_string(size[2]) + "] (one label volume per subject and class, at the model's size)");
    }
  }
  if (!spec.masks) return b;
  const int64_t P = (size[0] / spec.patch) * (size[1] / spec.patch) * (size[2] / spec.patch);
  if (static_cast<int64_t>(b.keep_offsets.size()) != Nc + 1)
    batch_range("keepOffsets must hold " + std::to_string(Nc + 1) + " values (one more than batch.contrasts), got " +
                std::to_string(b.keep_offsets.size()));
  check_offsets(b.keep_offsets, "keepOffsets", static_cast<int64_t>(b.keep.size()), "the length of batch.keep",
                "every contrast keeps at least one patch");
  for (int64_t n = 0; n < Nc; ++n) {
    if (b.keep_offsets[n + 1] - b.keep_offsets[n] > P)
      batch_range("keepOffsets: contrast " + std::to_string(n) + " keeps " +
                  std::to_string(b.keep_offsets[n + 1] - b.keep_offsets[n]) + " patches, more than P = " +
                  std::to_string(P));
    for (int32_t t = b.keep_offsets[n]; t < b.keep_offsets[n + 1]; ++t) {
      if (b.keep[t] < 0 || b.keep[t] >= P)
        batch_range("keep[" + std::to_string(t) + "] = " + std::to_string(b.keep[t]) + " is out of range [0, " +
                    std::to_string(P) + ")");
      if (t > b.keep_offsets[n] && b.keep[t] <= b.keep[t - 1])
        batch_range("keep[" + std::to_string(t) + "] = " + std::to_string(b.keep[t]) + " must be greater than batch.keep[" +
                    std::to_string(t - 1) + "] = " + std::to_string(b.keep[t - 1]) +
                    " (a contrast's kept patches ascending, each once)");
    }
  }
  return b;
}

models::OptimConfig read_optim(const Napi::Value& v) {
  const std::string at = "opt";
  Napi::Object o = object_arg(v, at);
  reject_unknown_keys(o, {"lr", "beta1", "beta2", "eps", "weightDecay", "maxGradNorm"}, at);
  models::OptimConfig c;
  c.lr = number_field(o, "lr", at);
  c.beta1 = number_field(o, "beta1", at, 0.9);
  c.beta2 = number_field(o, "beta2", at, 0.95);
  c.eps = number_field(o, "eps", at, 1e-8);
  c.weight_decay = number_field(o, "weightDecay", at, 0.05);
  c.max_grad_norm = number_field(o, "maxGradNorm", at, 0.0);
  if (c.lr < 0) range_error("opt.lr must be ≥ 0, got " + num(c.lr));
  if (c.beta1 < 0 || c.beta1 >= 1) range_error("opt.beta1 must lie in [0, 1), got " + num(c.beta1));
  if (c.beta2 < 0 || c.beta2 >= 1) range_error("opt.beta2 must lie in [0, 1), got " + num(c.beta2));
  if (c.eps <= 0) range_error("opt.eps must be > 0, got " + num(c.eps));
  if (c.weight_decay < 0) range_error("opt.weightDecay must be ≥ 0, got " + num(c.weight_decay));
  return c;
}

// ---- the model ------------------------------------------------------------------------------

class ModelWrap;

// One queued call: `work` runs on a worker thread, `result` builds the resolved value on the JS
// thread from `keep`, which holds every JS value the work reads or writes (and the model).
class ModelJob : public Napi::AsyncWorker {
 public:
  using Result = std::function<Napi::Value(Napi::Object keep)>;
  ModelJob(Napi::Env env, ModelWrap* model, Napi::Object keep, std::function<void()> work, Result result)
      : Napi::AsyncWorker(env, "amae.Model"),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_(model),
        keep_(Napi::Persistent(keep)),
        work_(std::move(work)),
        result_(std::move(result)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }
  void Execute() override {
    try {
      work_();
    } catch (const std::bad_alloc&) {
      SetError("amae: out of memory");
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Napi::Promise::Deferred deferred_;
  ModelWrap* model_;
  Napi::ObjectReference keep_;
  std::function<void()> work_;
  Result result_;
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Model",
                       {InstanceMethod<&ModelWrap::TrainStep>("trainStep"),
                        InstanceMethod<&ModelWrap::Forward>("forward"),
                        InstanceMethod<&ModelWrap::LossAndGrads>("lossAndGrads"),
                        InstanceMethod<&ModelWrap::Parameters>("parameters"),
                        InstanceMethod<&ModelWrap::GetState>("getState"),
                        InstanceMethod<&ModelWrap::SetState>("setState"),
                        InstanceMethod<&ModelWrap::Encode>("encode"),
                        InstanceAccessor<&ModelWrap::GetDevice>("device"),
                        InstanceAccessor<&ModelWrap::GetKind>("kind")});
  }

  // new Model(kind, config, seed = 0)
  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    rethrow_as_js(info.Env(), [&] {
      if (!info.IsConstructCall()) type_error("Model must be called with new");
      if (!info[0].IsString()) type_error("kind must be a string (amae, unetr, adaptive-unetr, unet)");
      const std::string kind = info[0].As<Napi::String>().Utf8Value();
      const uint64_t seed = read_seed(info[2]);
      model_ = create_model(kind, info[1], seed);
    });
  }

  // The next queued call, if any (JS thread, after a call settled).
  void next() {
    if (queue_.empty()) {
      busy_ = false;
      return;
    }
    ModelJob* job = queue_.front();
    queue_.pop_front();
    job->Queue();
  }

 private:
  Napi::Value enqueue(const Napi::CallbackInfo& info, Napi::Object keep, std::function<void()> work,
                      ModelJob::Result result) {
    keep.Set("model", info.This());
    auto* job = new ModelJob(info.Env(), this, keep, std::move(work), std::move(result));
    Napi::Promise p = job->promise();
    if (busy_) {
      queue_.push_back(job);
    } else {
      busy_ = true;
      job->Queue();
    }
    return p;
  }

  // The gradient and moment buffers, allocated on the JS thread before the first call that trains
  // or reads them is queued: a worker then finds them in place and never allocates beside a call
  // that the JS thread prepares. A model that only predicts never has them.
  void training_buffers() { model_->params().ensure_training(); }

  // The batch with references to its JS values kept in `keep`.
  std::shared_ptr<Batch> batch_arg(const Napi::Value& v, Napi::Object keep, Need need) {
    auto b = std::make_shared<Batch>(read_batch(v, model_->batch_spec(), need));
    keep.Set("batch", v);
    return b;
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    Napi::Value out;
    rethrow_as_js(info.Env(), [&] {
      Napi::Object keep = Napi::Object::New(info.Env());
      auto batch = batch_arg(info[0], keep, Need::Loss);
      training_buffers();
      const models::OptimConfig opt = read_optim(info[1]);
      auto res = std::make_shared<models::StepResult>();
      out = enqueue(
          info, keep, [this, batch, opt, res] { *res = model_->train_step(batch->view(), opt); },
          [res](Napi::Object keep) {
            Napi::Object r = Napi::Object::New(keep.Env());
            r.Set("loss", res->loss);
            r.Set("gradNorm", res->grad_norm);
            r.Set("updated", res->updated);
            return Napi::Value(r);
          });
    });
    return out;
  }

  // forward(batch) → {output, loss}: AMAE's prediction of every patch [Nc, P, p³], a segmentation
  // model's logits [S, classes, H, W, D]; loss where the batch carries what it needs (else absent).
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    return output_call(info, [](Model& m, const models::Batch& b, const Tensor& out) { return m.forward(b, out); },
                       [](Model& m, const models::Batch& b) { return m.output_shape(b); });
  }

  // encode(batch) → {output}: the ViT's final-normed tokens [T, E].
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    return output_call(
        info,
        [](Model& m, const models::Batch& b, const Tensor& out) {
          m.encode(b, out);
          return std::numeric_limits<float>::quiet_NaN();
        },
        [](Model& m, const models::Batch& b) { return m.encode_shape(b); });
  }

  template <class Run, class Shape>
  Napi::Value output_call(const Napi::CallbackInfo& info, Run run, Shape shape) {
    Napi::Value out;
    rethrow_as_js(info.Env(), [&] {
      Napi::Object keep = Napi::Object::New(info.Env());
      auto batch = batch_arg(info[0], keep, Need::Inputs);
      Tensor output;
      keep.Set("output", new_js_tensor(info.Env(), shape(*model_, batch->view()), DType::F32, &output));
      auto loss = std::make_shared<float>(0.0f);
      out = enqueue(
          info, keep, [this, batch, output, loss, run] { *loss = run(*model_, batch->view(), output); },
          [loss](Napi::Object keep) {
            Napi::Object r = Napi::Object::New(keep.Env());
            if (!std::isnan(*loss)) r.Set("loss", *loss);
            r.Set("output", keep.Get("output"));
            return Napi::Value(r);
          });
    });
    return out;
  }

  Napi::Value LossAndGrads(const Napi::CallbackInfo& info) {
    Napi::Value out;
    rethrow_as_js(info.Env(), [&] {
      Napi::Object keep = Napi::Object::New(info.Env());
      auto batch = batch_arg(info[0], keep, Need::Loss);
      training_buffers();
      // The gradient arrays are made now (JS thread) and filled by the worker.
      Napi::Object grads = Napi::Object::New(info.Env());
      auto views = std::make_shared<std::vector<std::pair<int, Tensor>>>();
      const auto& all = model_->params().all();
      for (size_t i = 0; i < all.size(); ++i) {
        if (!all[i].trainable) continue;
        Tensor view;
        Napi::Object t = new_js_tensor(info.Env(), all[i].shape, DType::F32, &view);
        grads.Set(all[i].name, t.Get("data"));
        views->push_back({static_cast<int>(i), view});
      }
      keep.Set("grads", grads);
      auto loss = std::make_shared<float>(0.0f);
      out = enqueue(
          info, keep,
          [this, batch, views, loss] {
            *loss = model_->loss_and_grads(batch->view());
            for (auto& [i, view] : *views) memory::copy(view, model_->params()[i].grad);
          },
          [loss](Napi::Object keep) {
            Napi::Object r = Napi::Object::New(keep.Env());
            r.Set("loss", *loss);
            r.Set("grads", keep.Get("grads"));
            return Napi::Value(r);
          });
    });
    return out;
  }

  // 'cpu' or 'cuda': where the weights, gradients, moments and activations live.
  Napi::Value GetDevice(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), model_->device() == Device::CUDA ? "cuda" : "cpu");
  }

  // The checkpoint kind: 'amae', 'unetr', 'adaptive-unetr' or 'unet'.
  Napi::Value GetKind(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), model_->kind()); }

  Napi::Value Parameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& all = model_->params().all();
    Napi::Array out = Napi::Array::New(env, all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("name", all[i].name);
      Napi::Array shape = Napi::Array::New(env, all[i].shape.size());
      for (size_t j = 0; j < all[i].shape.size(); ++j) shape.Set(static_cast<uint32_t>(j), double(all[i].shape[j]));
      p.Set("shape", shape);
      p.Set("decay", all[i].decay);
      p.Set("trainable", all[i].trainable);
      out.Set(static_cast<uint32_t>(i), p);
    }
    return out;
  }

  // getState({weights = true, optimizer = false}) → {weights?: {name: tensor}, optimizer?: {step,
  // m: {name: tensor}, v: {name: tensor}}}; moments exist for trainable parameters only.
  Napi::Value GetState(const Napi::CallbackInfo& info) {
    Napi::Value out;
    rethrow_as_js(info.Env(), [&] {
      Napi::Env env = info.Env();
      bool want_weights = true, want_optim = false;
      if (!info[0].IsUndefined()) {
        Napi::Object o = object_arg(info[0], "options");
        reject_unknown_keys(o, {"weights", "optimizer"}, "options");
        auto flag = [&](const char* k, bool& dst) {
          Napi::Value f = o.Get(k);
          if (f.IsUndefined()) return;
          if (!f.IsBoolean()) type_error(std::string("options.") + k + " must be a boolean");
          dst = f.As<Napi::Boolean>().Value();
        };
        flag("weights", want_weights);
        flag("optimizer", want_optim);
      }
      if (want_optim) training_buffers();
      auto copies = std::make_shared<std::vector<std::pair<Tensor, Tensor>>>();  // (source, JS view)
      const auto& all = model_->params().all();
      auto table = [&](auto pick, bool trainable_only) {
        Napi::Object t = Napi::Object::New(env);
        for (const auto& p : all) {
          if (trainable_only && !p.trainable) continue;
          Tensor view;
          t.Set(p.name, new_js_tensor(env, p.shape, DType::F32, &view));
          copies->push_back({pick(p), view});
        }
        return t;
      };
      Napi::Object state = Napi::Object::New(env);
      if (want_weights) state.Set("weights", table([](const models::Param& p) { return p.value; }, false));
      auto step = std::make_shared<int64_t>(0);
      if (want_optim) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("m", table([](const models::Param& p) { return p.m; }, true));
        o.Set("v", table([](const models::Param& p) { return p.v; }, true));
        state.Set("optimizer", o);
      }
      Napi::Object keep = Napi::Object::New(env);
      keep.Set("state", state);
      out = enqueue(
          info, keep,
          [this, copies, step] {
            for (auto& [src, dst] : *copies) memory::copy(dst, src);  // from the model's device
            *step = model_->params().step();
          },
          [step, want_optim](Napi::Object keep) {
            Napi::Object s = keep.Get("state").As<Napi::Object>();
            if (want_optim) s.Get("optimizer").As<Napi::Object>().Set("step", double(*step));
            return Napi::Value(s);
          });
    });
    return out;
  }

  // setState({weights?: {name: tensor}, optimizer?: {step, m, v}}): weights may be any subset
  // (by name, shapes checked); the optimizer state must be complete. Copied when the call's turn
  // comes, after every call made before it.
  Napi::Value SetState(const Napi::CallbackInfo& info) {
    Napi::Value out;
    rethrow_as_js(info.Env(), [&] {
      Napi::Object state = object_arg(info[0], "state");
      reject_unknown_keys(state, {"weights", "optimizer"}, "state");
      auto copies = std::make_shared<std::vector<std::pair<Tensor, Tensor>>>();  // (JS view, destination)
      models::ParamStore& store = model_->params();
      auto read_table = [&](const Napi::Value& v, const std::string& what, auto pick, bool complete) {
        Napi::Object t = object_arg(v, what);
        Napi::Array names = t.GetPropertyNames();
        for (uint32_t i = 0; i < names.Length(); ++i) {
          const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
          const int id = store.find(name);
          if (id < 0) range_error(what + "." + name + " is not a parameter of this model");
          const models::Param& p = store[id];
          if (complete && !p.trainable)
            range_error(what + "." + name + " is not trained, so it has no optimizer state");
          Tensor src = tensor_from_js(t.Get(name), what + "." + name);
          if (src.dtype != DType::F32) type_error(what + "." + name + ".data must be a Float32Array");
          bool same = src.ndim == static_cast<int>(p.shape.size());
          for (int d = 0; same && d < src.ndim; ++d) same = src.shape[d] == p.shape[static_cast<size_t>(d)];
          if (!same) {
            std::string want = "[";
            for (size_t d = 0; d < p.shape.size(); ++d) want += (d ? "," : "") + std::to_string(p.shape[d]);
            range_error(what + "." + name + " has shape " + src.shape_str() + ", the model's is " + want + "]");
          }
          copies->push_back({src, pick(p)});
        }
        if (complete)
          for (const auto& p : store.all())
            if (p.trainable && !t.Has(p.name)) range_error(what + "." + p.name + " is missing");
      };
      Napi::Value weights = state.Get("weights");
      if (!weights.IsUndefined())
        read_table(weights, "state.weights", [](const models::Param& p) { return p.value; }, false);
      auto step = std::make_shared<int64_t>(-1);
      Napi::Value optim = state.Get("optimizer");
      if (!optim.IsUndefined()) {
        Napi::Object o = object_arg(optim, "state.optimizer");
        reject_unknown_keys(o, {"step", "m", "v"}, "state.optimizer");
        const double s = number_field(o, "step", "state.optimizer");
        if (s < 0 || s != std::floor(s) || s > 9007199254740991.0)
          range_error("state.optimizer.step must be a non-negative integer, got " + num(s));
        *step = static_cast<int64_t>(s);
        training_buffers();
        read_table(o.Get("m"), "state.optimizer.m", [](const models::Param& p) { return p.m; }, true);
        read_table(o.Get("v"), "state.optimizer.v", [](const models::Param& p) { return p.v; }, true);
      }
      Napi::Object keep = Napi::Object::New(info.Env());
      keep.Set("state", state);
      out = enqueue(
          info, keep,
          [this, copies, step] {
            for (auto& [src, dst] : *copies) memory::copy(dst, src);  // onto the model's device
            if (*step >= 0) model_->params().set_step(*step);
          },
          [](Napi::Object keep) { return keep.Env().Undefined(); });
    });
    return out;
  }

  std::unique_ptr<Model> model_;
  std::deque<ModelJob*> queue_;  // calls waiting for the one in flight
  bool busy_ = false;
};

void ModelJob::OnOK() {
  deferred_.Resolve(result_(keep_.Value()));
  model_->next();
}

void ModelJob::OnError(const Napi::Error& e) {
  deferred_.Reject(e.Value());
  model_->next();
}

}  // namespace

void init_model_binding(Napi::Env env, Napi::Object exports) { exports.Set("Model", ModelWrap::Define(env)); }

}  // namespace amae::napi
