// docker's --format templates: parsed, then rendered against a ps row and an inspect-like document.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "client/gotemplate.h"

using berth::client::Template;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = Template::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!t) return 0;
  static const nlohmann::json dot = nlohmann::json::parse(R"({
    "ID": "abc", "Names": "web", "Image": "busybox", "Labels": "a=b,c=d", "Ports": "",
    "__Label": {"a": "b"}, "State": {"Running": true, "Pid": 42, "ExitCode": 0},
    "Config": {"Env": ["A=1", "B=2"], "Cmd": ["sh", "-c", "x"], "Labels": {"k": "v"}},
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.0.0.2"}}}, "Size": 12.5, "Nil": null})");
  (void)t->render(dot);
  (void)t->render(dot, true);
  return 0;
}
