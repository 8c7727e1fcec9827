// op(name, inputs, attrs?, outputs?, options?) → Promise<outputs>: checks the call on the JS thread
// (typed errors thrown synchronously), then runs the op in an AsyncWorker off the event loop.
// options.device 'cuda' runs it on the GPU: the worker copies every tensor to device memory, runs
// the op there and copies the outputs (and the inputs it updates in place) back.
#include <napi.h>

#include <algorithm>
#include <cmath>

#include "../core/error.h"
#include "../core/memory.h"
#include "convert.h"
#include "cuda_binding.h"
#include "op_registry.h"

namespace amae::napi {
namespace {

class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, const OpDef* def, OpCall call, Napi::Object keep, Device device)
      : Napi::AsyncWorker(env, "amae.op"),
        deferred_(Napi::Promise::Deferred::New(env)),
        def_(def),
        call_(std::move(call)),
        keep_(Napi::Persistent(keep)),
        device_(device) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      if (device_ == Device::CUDA) {
        run_on_device();
        return;
      }
      for (const auto& name : call_.reused_) memory::zero(call_.outputs_.at(name));
      def_->run(call_);
    } catch (const std::bad_alloc&) {
      SetError(call_.op_ + ": out of memory");
    } catch (const std::exception& e) {
      SetError(device_ == Device::CUDA ? call_.op_ + " (cuda): " + e.what() : std::string(e.what()));
    }
  }
  void OnOK() override { deferred_.Resolve(keep_.Value().Get("outputs")); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // The op on device copies of its tensors: inputs uploaded (the Int32 ones from the snapshots
  // prepare() checked), outputs zero-filled as a fresh output is (backward ops add into them),
  // then the outputs and the inputs the op updates copied back into the JS buffers. The copies
  // to the host wait for the op. An absent tensor (data == nullptr) stays absent.
  void run_on_device() {
    std::vector<memory::Buffer> buffers;  // freed when the call ends, after the copies back
    std::vector<std::pair<Tensor, Tensor>> back;  // (JS buffer, device copy)
    auto upload = [&](Tensor& t, bool fill, bool copy_back) {
      if (!t.data) return;
      const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype);
      buffers.emplace_back(Device::CUDA, bytes ? bytes : 1);  // never nullptr: present stays present
      Tensor dev = t;
      dev.data = buffers.back().data();
      dev.device = Device::CUDA;
      if (fill)
        memory::copy(dev, t);
      else
        memory::zero(dev);
      if (copy_back) back.push_back({t, dev});
      t = dev;
    };
    const auto& writes = def_->writes_inputs;
    for (auto& [name, t] : call_.inputs_)
      upload(t, true, std::find(writes.begin(), writes.end(), name) != writes.end());
    for (auto& [name, t] : call_.outputs_) upload(t, false, true);
    def_->run(call_);
    for (auto& [host, dev] : back) memory::copy(host, dev);
  }

  Napi::Promise::Deferred deferred_;
  const OpDef* def_;
  OpCall call_;
  Napi::ObjectReference keep_;  // inputs and outputs stay alive while the worker runs
  Device device_;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

void read_attrs(const OpDef& def, const Napi::Value& v, OpCall& call) {
  if (v.IsUndefined()) return;
  if (!v.IsObject() || v.IsArray()) type_error(def.name + ": attrs must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    if (std::find(def.attrs.begin(), def.attrs.end(), k) == def.attrs.end())
      type_error(def.name + ": unknown attribute attrs." + k + " (accepted: " + join(def.attrs) + ")");
    Napi::Value a = o.Get(k);
    std::vector<double> vals;
    if (a.IsNumber()) {
      vals.push_back(a.As<Napi::Number>().DoubleValue());
      call.attr_is_list_[k] = false;
    } else if (a.IsBoolean()) {
      vals.push_back(a.As<Napi::Boolean>().Value() ? 1.0 : 0.0);
      call.attr_is_list_[k] = false;
    } else if (a.IsArray()) {
      Napi::Array arr = a.As<Napi::Array>();
      for (uint32_t j = 0; j < arr.Length(); ++j) {
        Napi::Value e = arr.Get(j);
        if (!e.IsNumber()) type_error(def.name + ": attrs." + k + "[" + std::to_string(j) + "] must be a number");
        vals.push_back(e.As<Napi::Number>().DoubleValue());
      }
      call.attr_is_list_[k] = true;
    } else {
      type_error(def.name + ": attrs." + k + " must be a number, a boolean or a list of numbers");
    }
    call.attrs_[k] = std::move(vals);
  }
}

// The optional 4th argument: {name: tensor} buffers to reuse as outputs. Names must be outputs
// this call declares.
Napi::Object reused_outputs(const OpDef& def, const OpCall& call, const Napi::Value& v) {
  if (v.IsUndefined()) return Napi::Object::New(v.Env());
  if (!v.IsObject() || v.IsArray()) type_error(def.name + ": outputs must be an object of tensors");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  std::vector<std::string> declared;
  for (auto& d : call.declared_) declared.push_back(d.first);
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    if (std::find(declared.begin(), declared.end(), k) == declared.end())
      type_error(def.name + ": outputs." + k + " is not an output of this call (outputs: " + join(declared) + ")");
  }
  return o;
}

