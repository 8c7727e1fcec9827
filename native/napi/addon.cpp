// Module entry: the op-level API, the model classes, the CUDA device and facts about this build.
#include <napi.h>

#include "../core/threads.h"

namespace amae::napi {
void init_op_binding(Napi::Env env, Napi::Object exports);
void init_model_binding(Napi::Env env, Napi::Object exports);
void init_cuda_binding(Napi::Env env, Napi::Object exports);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  amae::napi::init_op_binding(env, exports);
  amae::napi::init_model_binding(env, exports);
  amae::napi::init_cuda_binding(env, exports);
  Napi::Object build = Napi::Object::New(env);
#ifdef AMAE_WITH_CUDA
  build.Set("cuda", true);
#else
  build.Set("cuda", false);
#endif
#ifdef AMAE_WITH_CUBLAS
  build.Set("cublas", true);
#else
  build.Set("cublas", false);
#endif
  build.Set("threads", amae::num_threads());
  exports.Set("build", build);
  return exports;
}

NODE_API_MODULE(amae, Init)
