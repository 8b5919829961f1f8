// Random identifiers: container, network and endpoint ids (64 lowercase hex digits, as docker's), names.
// One getrandom(2) per id: std::random_device costs ~30 µs per 64-digit id on this machine (a read or an
// RDRAND per digit), 50 times the system call.
#pragma once

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <string>
#include <string_view>

namespace berth {

template <size_t N>
std::array<unsigned char, N> randomBytes() {
  std::array<unsigned char, N> b{};
  size_t got = 0;
  while (got < N) {  // getrandom returns short only when interrupted by a signal
    ssize_t n = ::getrandom(b.data() + got, N - got, 0);
    if (n > 0)
      got += static_cast<size_t>(n);
    else if (errno != EINTR)
      break;  // ENOSYS: kernels older than 3.17, which berth does not support
  }
  return b;
}

inline std::string randomHexId() {
  static constexpr char kHex[] = "0123456789abcdef";
  auto b = randomBytes<32>();
  std::string s(64, '0');
  for (size_t i = 0; i < b.size(); ++i) {
    s[2 * i] = kHex[b[i] >> 4];
    s[2 * i + 1] = kHex[b[i] & 15];
  }
  return s;
}

// `n` characters drawn from `alphabet` (fewer than 256 characters; the slight modulo bias is irrelevant
// for names that only have to be distinct).
template <size_t N>
std::string randomString(std::string_view alphabet) {
  auto b = randomBytes<N>();
  std::string s(N, alphabet[0]);
  for (size_t i = 0; i < N; ++i) s[i] = alphabet[b[i] % alphabet.size()];
  return s;
}

}  // namespace berth
