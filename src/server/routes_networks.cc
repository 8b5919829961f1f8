// /networks/...: list, inspect, create, remove, prune (docker's bodies and statuses).
#include "server/http.h"
#include "server/json_body.h"

namespace berth::server {

using nlohmann::json;

void addNetworkRoutes(Router& router, engine::Engine& e) {
  auto list = [&e](Request& req, Responder& r) {
    auto f = parseFilters(req.queryStr("filters"));
    if (!f) return r.error(f.error());
    auto networks = e.networkList(*f);
    if (!networks) return r.error(networks.error());
    r.json(200, *networks);
  };
  router.add("GET", "/networks", list);
  router.add("GET", "/networks/", list);  // docker's router takes the trailing slash (docker-py sends it)
  router.add("POST", "/networks/create", [&e](Request& req, Responder& r) {
    auto parsed = parseJsonBody(req.body);
    if (!parsed) return r.error(parsed.error());
    auto body = engine::spec::decodeNetworkCreate(*parsed);
    if (!body) return r.error(body.error());
    auto id = e.networkCreate(*body);
    if (!id) return r.error(id.error());
    r.json(201, {{"Id", *id}, {"Warning", ""}});
  });
  router.add("POST", "/networks/prune", [&e](Request& req, Responder& r) {
    auto f = parseFilters(req.queryStr("filters"));
    if (!f) return r.error(f.error());
    if (!f->empty())
      return r.error(Error(ErrorCategory::InvalidArgument, "network prune filters are not supported yet"));
    auto removed = e.networkPrune();
    if (!removed) return r.error(removed.error());
    r.json(200, {{"NetworksDeleted", *removed}});
  });
  for (bool connect : {true, false})
    router.add("POST", std::string("/networks/([^/]+)/") + (connect ? "connect" : "disconnect"),
               [&e, connect](Request& req, Responder& r) {
                 auto parsed = parseJsonBody(req.body);
                 if (!parsed) return r.error(parsed.error());
                 Result<void> done;
                 if (connect) {
                   auto body = engine::spec::decodeNetworkConnect(*parsed);
                   done = body ? e.networkConnect(req.params[0], *body) : std::unexpected(body.error());
                 } else {
                   auto body = engine::spec::decodeNetworkDisconnect(*parsed);
                   done = body ? e.networkDisconnect(req.params[0], *body) : std::unexpected(body.error());
                 }
                 if (!done) return r.error(done.error());
                 r.text(200, "", "");
               });
  router.add("GET", "/networks/([^/]+)", [&e](Request& req, Responder& r) {
    auto j = e.networkInspect(req.params[0]);
    if (!j) return r.error(j.error());
    r.json(200, *j);
  });
  router.add("DELETE", "/networks/([^/]+)", [&e](Request& req, Responder& r) {
    auto done = e.networkRemove(req.params[0]);
    if (!done) return r.error(done.error());
    r.text(204, "", "");
  });
}

}  // namespace berth::server
