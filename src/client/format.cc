#include "client/format.h"

#include <cmath>
#include <ctime>

#include "client/gotemplate.h"

namespace berth::client {

using nlohmann::json;

namespace {

size_t runes(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string unescape(std::string f) {
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\\' && i + 1 < f.size() && (f[i + 1] == 't' || f[i + 1] == 'n')) {
      out += f[i + 1] == 't' ? '\t' : '\n';
      ++i;
    } else {
      out += f[i];
    }
  }
  return out;
}

}  // namespace

std::string tabwrite(const std::string& text, size_t minwidth, size_t padding) {
  std::vector<std::vector<std::string>> lines;
  std::vector<std::string> cur;
  std::string cell;
  for (char c : text) {
    if (c == '\t') {
      cur.push_back(cell);
      cell.clear();
    } else if (c == '\n') {
      cur.push_back(cell);
      lines.push_back(cur);
      cur.clear();
      cell.clear();
    } else {
      cell += c;
    }
  }
  if (!cell.empty() || !cur.empty()) {
    cur.push_back(cell);
    lines.push_back(cur);
  }
  std::vector<size_t> width;
  for (auto& l : lines)
    for (size_t i = 0; i + 1 < l.size(); ++i) {
      if (width.size() <= i) width.push_back(minwidth);
      width[i] = std::max(width[i], runes(l[i]) + padding);
    }
  std::string out;
  for (auto& l : lines) {
    for (size_t i = 0; i < l.size(); ++i) {
      out += l[i];
      if (i + 1 < l.size()) out += std::string(width[i] - std::min(width[i], runes(l[i])), ' ');
    }
    out += '\n';
  }
  return out;
}

std::string humanDuration(int64_t s) {
  if (s < 1) return "Less than a second";
  if (s == 1) return "1 second";
  if (s < 60) return std::to_string(s) + " seconds";
  int64_t m = s / 60;
  if (m == 1) return "About a minute";
  if (m < 60) return std::to_string(m) + " minutes";
  int64_t h = (s + 1800) / 3600;
  if (h == 1) return "About an hour";
  if (h < 48) return std::to_string(h) + " hours";
  if (h < 24 * 7 * 2) return std::to_string(h / 24) + " days";
  if (h < 24 * 30 * 2) return std::to_string(h / 24 / 7) + " weeks";
  if (h < 24 * 365 * 2) return std::to_string(h / 24 / 30) + " months";
  return std::to_string(s / 3600 / 24 / 365) + " years";
}

namespace {
std::string customSize(double size, double base, const char* const* units, int count, int precision) {
  int i = 0;
  while (size >= base && i < count - 1) size /= base, ++i;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g%s", precision, size, units[i]);
  return buf;
}
}  // namespace

std::string humanSize(double bytes) {
  static const char* const u[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  return customSize(bytes, 1000.0, u, 9, 3);
}

std::string bytesSize(double bytes) {
  static const char* const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  return customSize(bytes, 1024.0, u, 9, 4);
}

double parseTime(const std::string& t) {
  struct tm tm = {};
  const char* rest = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return 0;
  double frac = 0;
  if (*rest == '.') {
    char* end = nullptr;
    frac = std::strtod(rest, &end);
    rest = end;
  }
  double secs = static_cast<double>(timegm(&tm)) + frac;
  if (*rest == '+' || *rest == '-') {
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%d:%d", &hh, &mm) == 2)
      secs -= (*rest == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
  }
  if (tm.tm_year < 71) return 0;  // 0001-01-01: never
  return secs;
}

double nowSeconds() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string goTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
  return buf;
}

std::string ellipsis(const std::string& s, size_t width) {
  if (runes(s) <= width) return s;
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80 && ++n > width - 1) break;
    out += s[i];
  }
  return out + "…";
}

Result<std::string> formatRows(std::string format, const std::string& defaultTable,
                               const std::vector<json>& rows, const json& headers) {
  if (format.empty() || format == "table") format = defaultTable;
  if (format == "json") {
    std::string out;
    for (auto& r : rows) {
      json clean = json::object();
      for (auto& [k, v] : r.items())
        if (!k.starts_with("__")) clean[k] = v;
      out += clean.dump() + "\n";
    }
    return out;
  }
  bool table = format.starts_with("table");
  if (table) format = format.substr(5);
  if (table && !format.empty() && format[0] == ' ') format = format.substr(1);
  auto tmpl = Template::parse(unescape(format));
  if (!tmpl) return std::unexpected(tmpl.error());
  std::string body;
  if (table) {
    auto h = tmpl->render(headers, true);
    if (!h) return std::unexpected(h.error());
    body += *h + "\n";
  }
  for (auto& r : rows) {
    auto line = tmpl->render(r);
    if (!line) return std::unexpected(line.error());
    body += *line + "\n";
  }
  return table ? tabwrite(body) : body;
}

Result<std::string> formatOne(std::string format, const json& value) {
  if (format == "json") return value.dump() + "\n";
  auto tmpl = Template::parse(unescape(format));
  if (!tmpl) return std::unexpected(tmpl.error());
  auto s = tmpl->render(value);
  if (!s) return std::unexpected(s.error());
  return *s + "\n";
}

}  // namespace berth::client
