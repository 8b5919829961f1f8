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
    int fd = ::open(opts.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
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

std::string jsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
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
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          char b[8];
          snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
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
