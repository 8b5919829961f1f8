// Container ids: 64 random lowercase hex digits, as docker's.
#pragma once

#include <random>
#include <string>

namespace berth {

inline std::string randomHexId() {
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string s(64, '0');
  for (auto& c : s) c = hex[rd() % 16];
  return s;
}

}  // namespace berth
