// OCI runtime config.json (the runtime's input from podman, containerd and dockerd).
#include <cstddef>
#include <cstdint>
#include <string>

#include "oci/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  (void)berth::oci::parseConfig(in, "/nonexistent-bundle");
  (void)berth::oci::parseProcess(in);
  return 0;
}
