// Signal names and numbers as docker takes them.
#include "engine/signals.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

namespace berth::engine {

std::optional<int> parseSignal(const std::string& sIn) {
  if (sIn.empty()) return std::nullopt;
  std::string s = sIn;
  if (std::all_of(s.begin(), s.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
    int n = std::atoi(s.c_str());
    if (n <= 0 || n > 64) return std::nullopt;
    return n;
  }
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (s.starts_with("SIG")) s = s.substr(3);
  static const std::map<std::string, int> names = {
      {"HUP", 1},    {"INT", 2},   {"QUIT", 3},    {"ILL", 4},   {"TRAP", 5},  {"ABRT", 6},    {"IOT", 6},
      {"BUS", 7},    {"FPE", 8},   {"KILL", 9},    {"USR1", 10}, {"SEGV", 11}, {"USR2", 12},   {"PIPE", 13},
      {"ALRM", 14},  {"TERM", 15}, {"STKFLT", 16}, {"CHLD", 17}, {"CONT", 18}, {"STOP", 19},   {"TSTP", 20},
      {"TTIN", 21},  {"TTOU", 22}, {"URG", 23},    {"XCPU", 24}, {"XFSZ", 25}, {"VTALRM", 26}, {"PROF", 27},
      {"WINCH", 28}, {"IO", 29},   {"POLL", 29},   {"PWR", 30},  {"SYS", 31}};
  auto it = names.find(s);
  if (it != names.end()) return it->second;
  if (s.starts_with("RTMIN+")) {
    int n = std::atoi(s.c_str() + 6);
    if (n >= 0 && 34 + n <= 64) return 34 + n;
  }
  return std::nullopt;
}

}  // namespace berth::engine