// The optional 5th argument: {device?: 'cpu' | 'cuda'}.
Device op_device(const OpDef& def, const Napi::Value& v) {
  if (v.IsUndefined()) return Device::CPU;
  if (!v.IsObject() || v.IsArray()) type_error(def.name + ": options must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    if (k != "device") type_error(def.name + ": unknown option options." + k + " (accepted: device)");
  }
  return device_arg(o.Get("device"), def.name + ": options.device");
}

Napi::Value Op(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value result;
  rethrow_as_js(env, [&] {
    if (info.Length() < 2 || !info[0].IsString())
      type_error("op(name, inputs, attrs?): name must be a string");
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const OpDef* def = find_op(name);
    if (!def) type_error("op: unknown op '" + name + "'");
    if (!info[1].IsObject() || info[1].IsArray()) type_error(name + ": inputs must be an object of tensors");

    OpCall call(name);
    // Byte ranges of the caller's input buffers, so that a reused output cannot alias one.
    std::vector<std::pair<std::string, std::pair<const uint8_t*, size_t>>> input_bytes;
    Napi::Object inputs = info[1].As<Napi::Object>();
    Napi::Array keys = inputs.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
      if (std::find(def->inputs.begin(), def->inputs.end(), k) == def->inputs.end())
        type_error(name + ": unknown input inputs." + k + " (accepted: " + join(def->inputs) + ")");
      Tensor t = tensor_from_js(inputs.Get(k), name + ": inputs." + k);
      input_bytes.push_back({"inputs." + k, {static_cast<const uint8_t*>(t.data), t.numel() * dtype_size(t.dtype)}});
      if (t.dtype == DType::I32) {
        auto& copy = call.index_copies_[k];
        copy.assign(t.i32(), t.i32() + t.numel());
        t.data = copy.data();
      }
      call.inputs_[k] = t;
    }
    read_attrs(*def, info.Length() > 2 ? info[2] : env.Undefined(), call);
    const Device device = op_device(*def, info.Length() > 4 ? info[4] : env.Undefined());
    def->prepare(call);
    // After the argument checks, so that a bad call reads the same on every machine.
    if (device == Device::CUDA) require_cuda(name + " on device 'cuda'");

    Napi::Object outputs = Napi::Object::New(env);
    Napi::Object given = reused_outputs(*def, call, info.Length() > 3 ? info[3] : env.Undefined());
    for (auto& [oname, spec] : call.declared_) {
      if (given.Has(oname)) {
        // A caller's buffer, reused: checked here, zero-filled on the worker before the op runs,
        // so the result is what a fresh output would hold — without new pages to fault in.
        const std::string at = name + ": outputs." + oname;
        Tensor t = tensor_from_js(given.Get(oname), at);
        if (t.dtype != spec.second) type_error(at + " must be " + dtype_name(spec.second));
        if (dims_of(t) != spec.first) {
          Tensor want;
          want.ndim = static_cast<int>(spec.first.size());
          for (int i = 0; i < want.ndim; ++i) want.shape[i] = spec.first[i];
          range_error(at + " must have shape " + want.shape_str() + ", got " + t.shape_str());
        }
        const auto* lo = static_cast<const uint8_t*>(t.data);
        const size_t len = t.numel() * dtype_size(t.dtype);
        for (auto& [iname, range] : input_bytes)
          if (len && range.second && lo < range.first + range.second && range.first < lo + len)
            range_error(at + " shares memory with " + iname);
        input_bytes.push_back({"outputs." + oname, {lo, len}});
        outputs.Set(oname, given.Get(oname));
        call.outputs_[oname] = t;
        call.reused_.push_back(oname);
      } else {
        Tensor view;
        outputs.Set(oname, new_js_tensor(env, spec.first, spec.second, &view));
        call.outputs_[oname] = view;
      }
    }
    Napi::Object keep = Napi::Object::New(env);
    keep.Set("inputs", inputs);
    keep.Set("outputs", outputs);
    auto* worker = new OpWorker(env, def, std::move(call), keep, device);
    result = worker->promise();
    worker->Queue();
  });
  return result;
}

Napi::Value OpList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto ops = all_ops();
  Napi::Array out = Napi::Array::New(env, ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", ops[i]->name);
    Napi::Array in = Napi::Array::New(env), at = Napi::Array::New(env);
    for (size_t j = 0; j < ops[i]->inputs.size(); ++j) in.Set(static_cast<uint32_t>(j), ops[i]->inputs[j]);
    for (size_t j = 0; j < ops[i]->attrs.size(); ++j) at.Set(static_cast<uint32_t>(j), ops[i]->attrs[j]);
    d.Set("inputs", in);
    d.Set("attrs", at);
    out.Set(static_cast<uint32_t>(i), d);
  }
  return out;
}

}  // namespace

void init_op_binding(Napi::Env env, Napi::Object exports) {
  exports.Set("op", Napi::Function::New(env, Op, "op"));
  exports.Set("opList", Napi::Function::New(env, OpList, "opList"));
}

}  // namespace amae::napi
