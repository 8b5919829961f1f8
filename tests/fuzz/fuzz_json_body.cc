// JSON request bodies (create, network and volume create, exec, update): the bounded parse, then the
// walk every handler does over the result.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/json_body.h"

using namespace berth::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = parseJsonBody(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!j) return 0;
  (void)j->dump();  // recursive: the depth bound is what keeps it on the stack
  if (j->is_object())
    for (auto& [k, v] : j->items()) (void)v.type_name();
  return 0;
}
