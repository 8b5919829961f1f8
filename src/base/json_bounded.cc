#include "base/json_bounded.h"

#include <string>

namespace berth {

namespace {

using nlohmann::json;

// A first pass that builds nothing: counts depth and values, stops at the first bound crossed.
class Bounds final : public nlohmann::json_sax<json> {
 public:
  explicit Bounds(const JsonLimits& l) : l_(l) {}
  std::string why;

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    why = e.what();
    // nlohmann's texts start with "[json.exception.parse_error.101] parse error at line 1, column 2: ...".
    if (auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
    return false;
  }

 private:
  bool value() {
    if (++values_ <= l_.maxValues) return true;
    why = "more than " + std::to_string(l_.maxValues) + " values";
    return false;
  }
  bool open() {
    if (!value()) return false;
    if (++depth_ <= l_.maxDepth) return true;
    why = "nested deeper than " + std::to_string(l_.maxDepth) + " levels";
    return false;
  }
  bool close() {
    --depth_;
    return true;
  }
  const JsonLimits& l_;
  size_t depth_ = 0, values_ = 0;
};

}  // namespace

Result<json> parseJsonBounded(std::string_view text, const JsonLimits& limits, const std::string& what) {
  if (text.size() > limits.maxBytes)
    return invalid(what + ": " + std::to_string(text.size()) + " bytes, more than the limit of " +
                   std::to_string(limits.maxBytes));
  Bounds b(limits);
  if (!json::sax_parse(text, &b)) {
    if (b.why.empty()) b.why = "malformed";
    return invalid(what + ": " + b.why);
  }
  // Valid and within the bounds: the DOM parse cannot fail, except on a number beyond a double's range.
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return invalid(what + ": a number out of range");
  return j;
}

}  // namespace berth
