#include "image/reference.h"

#include <cctype>

namespace berth::image {
namespace {

constexpr std::string_view kDefaultDomain = "docker.io";

Result<Reference> bad(std::string_view s, const std::string& why) {
  return std::unexpected(
      Error(ErrorCategory::InvalidArgument, "invalid reference format \"" + std::string(s) + "\": " + why));
}

bool lowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// One path component: [a-z0-9]+ joined by '.', '_', '__' or any number of '-'.
bool validComponent(std::string_view c) {
  if (c.empty() || !lowerAlnum(c.front()) || !lowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (lowerAlnum(ch)) continue;
    if (ch == '-') continue;
    if (ch == '.' && lowerAlnum(c[i - 1]) && lowerAlnum(c[i + 1])) continue;
    if (ch == '_') {
      if (lowerAlnum(c[i + 1])) continue;
      if (c[i + 1] == '_' && i + 2 < c.size() && lowerAlnum(c[i + 2]) && lowerAlnum(c[i - 1])) {
        ++i;
        continue;
      }
    }
    return false;
  }
  return true;
}

bool validTag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(std::isalnum(static_cast<unsigned char>(t[0])) || t[0] == '_')) return false;
  for (char c : t)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

bool validDomain(std::string_view d) {
  if (d.empty()) return false;
  // host[:port], the port digits only.
  auto colon = d.rfind(':');
  if (colon != std::string_view::npos && d.find(']', colon) == std::string_view::npos) {
    auto port = d.substr(colon + 1);
    if (port.empty()) return false;
    for (char c : port)
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    d = d.substr(0, colon);
    if (d.empty()) return false;
  }
  for (char c : d)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' ||
          c == ']'))
      return false;
  return true;
}

}  // namespace

Result<Reference> parseReference(std::string_view s) {
  if (s.empty()) return bad(s, "empty");
  if (s.size() > 255 + 128 + 72) return bad(s, "too long");
  Reference r;
  std::string_view rest = s;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto d = Digest::parse(rest.substr(at + 1));
    if (!d) return bad(s, d.error().message());
    r.digest = *d;
    rest = rest.substr(0, at);
  }
  // A tag is after the last ':' that comes after the last '/' (a ':' before it is a registry port).
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = std::string(rest.substr(colon + 1));
    if (!validTag(r.tag)) return bad(s, "bad tag \"" + r.tag + "\"");
    rest = rest.substr(0, colon);
  }
  // The first component is a domain when it has '.' or ':' or is "localhost".
  auto first = rest.find('/');
  std::string_view head = first == std::string_view::npos ? std::string_view() : rest.substr(0, first);
  if (!head.empty() && (head.find('.') != std::string_view::npos ||
                        head.find(':') != std::string_view::npos || head == "localhost")) {
    if (!validDomain(head)) return bad(s, "bad registry \"" + std::string(head) + "\"");
    r.domain = std::string(head);
    rest = rest.substr(first + 1);
  } else {
    r.domain = std::string(kDefaultDomain);
  }
  if (r.domain == "index.docker.io") r.domain = std::string(kDefaultDomain);
  if (rest.empty()) return bad(s, "no repository name");
  size_t start = 0;
  for (;;) {
    auto end = rest.find('/', start);
    auto comp = rest.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!validComponent(comp)) {
      for (char c : comp)
        if (std::isupper(static_cast<unsigned char>(c))) return bad(s, "repository name must be lowercase");
      return bad(s, "bad name component \"" + std::string(comp) + "\"");
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  r.path = std::string(rest);
  if (r.domain == kDefaultDomain && r.path.find('/') == std::string::npos) r.path = "library/" + r.path;
  if (r.path.size() + r.domain.size() + 1 > 255) return bad(s, "name longer than 255 characters");
  if (r.tag.empty() && !r.digest) r.tag = "latest";
  return r;
}

std::string Reference::str() const {
  std::string out = name();
  if (!tag.empty()) out += ":" + tag;
  if (digest) out += "@" + digest->str();
  return out;
}

std::string Reference::familiarName() const {
  if (domain != kDefaultDomain) return name();
  constexpr std::string_view lib = "library/";
  if (path.substr(0, lib.size()) == lib && path.find('/', lib.size()) == std::string::npos)
    return path.substr(lib.size());
  return path;
}

std::string Reference::familiar() const {
  std::string out = familiarName();
  if (!tag.empty()) out += ":" + tag;
  if (digest) out += "@" + digest->str();
  return out;
}

}  // namespace berth::image
