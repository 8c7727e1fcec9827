#include "model_kinds.h"

#include "../models/amae.h"
#include "../models/unet.h"
#include "../models/unetr.h"
#include "cuda_binding.h"
#include "js_args.h"

namespace amae::napi {

const char* const kContrastNames[models::kContrasts] = {"ADC", "TRACE", "T2", "GRE", "SWI", "T1", "FLAIR", "T1CE", "PD"};

namespace {

const std::string at = "config";

int64_t field(const Napi::Object& o, const char* key) { return positive_int(number_field(o, key, at), at + "." + key); }
int64_t field(const Napi::Object& o, const char* key, double fallback) {
  return positive_int(number_field(o, key, at, fallback), at + "." + key);
}

// config.<key> is a or b (absent: a); true when b.
bool choice(const Napi::Object& o, const char* key, const char* a, const char* b) {
  Napi::Value s = o.Get(key);
  if (s.IsUndefined()) return false;
  const std::string got = s.IsString() ? s.As<Napi::String>().Utf8Value() : "";
  if (got != a && got != b) type_error(at + "." + key + " must be '" + a + "' or '" + b + "'");
  return got == b;
}

void read_size(const Napi::Object& o, int64_t size[3]) {
  Napi::Value v = o.Get("size");
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) type_error("config.size must be [H, W, D]");
  const std::vector<int64_t> s = int_list(v, 3, "config.size");
  for (int i = 0; i < 3; ++i) size[i] = s[size_t(i)];
}

std::string size_str(const int64_t s[3]) {
  return "[" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) + "]";
}

void check_divisible(const int64_t size[3], int64_t by, const std::string& why) {
  for (int i = 0; i < 3; ++i)
    if (size[i] % by != 0) range_error("config.size " + size_str(size) + " is not divisible by " + why);
}

void check_heads(int64_t dim, int64_t heads, const std::string& dim_name, const std::string& heads_name) {
  if (dim % heads != 0)
    range_error("config." + dim_name + " = " + std::to_string(dim) + " is not divisible by config." + heads_name + " = " +
                std::to_string(heads));
}

// config.slots: distinct registry ids, the input channels in order.
std::vector<int> read_slots(const Napi::Object& o) {
  Napi::Value v = o.Get("slots");
  if (!v.IsArray() || v.As<Napi::Array>().Length() == 0)
    type_error("config.slots must be a non-empty array of contrast ids (registry indices 0.." +
               std::to_string(models::kContrasts - 1) + ")");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int> slots;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    const std::string name = "config.slots[" + std::to_string(i) + "]";
    Napi::Value d = a.Get(i);
    if (!d.IsNumber()) type_error(name + " must be a contrast id");
    const double k = d.As<Napi::Number>().DoubleValue();
    if (k != std::floor(k) || k < 0 || k >= models::kContrasts)
      range_error(name + " = " + num(k) + " is not a contrast id in [0, " + std::to_string(models::kContrasts) + ")");
    for (int s : slots)
      if (s == int(k)) range_error(name + " = " + num(k) + " (" + kContrastNames[s] + ") appears twice");
    slots.push_back(int(k));
  }
  return slots;
}

