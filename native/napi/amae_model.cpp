// AmaeModel: the ObjectWrap over models::Amae. Arguments are checked on the JS thread (a
// TypeError or RangeError naming the argument, thrown synchronously); the work runs in an
// AsyncWorker and every compute method returns a Promise. Calls on one model are serialised: a
// call made while another runs waits in the model's queue, so two never touch the weights at
// once. Different models run concurrently.
#include <napi.h>

#include <cmath>
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
#include "../models/amae.h"
#include "convert.h"
#include "cuda_binding.h"

namespace amae::napi {
namespace {

using models::Amae;
using models::AmaeBatch;
using models::AmaeConfig;

// ---- argument reading -------------------------------------------------------------------

Napi::Object object_arg(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) type_error(what + " must be an object");
  return v.As<Napi::Object>();
}

// A number as JS prints it: the shortest form that reads back to the same double.
std::string num(double x) {
  char buf[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

// A number field; absent (undefined) gives the fallback when there is one.
double number_field(const Napi::Object& o, const std::string& key, const std::string& what, const double* fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && fallback) return *fallback;
  if (!v.IsNumber()) type_error(what + "." + key + " must be a number");
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x)) range_error(what + "." + key + " must be finite, got " + num(x));
  return x;
}
double number_field(const Napi::Object& o, const std::string& key, const std::string& what) {
  return number_field(o, key, what, nullptr);
}
double number_field(const Napi::Object& o, const std::string& key, const std::string& what, double fallback) {
  return number_field(o, key, what, &fallback);
}

int64_t positive_int(double x, const std::string& name) {
  if (x != std::floor(x) || x < 1 || x > 1e6) range_error(name + " must be a positive integer, got " + num(x));
  return static_cast<int64_t>(x);
}

// A snapshot of an Int32Array: the worker reads the copy, so JS writing to the array while a
// call is queued or running cannot turn into a bad index.
std::vector<int32_t> int32_field(const Napi::Object& o, const std::string& key, const std::string& what) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    type_error(what + "." + key + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

void reject_unknown_keys(const Napi::Object& o, const std::vector<std::string>& known, const std::string& what) {
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    bool ok = false;
    for (const auto& n : known) ok = ok || n == k;
    if (!ok) {
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
      type_error(what + "." + k + " is not a known field (known: " + list + ")");
    }
  }
}

