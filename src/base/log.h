// Minimal leveled logging in runc's formats: text to stderr, or JSON lines
// ({"level":"error","msg":"...","time":"..."}) to the --log file, which containerd and podman read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::log {

enum class Level { Debug, Info, Warn, Error };

struct Options {
  std::string path;  // empty: stderr
  bool json = false;
  Level level = Level::Warn;
};

void configure(const Options& opts);
// True when a --log file was opened.
bool toFile();
void write(Level level, std::string_view msg);
inline void debug(std::string_view m) {
  write(Level::Debug, m);
}
inline void info(std::string_view m) {
  write(Level::Info, m);
}
inline void warn(std::string_view m) {
  write(Level::Warn, m);
}
inline void error(std::string_view m) {
  write(Level::Error, m);
}
// With --debug: "<what> at +N.NNNms" since the process started (for finding where start-up time goes).
void phase(std::string_view what);
// RFC 3339 with nanoseconds, UTC.
std::string nowRfc3339();
// Escapes a string for inclusion in JSON (without the quotes), as Go's encoding/json does (also <, >, &);
// invalid UTF-8 becomes U+FFFD, so the result always parses.
std::string jsonEscape(std::string_view s);
void appendJsonString(std::string& out, std::string_view s);
// "2026-11-28T10:00:00.123456789Z" (fraction optional) → unix nanoseconds.
std::optional<int64_t> parseRfc3339Ns(const std::string& t);

}  // namespace berth::log
