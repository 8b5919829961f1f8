// Signal names and numbers as docker accepts them: "SIGTERM", "TERM", "15", "RTMIN+3".
#pragma once

#include <optional>
#include <string>

namespace berth::engine {

std::optional<int> parseSignal(const std::string& s);

}  // namespace berth::engine
