// Typed JSON as Go's encoding/json reads and writes it: one field list per struct drives both the decoder
// and the encoder, so an API body and the record it becomes share one codec.
//
// A struct takes part with a static `goName` ("container.RestartPolicy": the type name Go's errors print)
// and a field list found by argument-dependent lookup:
//
//   template <class V, class S> requires jsoncodec::Is<S, RestartPolicy>
//   void describe(V& v, S& s) { v("Name", s.name); v("MaximumRetryCount", s.maximumRetryCount); }
//
// Decoding follows Go: fields are matched by name (exactly, else ignoring case), unknown fields are
// ignored, null leaves a value as it is (an optional becomes empty), and a value of the wrong type, a
// fraction or an integer out of range is an InvalidArgument error worded as Go's: the innermost struct,
// then the field's path from the top ("json: cannot unmarshal string into Go struct field
// HostConfig.HostConfig.Memory of type int64"). A lenient decoder (for records written by
// older versions) skips such fields and lists them instead. Encoding writes every field (those marked
// kOmitEmpty only when set); an empty Slice or Map is null unless it was decoded from, or set as, a value.
#pragma once

#include <cctype>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/error.h"

namespace berth::jsoncodec {

using nlohmann::json;

template <class S, class T>
concept Is = std::same_as<std::remove_const_t<S>, T>;

// A Go slice: remembers whether it was nil (null) or an array, even an empty one.
template <class T>
struct Slice : std::vector<T> {
  using std::vector<T>::vector;
  Slice(std::vector<T> v) : std::vector<T>(std::move(v)), present(true) {}  // NOLINT: a vector is a value
  bool present = false;
  bool isNull() const { return this->empty() && !present; }
};

// Docker's strslice.StrSlice: a string or an array of strings (Cmd, Entrypoint, CapAdd, …).
struct StrSlice : Slice<std::string> {
  using Slice<std::string>::Slice;
};

// A Go map with string keys: nil (null) or an object.
template <class T>
struct Map : std::map<std::string, T> {
  using std::map<std::string, T>::map;
  Map(std::map<std::string, T> m) : std::map<std::string, T>(std::move(m)), present(true) {}  // NOLINT
  bool present = false;
  bool isNull() const { return this->empty() && !present; }
};

// Go's struct{} (the values of ExposedPorts and Volumes).
struct Empty {
  static constexpr std::string_view goName = "struct {}";
  bool operator==(const Empty&) const = default;
};
template <class V, class S>
requires Is<S, Empty>
void describe(V&, S&) {}

inline constexpr int kOmitEmpty = 1;

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsSlice : std::false_type {};
template <class T>
struct IsSlice<Slice<T>> : std::true_type {};
template <class T>
struct IsMap : std::false_type {};
template <class T>
struct IsMap<Map<T>> : std::true_type {};
template <class T>
concept Described = requires {
  T::goName;
};

template <class T>
std::string goType() {
  if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_same_v<T, int>)
    return "int";
  else if constexpr (std::is_same_v<T, int64_t>)
    return "int64";
  else if constexpr (std::is_same_v<T, uint16_t>)
    return "uint16";
  else if constexpr (std::is_same_v<T, uint32_t>)
    return "uint32";
  else if constexpr (std::is_same_v<T, uint64_t>)
    return "uint64";
  else if constexpr (std::is_same_v<T, unsigned>)
    return "uint";
  else if constexpr (std::is_same_v<T, double>)
    return "float64";
  else if constexpr (std::is_same_v<T, std::string>)
    return "string";
  else if constexpr (std::is_same_v<T, json>)
    return "interface {}";
  else if constexpr (std::is_same_v<T, StrSlice>)
    return "strslice.StrSlice";
  else if constexpr (IsOptional<T>::value)
    return goType<typename T::value_type>();
  else if constexpr (IsSlice<T>::value)
    return "[]" + goType<typename T::value_type>();
  else if constexpr (IsMap<T>::value)
    return "map[string]" + goType<typename T::mapped_type>();
  else
    return std::string(T::goName);
}