// The model's configuration, and in *device where it runs (config.device, default 'cpu').
AmaeConfig read_config(const Napi::Value& v, Device* device) {
  const std::string at = "config";
  Napi::Object o = object_arg(v, at);
  reject_unknown_keys(o,
                      {"size", "patch", "embedDim", "depth", "heads", "decoderDim", "decoderDepth", "decoderHeads",
                       "mlpRatio", "normPix", "code", "posEmbed", "device"},
                      at);
  *device = device_arg(o.Get("device"), "config.device");
  AmaeConfig c;
  Napi::Value size = o.Get("size");
  if (!size.IsArray() || size.As<Napi::Array>().Length() != 3) type_error("config.size must be [H, W, D]");
  for (uint32_t i = 0; i < 3; ++i) {
    Napi::Value d = size.As<Napi::Array>().Get(i);
    if (!d.IsNumber()) type_error("config.size[" + std::to_string(i) + "] must be a number");
    c.size[i] = positive_int(d.As<Napi::Number>().DoubleValue(), "config.size[" + std::to_string(i) + "]");
  }
  auto field = [&](const char* key) { return positive_int(number_field(o, key, at), at + "." + key); };
  c.patch = field("patch");
  c.embed_dim = field("embedDim");
  c.depth = field("depth");
  c.heads = field("heads");
  c.decoder_dim = field("decoderDim");
  c.decoder_depth = field("decoderDepth");
  c.decoder_heads = field("decoderHeads");
  c.mlp_ratio = positive_int(number_field(o, "mlpRatio", at, 4.0), "config.mlpRatio");
  Napi::Value norm_pix = o.Get("normPix");
  if (!norm_pix.IsUndefined() && !norm_pix.IsBoolean()) type_error("config.normPix must be a boolean");
  c.norm_pix = norm_pix.IsBoolean() && norm_pix.As<Napi::Boolean>().Value();
  auto choice = [&](const char* key, const char* a, const char* b) {
    Napi::Value s = o.Get(key);
    if (s.IsUndefined()) return false;
    const std::string got = s.IsString() ? s.As<Napi::String>().Utf8Value() : "";
    if (got != a && got != b) type_error(at + "." + key + " must be '" + a + "' or '" + b + "'");
    return got == b;
  };
  c.learned_code = choice("code", "onehot", "learned");
  c.learnable_pos = choice("posEmbed", "sincos", "learnable");

  for (int i = 0; i < 3; ++i)
    if (c.size[i] % c.patch != 0)
      range_error("config.size [" + std::to_string(c.size[0]) + ", " + std::to_string(c.size[1]) + ", " +
                  std::to_string(c.size[2]) + "] is not divisible by config.patch = " + std::to_string(c.patch));
  if (c.embed_dim % c.heads != 0)
    range_error("config.embedDim = " + std::to_string(c.embed_dim) + " is not divisible by config.heads = " +
                std::to_string(c.heads));
  if (c.decoder_dim % c.decoder_heads != 0)
    range_error("config.decoderDim = " + std::to_string(c.decoder_dim) + " is not divisible by config.decoderHeads = " +
                std::to_string(c.decoder_heads));
  if (!c.learnable_pos && c.embed_dim % 6 != 0)
    range_error("config.embedDim = " + std::to_string(c.embed_dim) +
                " must be divisible by 6 for the 3-D sin-cos position embedding (or set config.posEmbed = 'learnable')");
  if (c.decoder_dim % 6 != 0)
    range_error("config.decoderDim = " + std::to_string(c.decoder_dim) +
                " must be divisible by 6 for the decoder's 3-D sin-cos position embedding");
  if (c.norm_pix && c.patch_voxels() < 2) range_error("config.normPix needs config.patch ≥ 2 (the unbiased variance)");
  if (c.patches() > (int64_t(1) << 20) || c.patch_voxels() > (int64_t(1) << 24))
    range_error("config.size / config.patch give too many or too large patches");
  return c;
}

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
  Tensor volumes;
  std::vector<int32_t> contrasts, subjects, keep, keep_offsets;

  AmaeBatch view() {
    auto ints = [](std::vector<int32_t>& v) { return Tensor(v.data(), {static_cast<int64_t>(v.size())}, DType::I32); };
    return {volumes, ints(contrasts), ints(subjects), ints(keep), ints(keep_offsets)};
  }
};

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

