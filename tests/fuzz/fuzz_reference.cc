// Image references ("localhost:5000/a/b:tag@sha256:..."), parsed and printed back.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "image/reference.h"

using namespace berth::image;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = parseReference(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!r) return 0;
  // What is printed parses back to the same reference.
  auto again = parseReference(r->str());
  if (!again || again->str() != r->str()) __builtin_trap();
  (void)r->familiar();
  return 0;
}
