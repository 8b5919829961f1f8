// JSON request bodies: parsed once with bounds (see base/json_bounded.h); the 400 says which bound.
#pragma once

#include <string_view>

#include "base/json_bounded.h"

namespace berth::server {

using berth::JsonLimits;

// An empty body is {}. The error is InvalidArgument ("invalid JSON in the request body: ...").
inline Result<nlohmann::json> parseJsonBody(std::string_view text, const JsonLimits& limits = {}) {
  if (text.empty()) return nlohmann::json::object();
  return parseJsonBounded(text, limits, "invalid JSON in the request body");
}

}  // namespace berth::server
