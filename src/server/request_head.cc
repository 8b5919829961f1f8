#include "server/request_head.h"

namespace berth::server {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// "/v1.41/..." -> the length of "/v1.41" (0 when the path does not start with a version).
size_t versionPrefix(std::string_view p) {
  if (p.size() < 2 || p[0] != '/' || p[1] != 'v') return 0;
  size_t i = 2, start = i;
  while (i < p.size() && isDigit(p[i])) ++i;
  if (i == start || i >= p.size() || p[i] != '.') return 0;
  start = ++i;
  while (i < p.size() && isDigit(p[i])) ++i;
  if (i == start || i >= p.size() || p[i] != '/') return 0;
  return i;
}

}  // namespace

bool hasCompleteHead(std::string_view bytes) {
  return bytes.find("\r\n\r\n") != std::string_view::npos;
}

std::string urlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 && hexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Target decodeTarget(std::string_view target) {
  Target t;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      std::string_view kv = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (kv.empty()) continue;
      auto eq = kv.find('=');
      std::string k = urlDecode(kv.substr(0, eq));
      std::string v = eq == std::string_view::npos ? "" : urlDecode(kv.substr(eq + 1));
      t.query[k] = v;
      t.queryAll[k].push_back(std::move(v));
    }
  }
  if (size_t n = versionPrefix(path); n > 0) {
    t.apiVersion = std::string(path.substr(2, n - 2));
    path = path.substr(n);
  }
  t.path = std::string(path);
  return t;
}

RoutePattern::RoutePattern(std::string_view p) {
  auto literal = [this](std::string_view s) {
    if (s.empty()) return;
    if (!parts_.empty() && parts_.back().kind == Part::Literal)
      parts_.back().text += s;
    else
      parts_.push_back({Part::Literal, std::string(s)});
  };
  static constexpr std::string_view kSegment = "([^/]+)", kRest = "(.+)";
  while (!p.empty()) {
    if (p.starts_with(kSegment)) {
      parts_.push_back({Part::Segment, {}});
      p.remove_prefix(kSegment.size());
    } else if (p.starts_with(kRest)) {
      parts_.push_back({Part::Rest, {}});
      p.remove_prefix(kRest.size());
    } else {
      literal(p.substr(0, 1));
      p.remove_prefix(1);
    }
  }
}

bool RoutePattern::match(std::string_view path, std::vector<std::string>* out) const {
  out->clear();
  return matchFrom(0, path, out);
}

// The recursion is one level per part of the pattern (a handful), never per character of the path.
bool RoutePattern::matchFrom(size_t i, std::string_view rest, std::vector<std::string>* out) const {
  if (i == parts_.size()) return rest.empty();
  const Part& part = parts_[i];
  switch (part.kind) {
    case Part::Literal:
      return rest.starts_with(part.text) && matchFrom(i + 1, rest.substr(part.text.size()), out);
    case Part::Segment: {
      size_t n = rest.find('/');
      if (n == std::string_view::npos) n = rest.size();
      if (n == 0) return false;
      out->emplace_back(rest.substr(0, n));
      if (matchFrom(i + 1, rest.substr(n), out)) return true;
      out->pop_back();
      return false;
    }
    case Part::Rest:
      // Longest first; the parts after a Rest are literals and segments (no second Rest in any route),
      // so each try is bounded by the remainder's literal checks.
      for (size_t n = rest.size(); n >= 1; --n) {
        // A following literal must start right after: skip lengths where it cannot.
        if (i + 1 < parts_.size() && parts_[i + 1].kind == Part::Literal &&
            rest.substr(n).substr(0, 1) != std::string_view(parts_[i + 1].text).substr(0, 1))
          continue;
        out->emplace_back(rest.substr(0, n));
        if (matchFrom(i + 1, rest.substr(n), out)) return true;
        out->pop_back();
      }
      return false;
  }
  return false;
}

}  // namespace berth::server
