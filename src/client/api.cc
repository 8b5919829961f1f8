#include "client/api.h"

#include <strings.h>

namespace berth::client {
namespace {
bool lowerEquals(const std::string& a, const char* b) {
  return strcasecmp(a.c_str(), b) == 0;
}
}  // namespace

Result<std::string> socketPathOf(const std::string& host) {
  if (host.starts_with("unix://")) {
    std::string p = host.substr(7);
    if (p.empty() || p[0] != '/')
      return invalid("invalid host " + host + ": a unix socket needs an absolute path");
    return p;
  }
  if (!host.empty() && host[0] == '/') return host;
  if (host.starts_with("tcp://") || host.starts_with("ssh://") || host.starts_with("fd://"))
    return invalid("unsupported host " + host + ": berthd listens on unix sockets only (unix:///path)");
  return invalid("invalid host " + host + ": use unix:///path/to/socket");
}

Error Api::errorOf(const Response& r) {
  ErrorCategory c = ErrorCategory::Internal;
  switch (r.status) {
    case 304:
      c = ErrorCategory::NotModified;
      break;
    case 400:
      c = ErrorCategory::InvalidArgument;
      break;
    case 401:
    case 403:
      c = ErrorCategory::PermissionDenied;
      break;
    case 404:
      c = ErrorCategory::NotFound;
      break;
    case 409:
      c = ErrorCategory::Conflict;
      break;
    case 503:
      c = ErrorCategory::Unavailable;
      break;
    default:
      break;
  }
  std::string msg;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    msg = j["message"].get<std::string>();
  if (msg.empty()) msg = r.body.empty() ? "HTTP status " + std::to_string(r.status) : r.body;
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  return Error(c, msg);
}

Result<Connection*> Api::shared() {
  if (!conn_) {
    auto c = Connection::open(socket_);
    if (!c) return std::unexpected(c.error());
    conn_.emplace(std::move(*c));
    connUsed_ = false;
  }
  return &*conn_;
}

bool Api::ping() {
  auto r = call("GET", "/_ping");
  return r.has_value();
}

Result<Response> Api::call(const std::string& method, const std::string& target, const std::string& body) {
  Request req{method, target, body};
  for (int attempt = 0;; ++attempt) {
    TRY(Connection * c, shared());
    auto sent = c->send(req);
    auto r = sent ? c->readAll() : Result<Response>(std::unexpected(sent.error()));
    if (!r) {
      bool reused = connUsed_;
      conn_.reset();
      // A kept-alive connection the daemon closed while idle: one retry on a fresh one. Never after a fresh
      // connection failed: the daemon may have acted on the request (a create) before it went away.
      if (attempt == 0 && reused && r.error().category() == ErrorCategory::Unavailable) continue;
      return std::unexpected(r.error());
    }
    connUsed_ = true;
    if (lowerEquals(r->header("connection"), "close")) conn_.reset();
    if (r->status >= 400) return std::unexpected(errorOf(*r));
    return r;
  }
}

Result<nlohmann::json> Api::callJson(const std::string& method, const std::string& target,
                                     const std::string& body) {
  TRY(Response r, call(method, target, body));
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded())
    return fail(ErrorCategory::Internal, "the daemon answered " + target + " with invalid JSON");
  return j;
}

Result<Connection> Api::begin(const std::string& method, const std::string& target, const std::string& body) {
  TRY(Connection c, Connection::open(socket_));
  TRYV(c.send(Request{method, target, body}));
  return c;
}

namespace {
// Up to 1 MiB of a body, into `into`.
Result<void> readSmallBody(Connection& c, const Response& head, std::string& into) {
  return c.readBody(head, [&](std::string_view s) {
    into.append(s);
    return into.size() < (1 << 20);
  });
}

// The head of an answer that streams; an error answer (4xx/5xx, read whole) as the daemon's Error.
Result<Response> streamHead(Connection& c) {
  TRY(Response head, c.readHead());
  if (head.status >= 400) {
    TRYV(readSmallBody(c, head, head.body));
    return std::unexpected(Api::errorOf(head));
  }
  return head;
}
}  // namespace

Result<Api::Wait> Api::beginWait(const std::string& containerPath, const std::string& condition) {
  TRY(Connection c, begin("POST", containerPath + "/wait?condition=" + condition));
  if (condition == "removed") return Wait(std::move(c), std::nullopt);
  TRY(Response head, streamHead(c));
  return Wait(std::move(c), std::move(head));
}

Result<void> Api::connect() {
  TRYV(shared());
  return {};
}

Result<int> Api::Wait::finish() {
  if (!head_) {
    TRY(Response head, streamHead(conn_));
    head_ = std::move(head);
  }
  std::string body;
  TRYV(readSmallBody(conn_, *head_, body));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return fail("the daemon answered wait with invalid JSON");
  if (j.contains("Error") && j["Error"].is_object() && !j["Error"].value("Message", "").empty())
    return fail(j["Error"].value("Message", ""));
  if (!j.contains("StatusCode") || !j["StatusCode"].is_number_integer())
    return fail("the daemon's wait answer has no StatusCode");
  return j["StatusCode"].get<int>();
}

Result<void> Api::stream(const std::string& method, const std::string& target, const std::string& body,
                         const std::function<bool(std::string_view)>& sink) {
  TRY(Connection c, begin(method, target, body));
  TRY(Response head, streamHead(c));
  return c.readBody(head, sink);
}

Result<Response> Api::upload(const std::string& method, const std::string& target, int fd,
                             const std::string& contentType) {
  TRY(Connection c, Connection::open(socket_));
  Request req{method, target, "", contentType};
  auto sent = c.send(req, fd);
  // The daemon may answer (an error) before the upload ends; its answer says more than a broken pipe.
  auto r = c.readAll();
  if (!r) return std::unexpected(sent ? r.error() : sent.error());
  if (r->status >= 400) return std::unexpected(errorOf(*r));
  if (!sent) return std::unexpected(sent.error());
  return r;
}

Result<Connection> Api::hijack(const std::string& method, const std::string& target,
                               const std::string& body) {
  TRY(Connection c, Connection::open(socket_));
  Request req{method, target, body};
  req.headers = {{"Connection", "Upgrade"}, {"Upgrade", "tcp"}};
  TRYV(c.send(req));
  TRY(Response head, c.readHead());
  if (head.status >= 400) {
    TRYV(c.readBody(head, [&](std::string_view s) {
      head.body.append(s);
      return true;
    }));
    return std::unexpected(errorOf(head));
  }
  return c;
}

}  // namespace berth::client
