// The model kinds the binding can create, each from its JS configuration object (every field
// checked, errors naming config.<field>): "amae", "unetr", "adaptive-unetr", "unet".
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "../models/model.h"

namespace amae::napi {

// The registry's names (spec §1), index = contrast id.
extern const char* const kContrastNames[models::kContrasts];

// A new model of `kind` from `config` (its `device` field places it), initialised from `seed`.
std::unique_ptr<models::Model> create_model(const std::string& kind, const Napi::Value& config, uint64_t seed);

}  // namespace amae::napi
