#include "json_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "base/log.h"

namespace berth::shim {

namespace {
constexpr size_t kMaxLine = 16 * 1024;

// Length of a valid UTF-8 sequence at s[i], or 0.
size_t utf8Len(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    n = 2, cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}
}  // namespace

void appendJsonString(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8Len(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '<':
      case '>':
      case '&':  // as Go's encoder, so the files match docker's byte for byte
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

JsonLog::JsonLog(std::string path, int64_t maxSize, int maxFiles)
    : path_(std::move(path)), maxSize_(maxSize), maxFiles_(maxFiles < 1 ? 1 : maxFiles) {}

Result<void> JsonLog::open() {
  fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
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
  appendJsonString(buf_, line);
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
    fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640));
  } else {
    for (int i = maxFiles_ - 1; i >= 1; --i) {
      std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      ::rename(from.c_str(), (path_ + "." + std::to_string(i)).c_str());
    }
    fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  }
  size_ = 0;
}

}  // namespace berth::shim