// Go's words for a JSON value in "cannot unmarshal X".
inline std::string jsonKind(const json& j) {
  switch (j.type()) {
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    case json::value_t::null:
      return "null";
    default:
      return "number";
  }
}

// A number as its literal would read (Go prints the literal: "number 1.5", "number 1180591620717411303424").
inline std::string numberText(const json& j) {
  if (j.is_number_unsigned()) return std::to_string(j.get<uint64_t>());
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  double d = j.get<double>();
  char buf[64];
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e25) {
    std::snprintf(buf, sizeof buf, "%.0f", d);
    return buf;
  }
  for (int prec = 15; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

class Decoder {
 public:
  explicit Decoder(bool lenient = false) : lenient_(lenient) {}

  // Decodes object `j` into `out`; `structName` names the outermost struct in errors (its goName's).
  template <class S>
  Result<void> decode(const json& j, S& out, std::string_view structName = {}) {
    structs_.assign(1, structName.empty() ? shortName(S::goName) : std::string(structName));
    if (!j.is_object() && !j.is_null()) {
      return invalid("json: cannot unmarshal " + jsonKind(j) + " into Go value of type " + goType<S>());
    }
    if (j.is_object()) {
      objs_.assign(1, &j);
      describe(*this, out);
    }
    if (error_) return std::unexpected(*error_);
    return {};
  }
  // Fields skipped by a lenient decoder ("HostConfig.Memory: string").
  const std::vector<std::string>& skipped() const { return skipped_; }

  template <class T>
  void operator()(const char* key, T& member, int = 0) {
    if (error_) return;
    const json* v = find(*objs_.back(), key);
    if (!v || (v->is_null() && !IsOptional<T>::value)) return;
    path_.push_back(key);
    value(*v, member);
    path_.pop_back();
  }

 private:
  static std::string shortName(std::string_view goName) {
    auto dot = goName.rfind('.');
    return std::string(dot == std::string_view::npos ? goName : goName.substr(dot + 1));
  }
  static const json* find(const json& obj, const char* key) {
    if (auto it = obj.find(key); it != obj.end()) return &*it;
    std::string_view k(key);
    for (auto it = obj.begin(); it != obj.end(); ++it) {  // Go matches names ignoring case
      const std::string& name = it.key();
      if (name.size() != k.size()) continue;
      bool same = true;
      for (size_t i = 0; i < k.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(name[i])) ==
               std::tolower(static_cast<unsigned char>(k[i]));
      if (same) return &*it;
    }
    return nullptr;
  }
  std::string fieldPath() const {
    std::string p = structs_.back();
    for (auto& part : path_) p += "." + part;
    return p;
  }
  void mismatch(const std::string& got, const std::string& type) {
    if (lenient_) {
      skipped_.push_back(fieldPath() + ": " + got);
      return;
    }
    error_ =
        Error(ErrorCategory::InvalidArgument,
              "json: cannot unmarshal " + got + " into Go struct field " + fieldPath() + " of type " + type);
  }

  template <class T>
  void integer(const json& j, T& out) {
    using L = std::numeric_limits<T>;
    if (!j.is_number()) return mismatch(jsonKind(j), goType<T>());
    if (j.is_number_unsigned()) {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(L::max())) return mismatch("number " + numberText(j), goType<T>());
      out = static_cast<T>(u);
    } else if (j.is_number_integer()) {
      int64_t i = j.get<int64_t>();
      if ((L::is_signed ? i < static_cast<int64_t>(L::min()) : i < 0) ||
          (i > 0 && static_cast<uint64_t>(i) > static_cast<uint64_t>(L::max())))
        return mismatch("number " + numberText(j), goType<T>());
      out = static_cast<T>(i);
    } else {
      mismatch("number " + numberText(j), goType<T>());
    }
  }

  template <class T>
  void value(const json& j, T& out) {
    if constexpr (std::is_same_v<T, bool>) {
      if (!j.is_boolean()) return mismatch(jsonKind(j), "bool");
      out = j.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      integer(j, out);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!j.is_number()) return mismatch(jsonKind(j), "float64");
      out = j.get<double>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!j.is_string()) return mismatch(jsonKind(j), "string");
      out = j.get<std::string>();
    } else if constexpr (std::is_same_v<T, json>) {
      out = j;
    } else if constexpr (IsOptional<T>::value) {
      if (j.is_null()) {
        out.reset();
        return;
      }
      typename T::value_type v{};
      size_t skippedBefore = skipped_.size();
      value(j, v);
      if (!error_ && skipped_.size() == skippedBefore) out = std::move(v);
    } else if constexpr (std::is_same_v<T, StrSlice>) {
      out.clear();
      out.present = true;
      if (j.is_string()) {
        out.push_back(j.get<std::string>());
        return;
      }
      if (!j.is_array()) return mismatch(jsonKind(j), goType<T>());
      for (auto& e : j) {
        if (!e.is_string()) return mismatch(jsonKind(e), "string");
        out.push_back(e.get<std::string>());
      }
    } else if constexpr (IsSlice<T>::value) {
      if (!j.is_array()) return mismatch(jsonKind(j), goType<T>());
      out.clear();
      out.present = true;
      for (auto& e : j) {
        typename T::value_type v{};
        if (!e.is_null()) value(e, v);
        if (error_) return;
        out.push_back(std::move(v));
      }
    } else if constexpr (IsMap<T>::value) {
      if (!j.is_object()) return mismatch(jsonKind(j), goType<T>());
      out.clear();
      out.present = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        typename T::mapped_type v{};
        if (!it->is_null()) value(*it, v);
        if (error_) return;
        out[it.key()] = std::move(v);
      }
    } else {
      static_assert(Described<T>, "a type the codec does not know");
      if (!j.is_object()) return mismatch(jsonKind(j), goType<T>());
      objs_.push_back(&j);
      structs_.push_back(shortName(T::goName));
      describe(*this, out);
      structs_.pop_back();
      objs_.pop_back();
    }
  }

  bool lenient_;
  std::vector<const json*> objs_;
  std::vector<std::string> structs_;
  std::vector<std::string> path_;
  std::optional<Error> error_;
  std::vector<std::string> skipped_;
};