Batch read_batch(const Napi::Value& v, const AmaeConfig& cfg) {
  Napi::Object o = object_arg(v, "batch");
  reject_unknown_keys(o, {"volumes", "contrasts", "subjects", "keep", "keepOffsets"}, "batch");
  Batch b;
  b.contrasts = int32_field(o, "contrasts", "batch");
  b.subjects = int32_field(o, "subjects", "batch");
  b.keep = int32_field(o, "keep", "batch");
  b.keep_offsets = int32_field(o, "keepOffsets", "batch");
  b.volumes = tensor_from_js(o.Get("volumes"), "batch.volumes");
  const int64_t Nc = static_cast<int64_t>(b.contrasts.size()), P = cfg.patches();
  if (b.volumes.dtype != DType::F32) type_error("batch.volumes.data must be a Float32Array");
  const Tensor& vol = b.volumes;
  if (vol.ndim != 4 || vol.shape[0] != Nc || vol.shape[1] != cfg.size[0] || vol.shape[2] != cfg.size[1] ||
      vol.shape[3] != cfg.size[2])
    batch_range("volumes.shape " + vol.shape_str() + " must be [" + std::to_string(Nc) + "," +
                std::to_string(cfg.size[0]) + "," + std::to_string(cfg.size[1]) + "," + std::to_string(cfg.size[2]) +
                "] (one volume per entry of batch.contrasts, at the model's size)");
  if (Nc == 0) batch_range("contrasts must not be empty");
  for (int64_t n = 0; n < Nc; ++n)
    if (b.contrasts[n] < 0 || b.contrasts[n] >= models::kContrasts)
      batch_range("contrasts[" + std::to_string(n) + "] = " + std::to_string(b.contrasts[n]) + " is out of range [0, " +
                  std::to_string(models::kContrasts) + ")");
  check_offsets(b.subjects, "subjects", Nc, "the number of volumes", "every subject has a contrast");
  for (size_t s = 0; s + 1 < b.subjects.size(); ++s)
    for (int32_t n = b.subjects[s] + 1; n < b.subjects[s + 1]; ++n)
      if (b.contrasts[n] <= b.contrasts[n - 1])
        batch_range("contrasts[" + std::to_string(n) + "] = " + std::to_string(b.contrasts[n]) +
                    " must be greater than batch.contrasts[" + std::to_string(n - 1) + "] = " +
                    std::to_string(b.contrasts[n - 1]) + " (a subject's contrasts in registry order, each once)");
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

class AmaeModel;

// One queued call: `work` runs on a worker thread, `result` builds the resolved value on the JS
// thread from `keep`, which holds every JS value the work reads or writes (and the model).
class ModelJob : public Napi::AsyncWorker {
 public:
  using Result = std::function<Napi::Value(Napi::Object keep)>;
  ModelJob(Napi::Env env, AmaeModel* model, Napi::Object keep, std::function<void()> work, Result result)
      : Napi::AsyncWorker(env, "amae.AmaeModel"),
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
  AmaeModel* model_;
  Napi::ObjectReference keep_;
  std::function<void()> work_;
  Result result_;
};

class AmaeModel : public Napi::ObjectWrap<AmaeModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "AmaeModel",
                       {InstanceMethod<&AmaeModel::TrainStep>("trainStep"),
                        InstanceMethod<&AmaeModel::Forward>("forward"),
                        InstanceMethod<&AmaeModel::LossAndGrads>("lossAndGrads"),
                        InstanceMethod<&AmaeModel::Parameters>("parameters"),
                        InstanceMethod<&AmaeModel::GetState>("getState"),
                        InstanceMethod<&AmaeModel::SetState>("setState"),
                        InstanceAccessor<&AmaeModel::GetDevice>("device")});
  }

  explicit AmaeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AmaeModel>(info) {
    rethrow_as_js(info.Env(), [&] {
      if (!info.IsConstructCall()) type_error("AmaeModel must be called with new");
      Device device = Device::CPU;
      const AmaeConfig cfg = read_config(info[0], &device);
      const uint64_t seed = read_seed(info[1]);
      if (device == Device::CUDA) require_cuda("config.device 'cuda'");
      model_ = std::make_unique<Amae>(cfg, seed, device);
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

  // The batch with references to its JS values kept in `keep`.
  std::shared_ptr<Batch> batch_arg(const Napi::Value& v, Napi::Object keep) {
    auto b = std::make_shared<Batch>(read_batch(v, model_->config()));
    keep.Set("batch", v);
    return b;
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    Napi::Value out;
    rethrow_as_js(info.Env(), [&] {
      Napi::Object keep = Napi::Object::New(info.Env());
      auto batch = batch_arg(info[0], keep);
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

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Value out;
    rethrow_as_js(info.Env(), [&] {
      Napi::Object keep = Napi::Object::New(info.Env());
      auto batch = batch_arg(info[0], keep);
      const AmaeConfig& c = model_->config();
      const int64_t Nc = static_cast<int64_t>(batch->contrasts.size());
      Tensor pred;
      keep.Set("pred", new_js_tensor(info.Env(), {Nc, c.patches(), c.patch_voxels()}, DType::F32, &pred));
      auto loss = std::make_shared<float>(0.0f);
      out = enqueue(
          info, keep, [this, batch, pred, loss] { *loss = model_->forward(batch->view(), pred); },
          [loss](Napi::Object keep) {
            Napi::Object r = Napi::Object::New(keep.Env());
            r.Set("loss", *loss);
            r.Set("pred", keep.Get("pred"));
            return Napi::Value(r);
          });
    });
    return out;
  }

  Napi::Value LossAndGrads(const Napi::CallbackInfo& info) {
    Napi::Value out;
    rethrow_as_js(info.Env(), [&] {
      Napi::Object keep = Napi::Object::New(info.Env());
      auto batch = batch_arg(info[0], keep);
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

  std::unique_ptr<Amae> model_;
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

void init_amae_model(Napi::Env env, Napi::Object exports) { exports.Set("AmaeModel", AmaeModel::Define(env)); }

}  // namespace amae::napi
