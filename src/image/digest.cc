#include "image/digest.h"

#include <openssl/evp.h>

namespace berth::image {

Result<Digest> Digest::parse(std::string_view s) {
  constexpr std::string_view prefix = "sha256:";
  if (s.substr(0, prefix.size()) != prefix)
    return invalid("invalid digest \"" + std::string(s) + "\": only sha256 digests are supported");
  auto hex = s.substr(prefix.size());
  if (hex.size() != 64) return invalid("invalid digest \"" + std::string(s) + "\": want 64 hex characters");
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return invalid("invalid digest \"" + std::string(s) + "\": not lowercase hex");
  return Digest(std::string(hex));
}

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t len) {
  EVP_DigestUpdate(impl_->ctx, data, len);
}

Digest Sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &len);
  static const char* hexd = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    hex += hexd[md[i] >> 4];
    hex += hexd[md[i] & 15];
  }
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
  return Digest::fromHex(std::move(hex));
}

Digest Sha256::of(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.finish();
}

}  // namespace berth::image
