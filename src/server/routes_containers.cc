// /containers/...: create, list, inspect, start, stop, kill, restart, pause, unpause, wait, attach, logs,
// resize, rename, delete, prune; exec (create under /containers, the rest under /exec).
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <thread>

#include "server/http.h"
#include "server/json_body.h"

namespace berth::server {

using nlohmann::json;

namespace {

std::optional<int> intParam(const Request& req, const std::string& k) {
  std::string v = req.queryStr(k);
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (!end || *end) return std::nullopt;
  return static_cast<int>(n);
}

// docker's since/until: unix seconds with optional fraction, or RFC 3339.
int64_t timeParamNs(const std::string& v) {
  if (v.empty()) return 0;
  char* end = nullptr;
  double secs = std::strtod(v.c_str(), &end);
  if (end && *end == 0) return static_cast<int64_t>(secs * 1e9);
  struct tm tm {};
  if (strptime(v.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return static_cast<int64_t>(timegm(&tm)) * 1000000000LL;
  return 0;
}

// Frames of docker's multiplexed stream.
std::string frame(int stream, std::string_view data) {
  std::string out(8, '\0');
  out[0] = static_cast<char>(stream);
  uint32_t n = static_cast<uint32_t>(data.size());
  out[4] = static_cast<char>(n >> 24), out[5] = static_cast<char>(n >> 16);
  out[6] = static_cast<char>(n >> 8), out[7] = static_cast<char>(n);
  out.append(data);
  return out;
}

void createContainer(engine::Engine& e, Request& req, Responder& r) {
  auto parsed = parseJsonBody(req.body);
  if (!parsed) return r.error(parsed.error());
  auto decoded = engine::spec::decodeCreate(*parsed);  // typed here, once: nothing below reads JSON
  if (!decoded) return r.error(decoded.error());
  std::vector<std::string> warnings;
  auto created = e.create(req.queryStr("name"), std::move(*decoded), &warnings);
  if (!created) return r.error(created.error());
  r.json(201, {{"Id", *created}, {"Warnings", warnings}});
}

void listContainers(engine::Engine& e, Request& req, Responder& r) {
  engine::ListOptions o;
  o.all = req.queryBool("all");
  if (auto l = intParam(req, "limit")) o.limit = *l;
  auto f = parseFilters(req.queryStr("filters"));
  if (!f) return r.error(f.error());
  o.filters = *f;
  auto list = e.list(o);
  if (!list) return r.error(list.error());
  json out = json::array();
  for (auto& c : *list) out.push_back(e.summaryJson(c));
  r.json(200, out);
}

void waitContainer(engine::Engine& e, Request& req, Responder& r) {
  // Known containers get their headers at once (clients start the container only after that) and the
  // status when the condition holds.
  auto c = e.get(req.params[0]);
  if (!c) return r.error(c.error());
  std::string cond = req.queryStr("condition");
  if (!cond.empty() && cond != "not-running" && cond != "next-exit" && cond != "removed")
    return r.error(Error(ErrorCategory::InvalidArgument, "invalid condition: \"" + cond + "\""));
  uint64_t since = e.exitSequence(c->id);  // before the client can know the wait is registered
  r.beginStream("application/json");
  auto code = e.wait(
      c->id, cond, [&r] { return r.clientGone(); }, since);
  json out = code ? json{{"StatusCode", *code}, {"Error", nullptr}}
                  : json{{"StatusCode", -1}, {"Error", {{"Message", code.error().message()}}}};
  r.chunk(out.dump() + "\n");
}

void removeContainer(engine::Engine& e, Request& req, Responder& r) {
  auto s = e.remove(req.params[0], req.queryBool("force"), req.queryBool("v"));
  if (!s) return r.error(s.error());
  r.text(204, "", "");
}

// create, list, prune, inspect and the lifecycle: start, stop, restart, kill, pause, rename, resize, wait,
// rm.
void addContainerLifecycleRoutes(Router& router, engine::Engine& e) {
  const std::string id = "/containers/([^/]+)";

  router.add("POST", "/containers/create", [&e](Request& req, Responder& r) { createContainer(e, req, r); });

  router.add("GET", "/containers/json", [&e](Request& req, Responder& r) { listContainers(e, req, r); });

  router.add("POST", "/containers/prune", [&e](Request&, Responder& r) {
    int64_t bytes = 0;
    auto removed = e.prune(&bytes);
    if (!removed) return r.error(removed.error());
    r.json(200, {{"ContainersDeleted", *removed}, {"SpaceReclaimed", bytes}});
  });

  router.add("GET", id + "/json", [&e](Request& req, Responder& r) {
    auto c = e.get(req.params[0]);
    if (!c) return r.error(c.error());
    r.json(200, e.inspectJson(*c));
  });

  router.add("POST", id + "/start", [&e](Request& req, Responder& r) {
    auto s = e.start(req.params[0]);
    if (!s) return r.error(s.error());
    r.text(204, "", "");
  });

  router.add("POST", id + "/stop", [&e](Request& req, Responder& r) {
    auto s = e.stop(req.params[0], intParam(req, "t"), req.queryStr("signal"));
    if (!s) return r.error(s.error());
    r.text(204, "", "");
  });

  router.add("POST", id + "/restart", [&e](Request& req, Responder& r) {
    auto s = e.restart(req.params[0], intParam(req, "t"));
    if (!s) return r.error(s.error());
    r.text(204, "", "");
  });

  router.add("POST", id + "/kill", [&e](Request& req, Responder& r) {
    auto s = e.kill(req.params[0], req.queryStr("signal", "SIGKILL"));
    if (!s) return r.error(s.error());
    r.text(204, "", "");
  });

  router.add("POST", id + "/pause", [&e](Request& req, Responder& r) {
    auto s = e.pause(req.params[0]);
    if (!s) return r.error(s.error());
    r.text(204, "", "");
  });

  router.add("POST", id + "/unpause", [&e](Request& req, Responder& r) {
    auto s = e.unpause(req.params[0]);
    if (!s) return r.error(s.error());
    r.text(204, "", "");
  });

  router.add("POST", id + "/rename", [&e](Request& req, Responder& r) {
    auto s = e.rename(req.params[0], req.queryStr("name"));
    if (!s) return r.error(s.error());
    r.text(204, "", "");
  });

  router.add("POST", id + "/resize", [&e](Request& req, Responder& r) {
    auto h = intParam(req, "h"), w = intParam(req, "w");
    if (!h || !w || *h < 0 || *w < 0)
      return r.error(Error(ErrorCategory::InvalidArgument, "resize: h and w must be numbers"));
    auto s = e.resize(req.params[0], *h, *w);
    if (!s) return r.error(s.error());
    r.text(200, "text/plain", "");
  });

  router.add("POST", id + "/wait", [&e](Request& req, Responder& r) { waitContainer(e, req, r); });

  router.add("DELETE", id, [&e](Request& req, Responder& r) { removeContainer(e, req, r); });
}

// logs, top, stats, attach, update.
void addContainerIoRoutes(Router& router, engine::Engine& e) {
  const std::string id = "/containers/([^/]+)";

  router.add("GET", id + "/logs", [&e](Request& req, Responder& r) {
    auto c = e.get(req.params[0]);
    if (!c) return r.error(c.error());
    engine::LogOptions o;
    o.stdout = req.queryBool("stdout");
    o.stderr = req.queryBool("stderr");
    if (!o.stdout && !o.stderr)
      return r.error(
          Error(ErrorCategory::InvalidArgument, "Bad parameters: you must choose at least one stream"));
    o.follow = req.queryBool("follow");
    o.timestamps = req.queryBool("timestamps");
    std::string tail = req.queryStr("tail", "all");
    if (tail != "all" && !tail.empty()) o.tail = std::max<int64_t>(0, std::atoll(tail.c_str()));
    o.sinceNs = timeParamNs(req.queryStr("since"));
    o.untilNs = timeParamNs(req.queryStr("until"));
    bool tty = c->config.tty;
    r.beginStream(tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
    auto sink = [&](int stream, std::string_view data) {
      if (stream == 0) return r.chunk({});
      return r.chunk(tty ? std::string(data) : frame(stream, data));
    };
    (void)e.logs(c->id, o, sink, [&r] { return r.clientGone(); });
  });

  router.add("GET", id + "/top", [&e](Request& req, Responder& r) {
    auto t = e.top(req.params[0]);
    if (!t) return r.error(t.error());
    r.json(200, *t);
  });

  router.add("GET", id + "/stats", [&e](Request& req, Responder& r) {
    bool stream = req.queryBool("stream", true);
    bool oneShot = req.queryBool("one-shot");
    auto first = e.stats(req.params[0]);
    if (!first) return r.error(first.error());
    json prev = *first;
    if (!stream) {
      if (!oneShot) {  // docker samples twice so the client can compute a CPU percentage
        std::this_thread::sleep_for(std::chrono::seconds(1));
        auto again = e.stats(req.params[0]);
        if (!again) return r.error(again.error());
        (*again)["precpu_stats"] = prev["cpu_stats"];
        (*again)["preread"] = prev["read"];
        prev = *again;
      }
      return r.json(200, prev);
    }
    r.beginStream("application/json");
    if (!r.chunk(prev.dump() + "\n")) return;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      auto next = e.stats(req.params[0]);
      if (!next) return;
      (*next)["precpu_stats"] = prev["cpu_stats"];
      (*next)["preread"] = prev["read"];
      if (!r.chunk(next->dump() + "\n")) return;
      prev = *next;
    }
  });

  router.add("POST", id + "/attach", [&e](Request& req, Responder& r) {
    auto c = e.get(req.params[0]);
    if (!c) return r.error(c.error());
    engine::AttachStreams s;
    s.stdin = req.queryBool("stdin");
    s.stdout = req.queryBool("stdout");
    s.stderr = req.queryBool("stderr");
    if (auto ok = engine::Engine::attachable(c->state.status, req.params[0]); !ok) return r.error(ok.error());
    bool tty = c->config.tty;
    auto hijack = [&](std::string* early) {
      return r.hijack(tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
                      early);
    };
    bool hijacked = false;
    if (auto a = e.attach(c->id, s, hijack, &hijacked); !a && !hijacked) r.error(a.error());
  });

  router.add("POST", id + "/update", [&e](Request& req, Responder& r) {
    auto parsed = parseJsonBody(req.body);
    if (!parsed) return r.error(parsed.error());
    auto decoded = engine::spec::decodeUpdate(*parsed);
    if (!decoded) return r.error(decoded.error());
    auto w = e.update(req.params[0], *decoded);
    if (!w) return r.error(w.error());
    r.json(200, {{"Warnings", *w}});
  });
}

// exec create, start, resize, inspect.
void addExecRoutes(Router& router, engine::Engine& e) {
  const std::string id = "/containers/([^/]+)";

  router.add("POST", id + "/exec", [&e](Request& req, Responder& r) {
    auto parsed = parseJsonBody(req.body);
    if (!parsed) return r.error(parsed.error());
    auto cfg = engine::spec::decodeExecConfig(*parsed);
    if (!cfg) return r.error(cfg.error());
    auto created = e.execCreate(req.params[0], *cfg);
    if (!created) return r.error(created.error());
    r.json(201, {{"Id", *created}});
  });

  router.add("POST", "/exec/([^/]+)/start", [&e](Request& req, Responder& r) {
    auto parsed = parseJsonBody(req.body);
    if (!parsed) return r.error(parsed.error());
    auto body = engine::spec::decodeExecStart(*parsed);
    if (!body) return r.error(body.error());
    auto ex = e.execBegin(req.params[0], *body);
    if (!ex) return r.error(ex.error());
    if (body->detach) {
      auto run = e.execRun(ex->id, -1, {});
      if (!run) return r.error(run.error());
      return r.text(200, "application/json", "");
    }
    bool isTty = ex->config.tty;
    std::string early;
    int fd = r.hijack(
        isTty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream", &early);
    if (auto run = e.execRun(ex->id, fd, early); !run) {
      // docker's way: the stream is ours already, so the error is written into it.
      std::string msg = run.error().message() + "\r\n";
      std::string out = isTty ? msg : frame(1, msg);
      (void)!::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    }
  });

  router.add("POST", "/exec/([^/]+)/resize", [&e](Request& req, Responder& r) {
    auto h = intParam(req, "h"), w = intParam(req, "w");
    if (!h || !w || *h <= 0 || *w <= 0)
      return r.error(Error(ErrorCategory::InvalidArgument, "resize: h and w must be positive numbers"));
    auto s = e.execResize(req.params[0], *h, *w);
    if (!s) return r.error(s.error());
    r.text(200, "text/plain", "");
  });

  router.add("GET", "/exec/([^/]+)/json", [&e](Request& req, Responder& r) {
    auto j = e.execInspect(req.params[0]);
    if (!j) return r.error(j.error());
    r.json(200, *j);
  });
}

}  // namespace

void addContainerRoutes(Router& router, engine::Engine& e) {
  addContainerLifecycleRoutes(router, e);
  addContainerIoRoutes(router, e);
  addExecRoutes(router, e);
}

}  // namespace berth::server
