// docker's json-file log format, written by the shim: one JSON object per line of output,
// {"log":"hello\n","stream":"stdout","time":"2026-11-28T10:00:00.123456789Z"}, with rotation by size
// (<path>, <path>.1, … <path>.<max-file - 1>). No JSON library: the shim stays small.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/fd.h"

namespace berth::shim {

class JsonLog {
 public:
  // maxSize <= 0: no rotation.
  JsonLog(std::string path, int64_t maxSize, int maxFiles);
  Result<void> open();
  // Output of a stream (1 stdout, 2 stderr): complete lines are written, a partial line waits for its end
  // (or is written once it reaches 16 KiB, as docker does).
  void write(int stream, const char* data, size_t len);
  // Writes what is left of partial lines (at exit).
  void flush();

 private:
  void record(int stream, std::string_view line);
  void rotate();
  std::string path_;
  int64_t maxSize_;
  int maxFiles_;
  UniqueFd fd_;
  int64_t size_ = 0;
  std::string partial_[3];
  std::string buf_;
};

}  // namespace berth::shim