models::AmaeConfig read_amae(const Napi::Object& o) {
  reject_unknown_keys(o,
                      {"size", "patch", "embedDim", "depth", "heads", "decoderDim", "decoderDepth", "decoderHeads",
                       "mlpRatio", "normPix", "code", "posEmbed", "device"},
                      at);
  models::AmaeConfig c;
  read_size(o, c.size);
  c.patch = field(o, "patch");
  c.embed_dim = field(o, "embedDim");
  c.depth = field(o, "depth");
  c.heads = field(o, "heads");
  c.decoder_dim = field(o, "decoderDim");
  c.decoder_depth = field(o, "decoderDepth");
  c.decoder_heads = field(o, "decoderHeads");
  c.mlp_ratio = field(o, "mlpRatio", 4.0);
  c.norm_pix = bool_field(o, "normPix", at, false);
  c.learned_code = choice(o, "code", "onehot", "learned");
  c.learnable_pos = choice(o, "posEmbed", "sincos", "learnable");
  for (int i = 0; i < 3; ++i)
    if (c.size[i] % c.patch != 0)
      range_error("config.size " + std::string("[") + std::to_string(c.size[0]) + ", " + std::to_string(c.size[1]) + ", " +
                  std::to_string(c.size[2]) + "] is not divisible by config.patch = " + std::to_string(c.patch));
  check_heads(c.embed_dim, c.heads, "embedDim", "heads");
  check_heads(c.decoder_dim, c.decoder_heads, "decoderDim", "decoderHeads");
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

// UNETR (slots) and Adaptive UNETR (tokenizer options instead).
models::UnetrConfig read_unetr(const Napi::Object& o, bool adaptive) {
  std::vector<std::string> known = {"size", "patch", "featureSize", "embedDim", "depth", "heads", "mlpRatio", "classes", "device"};
  if (adaptive) {
    known.push_back("code");
    known.push_back("posEmbed");
  } else {
    known.push_back("slots");
  }
  reject_unknown_keys(o, known, at);
  models::UnetrConfig c;
  read_size(o, c.size);
  c.patch = field(o, "patch", 16.0);
  if (c.patch != 16)
    range_error("config.patch = " + std::to_string(c.patch) + ": the UNETR decoder upsamples ×16, so the patch must be 16");
  check_divisible(c.size, 16, "the patch size 16");
  if (!adaptive) c.slots = read_slots(o);
  c.feature_size = field(o, "featureSize");
  c.embed_dim = field(o, "embedDim");
  c.depth = field(o, "depth");
  c.heads = field(o, "heads");
  c.mlp_ratio = field(o, "mlpRatio", 4.0);
  c.classes = field(o, "classes", 1.0);
  check_heads(c.embed_dim, c.heads, "embedDim", "heads");
  if (adaptive) {
    c.learned_code = choice(o, "code", "onehot", "learned");
    c.learnable_pos = choice(o, "posEmbed", "sincos", "learnable");
    if (!c.learnable_pos && c.embed_dim % 6 != 0)
      range_error("config.embedDim = " + std::to_string(c.embed_dim) +
                  " must be divisible by 6 for the 3-D sin-cos position embedding (or set config.posEmbed = 'learnable')");
  }
  if (c.patches() > (int64_t(1) << 20)) range_error("config.size gives too many patches");
  return c;
}

models::UnetConfig read_unet(const Napi::Object& o) {
  reject_unknown_keys(o, {"size", "slots", "channels", "classes", "device"}, at);
  models::UnetConfig c;
  read_size(o, c.size);
  check_divisible(c.size, 16, "16 (four 2×2×2 poolings)");
  c.slots = read_slots(o);
  const std::vector<int64_t> ch = int_list(o.Get("channels"), models::kUnetLevels, "config.channels");
  for (int l = 0; l < models::kUnetLevels; ++l) c.channels[l] = ch[size_t(l)];
  c.classes = field(o, "classes", 1.0);
  return c;
}

}  // namespace

std::unique_ptr<models::Model> create_model(const std::string& kind, const Napi::Value& v, uint64_t seed) {
  Napi::Object o = object_arg(v, at);
  const Device device = device_arg(o.Get("device"), "config.device");
  auto place = [&] {
    if (device == Device::CUDA) require_cuda("config.device 'cuda'");
    return device;
  };
  if (kind == "amae") {
    const models::AmaeConfig c = read_amae(o);
    return std::make_unique<models::Amae>(c, seed, place());
  }
  if (kind == "unetr" || kind == "adaptive-unetr") {
    const models::UnetrConfig c = read_unetr(o, kind == "adaptive-unetr");
    if (kind == "unetr") return std::make_unique<models::Unetr>(c, seed, place());
    return std::make_unique<models::AdaptiveUnetr>(c, seed, place());
  }
  if (kind == "unet") {
    const models::UnetConfig c = read_unet(o);
    return std::make_unique<models::Unet>(c, seed, place());
  }
  range_error("kind '" + kind + "' is not a model kind (kinds: amae, unetr, adaptive-unetr, unet)");
}

}  // namespace amae::napi
