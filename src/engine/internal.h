// Helpers shared by the engine's files (not part of its interface).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"

namespace berth::engine {

// A JSON value that must be a string array (or null / absent): docker's Cmd, Entrypoint, Env, …
Result<std::vector<std::string>> stringList(const nlohmann::json& body, const char* key,
                                            bool allowString = false);

}  // namespace berth::engine
