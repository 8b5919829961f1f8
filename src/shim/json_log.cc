#include "shim/json_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "base/log.h"

namespace berth::shim {

namespace {
constexpr size_t kMaxLine = 16 * 1024;
}  // namespace

JsonLog::JsonLog(std::string path, int64_t maxSize, int maxFiles)
    : path_(std::move(path)), maxSize_(maxSize), maxFiles_(maxFiles < 1 ? 1 : maxFiles) {}

Result<void> JsonLog::open() {
  fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd_) return sysFail("opening the log " + path_);
  struct stat st;
  size_ = ::fstat(fd_.get(), &st) == 0 ? st.st_size : 0;
  return {};
}

void JsonLog::write(int stream, const char* data, size_t len) {
  if (stream < 1 || stream > 2) return;
  std::string& p = partial_[stream];
  std::string_view in(data, len);
  while (!in.empty()) {
    size_t nl = in.find('\n');
    if (nl == std::string_view::npos) {
      p.append(in);
      while (p.size() >= kMaxLine) {
        record(stream, std::string_view(p).substr(0, kMaxLine));
        p.erase(0, kMaxLine);
      }
      return;
    }
    if (p.empty()) {
      record(stream, in.substr(0, nl + 1));
    } else {
      p.append(in.substr(0, nl + 1));
      record(stream, p);
      p.clear();
    }
    in.remove_prefix(nl + 1);
  }
}

void JsonLog::flush() {
  for (int s = 1; s <= 2; ++s)
    if (!partial_[s].empty()) {
      record(s, partial_[s]);
      partial_[s].clear();
    }
}

void JsonLog::record(int stream, std::string_view line) {
  if (!fd_) return;
  buf_.assign("{\"log\":\"");
  log::appendJsonString(buf_, line);
  buf_ += stream == 1 ? "\",\"stream\":\"stdout\",\"time\":\"" : "\",\"stream\":\"stderr\",\"time\":\"";
  buf_ += log::nowRfc3339();
  buf_ += "\"}\n";
  if (maxSize_ > 0 && size_ > 0 && size_ + static_cast<int64_t>(buf_.size()) > maxSize_) rotate();
  const char* p = buf_.data();
  size_t left = buf_.size();
  while (left) {
    ssize_t n = ::write(fd_.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a full disk loses log lines, never the container
    }
    p += n, left -= static_cast<size_t>(n);
  }
  size_ += static_cast<int64_t>(buf_.size());
}

void JsonLog::rotate() {
  fd_.reset();
  if (maxFiles_ <= 1) {
    fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
  } else {
    for (int i = maxFiles_ - 1; i >= 1; --i) {
      std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      ::rename(from.c_str(), (path_ + "." + std::to_string(i)).c_str());
    }
    fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  }
  size_ = 0;
}

}  // namespace berth::shim
