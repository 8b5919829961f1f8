// Layer archives unpacked into a fresh directory: whatever the input, nothing appears outside it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "image/unpack.h"

using namespace berth::image;

namespace {

std::string base() {
  static std::string dir = [] {
    char t[] = "/tmp/berth-fuzz-unpack-XXXXXX";
    if (!::mkdtemp(t)) std::abort();
    ::mkdir((std::string(t) + "/outside").c_str(), 0700);  // a sibling an escape would land in
    static std::string made = t;
    std::atexit([] { std::filesystem::remove_all(made); });
    return made;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string target = base() + "/layer";
  std::filesystem::remove_all(target);
  ::mkdir(target.c_str(), 0755);
  UnpackOptions o;
  o.maxEntrySize = 1 << 20;
  o.maxTotalSize = 8 << 20;
  o.maxEntries = 1000;
  const void* chunk = data;
  size_t left = size;
  LayerReader read = [&](const void** buf) -> long {
    *buf = chunk;
    long n = static_cast<long>(left);
    left = 0;
    return n;
  };
  (void)unpackLayerFrom(read, target, o);
  // Nothing outside the target: the sibling stays empty and the base holds only the two.
  if (!std::filesystem::is_empty(base() + "/outside")) std::abort();
  size_t entries = 0;
  for (auto& e : std::filesystem::directory_iterator(base())) (void)e, ++entries;
  if (entries != 2) std::abort();
  std::filesystem::remove_all(target);
  return 0;
}
