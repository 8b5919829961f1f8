#include "base/log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace berth::log {
namespace {
Options g_opts;
int g_fd = 2;
const char* levelName(Level l) {
  switch (l) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warning";
    case Level::Error:
      return "error";
  }
  return "info";
}
}  // namespace

void configure(const Options& opts) {
  g_opts = opts;
  if (!opts.path.empty()) {
    int fd = ::open(opts.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) g_fd = fd;
  }
}

void phase(std::string_view what) {
  if (g_opts.level > Level::Debug) return;
  struct timespec now, start;
  clock_gettime(CLOCK_MONOTONIC, &now);
  // Process start time from /proc would cost a read; the first call's time is close enough as zero.
  static struct timespec first = now;
  start = first;
  double ms = (now.tv_sec - start.tv_sec) * 1e3 + (now.tv_nsec - start.tv_nsec) / 1e6;
  char buf[64];
  snprintf(buf, sizeof buf, " at +%.3fms", ms);
  write(Level::Debug, std::string(what) + buf);
}

bool toFile() {
  return g_fd != 2;
}

std::string nowRfc3339() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

namespace {
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

std::string jsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  appendJsonString(out, s);
  return out;
}

std::optional<int64_t> parseRfc3339Ns(const std::string& t) {
  struct tm tm {};
  const char* rest = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  int64_t ns = static_cast<int64_t>(timegm(&tm)) * 1000000000LL;
  if (*rest == '.') {
    int64_t frac = 0;
    int digits = 0;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest)
      if (digits < 9) frac = frac * 10 + (*rest - '0'), ++digits;
    while (digits++ < 9) frac *= 10;
    ns += frac;
  }
  return ns;
}

void write(Level level, std::string_view msg) {
  if (level < g_opts.level) return;
  std::string line;
  if (g_opts.json) {
    line = "{\"level\":\"" + std::string(levelName(level)) + "\",\"msg\":\"" + jsonEscape(msg) +
           "\",\"time\":\"" + nowRfc3339() + "\"}\n";
  } else if (g_fd == 2) {
    line = std::string(msg) + "\n";
  } else {
    line = nowRfc3339() + " " + levelName(level) + ": " + std::string(msg) + "\n";
  }
  (void)!::write(g_fd, line.data(), line.size());
}

}  // namespace berth::log
