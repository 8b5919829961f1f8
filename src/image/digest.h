// Content digests ("sha256:<64 hex>") and a streaming SHA-256 (OpenSSL).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace berth::image {

class Digest {
 public:
  Digest() = default;
  // Accepts "sha256:<64 lowercase hex>"; anything else is InvalidArgument naming the input.
  static Result<Digest> parse(std::string_view s);
  static Digest fromHex(std::string hex) { return Digest(std::move(hex)); }
  const std::string& hex() const { return hex_; }
  std::string str() const { return "sha256:" + hex_; }
  bool empty() const { return hex_.empty(); }
  bool operator==(const Digest&) const = default;

 private:
  explicit Digest(std::string hex) : hex_(std::move(hex)) {}
  std::string hex_;
};

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);
  Digest finish();
  static Digest of(std::string_view data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::image
