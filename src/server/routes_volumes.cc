// /volumes/...: list, inspect, create, remove, prune (docker's bodies and statuses).
#include "server/http.h"
#include "server/json_body.h"

namespace berth::server {

using nlohmann::json;

void addVolumeRoutes(Router& router, engine::Engine& e) {
  router.add("GET", "/volumes", [&e](Request& req, Responder& r) {
    auto f = parseFilters(req.queryStr("filters"));
    if (!f) return r.error(f.error());
    auto list = e.volumeList(*f);
    if (!list) return r.error(list.error());
    r.json(200, *list);
  });
  router.add("POST", "/volumes/create", [&e](Request& req, Responder& r) {
    auto parsed = parseJsonBody(req.body);
    if (!parsed) return r.error(parsed.error());
    auto body = engine::spec::decodeVolumeCreate(*parsed);
    if (!body) return r.error(body.error());
    auto v = e.volumeCreate(*body);
    if (!v) return r.error(v.error());
    r.json(201, *v);
  });
  router.add("POST", "/volumes/prune", [&e](Request& req, Responder& r) {
    auto f = parseFilters(req.queryStr("filters"));
    if (!f) return r.error(f.error());
    auto out = e.volumePrune(*f);
    if (!out) return r.error(out.error());
    r.json(200, *out);
  });
  router.add("GET", "/volumes/([^/]+)", [&e](Request& req, Responder& r) {
    auto j = e.volumeInspect(req.params[0]);
    if (!j) return r.error(j.error());
    r.json(200, *j);
  });
  router.add("DELETE", "/volumes/([^/]+)", [&e](Request& req, Responder& r) {
    auto done = e.volumeRemove(req.params[0], req.queryBool("force"));
    if (!done) return r.error(done.error());
    r.text(204, "", "");
  });
}

}  // namespace berth::server