class Encoder {
 public:
  template <class S>
  static json encode(const S& s) {
    json out = json::object();
    Encoder e(out);
    describe(e, s);
    return out;
  }

  template <class T>
  static json valueOf(const T& m) {
    if constexpr (std::is_same_v<T, bool> || std::is_arithmetic_v<T> || std::is_same_v<T, std::string> ||
                  std::is_same_v<T, json>) {
      return json(m);
    } else if constexpr (IsOptional<T>::value) {
      return m ? valueOf(*m) : json(nullptr);
    } else if constexpr (std::is_same_v<T, StrSlice> || IsSlice<T>::value) {
      if (m.isNull()) return nullptr;
      json a = json::array();
      for (auto& e : m) a.push_back(valueOf(e));
      return a;
    } else if constexpr (IsMap<T>::value) {
      if (m.isNull()) return nullptr;
      json o = json::object();
      for (auto& [k, v] : m) o[k] = valueOf(v);
      return o;
    } else {
      return encode(m);
    }
  }

  template <class T>
  void operator()(const char* key, const T& m, int flags = 0) {
    if ((flags & kOmitEmpty) && isEmpty(m)) return;
    out_[key] = valueOf(m);
  }

 private:
  explicit Encoder(json& out) : out_(out) {}
  template <class T>
  static bool isEmpty(const T& m) {
    if constexpr (std::is_same_v<T, bool>)
      return !m;
    else if constexpr (std::is_arithmetic_v<T>)
      return m == 0;
    else if constexpr (std::is_same_v<T, json>)
      return m.is_null();
    else if constexpr (IsOptional<T>::value)
      return !m.has_value();
    else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, StrSlice> || IsSlice<T>::value ||
                       IsMap<T>::value)
      return m.empty();
    else
      return false;
  }
  json& out_;
};

template <class S>
json encode(const S& s) {
  return Encoder::encode(s);
}

}  // namespace berth::jsoncodec
