// JSON request bodies (create, network and volume create, exec, update): the bounded parse, then the
// typed decoding of every body (create, update, network create/connect/disconnect, volume create, exec
// create/start) and docker's checks over what create and update decode to.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/requests.h"
#include "engine/spec.h"
#include "engine/spec_validate.h"
#include "server/json_body.h"

using namespace berth;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = server::parseJsonBody(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!j) return 0;
  (void)j->dump();  // recursive: the depth bound is what keeps it on the stack
  if (auto req = engine::spec::decodeCreate(*j)) {
    engine::spec::normalizeCreate(*req);
    std::vector<std::string> warnings;
    if (engine::spec::validateCreate(*req, engine::spec::HostFacts{}, &warnings)) {
      engine::spec::applyCreateDefaults(req->hostConfig);
      // The record's round trip: what is stored reads back the same.
      auto hc = engine::spec::encode(req->hostConfig);
      if (engine::spec::encode(engine::spec::decodeHostConfig(hc)) != hc) __builtin_trap();
      auto cfg = engine::spec::encode(req->config);
      if (engine::spec::encode(engine::spec::decodeConfig(cfg)) != cfg) __builtin_trap();
    }
  }
  if (auto u = engine::spec::decodeUpdate(*j))
    (void)engine::spec::validateResources(u->resources, engine::spec::HostFacts{}, true, nullptr);
  (void)engine::spec::decodeNetworkCreate(*j);
  (void)engine::spec::decodeNetworkConnect(*j);
  (void)engine::spec::decodeNetworkDisconnect(*j);
  (void)engine::spec::decodeVolumeCreate(*j);
  (void)engine::spec::decodeExecConfig(*j);
  (void)engine::spec::decodeExecStart(*j);
  return 0;
}
