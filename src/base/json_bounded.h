// JSON from outside (API bodies, image manifests and configs, OCI config.json), parsed once with bounds:
// nesting depth, number of values and total size. A document beyond them is refused before any of it is
// built in memory, with an error that says which bound (or where the syntax broke).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/error.h"

namespace berth {

struct JsonLimits {
  size_t maxDepth = 128;       // docker's documents nest about 6 deep; Go's decoder stops at 10,000
  size_t maxValues = 200'000;  // scalars, arrays and objects together
  size_t maxBytes = 4 << 20;
};

// InvalidArgument errors start with `what`: "<what>: nested deeper than 128 levels".
Result<nlohmann::json> parseJsonBounded(std::string_view text, const JsonLimits& limits,
                                        const std::string& what);

}  // namespace berth
