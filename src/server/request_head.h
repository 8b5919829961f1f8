// The parts of a request head the routes see, decoded from the raw target without recursion or regexes
// (libstdc++'s std::regex recurses per character: a 30 KB path overflowed a thread's stack).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::server {

// True when the bytes hold the end of a request head (CRLF CRLF).
bool hasCompleteHead(std::string_view bytes);

// %XX and '+' decoded; a malformed escape is kept as it is (as Go's lenient path does for docker).
std::string urlDecode(std::string_view s);

struct Target {
  std::string path;                                          // without the /vX.Y prefix
  std::string apiVersion;                                    // "1.41", or empty when the path has none
  std::map<std::string, std::string> query;                  // the last value of each parameter
  std::map<std::string, std::vector<std::string>> queryAll;  // every value (names=a&names=b)
};

// "/v1.41/containers/json?all=1" -> path "/containers/json", version "1.41", query {all: 1}.
Target decodeTarget(std::string_view target);

// A route pattern: literal text with captures "([^/]+)" (one segment) and "(.+)" (the rest, slashes
// included, the longest that lets the remainder match). Anything else is literal.
class RoutePattern {
 public:
  explicit RoutePattern(std::string_view pattern);
  // True when path matches the whole pattern; captures (still URL-encoded) go to *out.
  bool match(std::string_view path, std::vector<std::string>* out) const;

 private:
  struct Part {
    enum Kind { Literal, Segment, Rest } kind;
    std::string text;  // Literal only
  };
  bool matchFrom(size_t part, std::string_view rest, std::vector<std::string>* out) const;
  std::vector<Part> parts_;
};

}  // namespace berth::server
