// The API server's request path up to the handler: Beast's parser with berthd's limits, the target's
// decoding, the route patterns, and the JSON body.
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/json_body.h"
#include "server/request_head.h"

namespace http = boost::beast::http;
using namespace berth::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)hasCompleteHead(in);
  http::request_parser<http::string_body> p;
  p.header_limit(64 * 1024);
  p.body_limit(1 << 20);
  p.eager(true);
  boost::beast::error_code ec;
  p.put(boost::asio::buffer(data, size), ec);
  if (!p.is_header_done()) return 0;
  auto& msg = p.get();
  auto tgt = msg.target();
  Target t = decodeTarget(std::string_view(tgt.data(), tgt.size()));
  static const RoutePattern kRoutes[] = {RoutePattern("/containers/([^/]+)/json"),
                                         RoutePattern("/images/(.+)/json"),
                                         RoutePattern("/images/(.+)"),
                                         RoutePattern("/networks/([^/]+)/connect"),
                                         RoutePattern("/exec/([^/]+)/start"),
                                         RoutePattern("/containers/create")};
  std::vector<std::string> captures;
  for (auto& r : kRoutes)
    if (r.match(t.path, &captures))
      for (auto& c : captures) (void)urlDecode(c);
  if (p.is_done()) (void)parseJsonBody(msg.body());
  return 0;
}
