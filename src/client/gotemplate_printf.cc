// Go's fmt.Sprintf for the verbs docker users write in --format templates.
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/gotemplate.h"

namespace berth::client {

using nlohmann::json;

std::string goPrintf(const std::string& fmt, const std::vector<json>& a) {
  std::string out;
  size_t arg = 1;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    size_t j = i + 1;
    std::string spec = "%";
    // (strchr finds the terminator for a NUL byte: it is not a flag; and a spec is short, so that a
    // width can never ask snprintf for more than its buffer.)
    while (j < fmt.size() && fmt[j] != '\0' && std::strchr("-+ 0#.123456789", fmt[j]) && spec.size() < 8)
      spec += fmt[j++];
    if (j >= fmt.size()) break;
    char verb = fmt[j];
    i = j;
    if (verb == '%') {
      out += '%';
      continue;
    }
    if (arg >= a.size()) {
      out += std::string("%!") + verb + "(MISSING)";
      continue;
    }
    const json& v = a[arg++];
    char buf[512];
    if ((verb == 'd' || verb == 'x') && v.is_number()) {
      // JSON numbers: integers as they are, a float only when it is a whole number a long long holds (Go
      // prints %!d(float64=...) for the others; a cast out of range is undefined).
      long long n = 0;
      double f = v.get<double>();
      if (v.is_number_integer())
        n = v.get<long long>();
      else if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(LLONG_MAX))
        n = static_cast<long long>(v.get<uint64_t>());
      else if (std::isfinite(f) && f == std::trunc(f) && f >= -9.2e18 && f <= 9.2e18)
        n = static_cast<long long>(f);
      else {
        out += std::string("%!") + verb + "(float64=" + goString(v) + ")";
        continue;
      }
      std::snprintf(buf, sizeof buf, (spec + "ll" + verb).c_str(), n);
    } else if ((verb == 'f' || verb == 'g' || verb == 'e') && v.is_number()) {
      std::snprintf(buf, sizeof buf, (spec + verb).c_str(), v.get<double>());
    } else {
      std::string s =
          verb == 'q' ? json(goString(v)).dump(-1, ' ', false, json::error_handler_t::replace) : goString(v);
      std::snprintf(buf, sizeof buf, (spec + "s").c_str(), s.c_str());
      if (s.size() >= sizeof buf - 1) {
        out += s;
        continue;
      }
    }
    out += buf;
  }
  return out;
}

}  // namespace berth::client
