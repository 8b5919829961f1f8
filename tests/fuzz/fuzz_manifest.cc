// Image manifests, indexes and configs (untrusted documents from archives and registries).
#include <cstddef>
#include <cstdint>
#include <string>

#include "image/manifest.h"

using namespace berth::image;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  (void)documentKind(in);
  (void)parseManifest(in);
  if (auto idx = parseIndex(in)) (void)selectPlatform(*idx, "linux", "amd64", "");
  (void)parseImageConfig(in);
  return 0;
}
