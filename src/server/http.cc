#include "server/http.h"

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstring>
#include <limits>

#include "base/file.h"
#include "base/log.h"
#include "base/memory.h"
#include "base/unix_socket.h"
#include "server/connections.h"
#include "server/fd_stream.h"
#include "server/json_body.h"

namespace berth::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr size_t kBodyLimit =
    JsonLimits{}.maxBytes;  // JSON bodies; archives are streamed by their own routes

class Conn final : public Responder {
 public:
  Conn(FdStream& s, beast::flat_buffer& buf, const Request& req, bool keepAlive)
      : s_(s), buf_(buf), req_(req), keepAlive_(keepAlive) {}

  void json(int status, const nlohmann::json& body) override {
    // Strings that are not UTF-8 (file names, process names, log lines) go out with U+FFFD, never an
    // exception.
    text(status, "application/json",
         body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
  void text(int status, const std::string& contentType, const std::string& body) override {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    common(res);
    for (auto& [k, v] : extra_) res.set(k, v);
    if (status != 204 && status != 304) {
      res.set(http::field::content_type, contentType);
      res.body() = req_.method == "HEAD" ? "" : body;  // HEAD: headers only, errors included
    }
    res.keep_alive(keepAlive_);
    res.prepare_payload();
    beast::error_code ec;
    http::write(s_, res, ec);
    if (ec) keepAlive_ = false;
    done_ = true;
  }
  void error(const Error& e) override {
    int st = statusOf(e);
    if (st == 304) return text(304, "", "");
    json(st, nlohmann::json{{"message", e.message()}});
  }
  void header(const std::string& name, const std::string& value) override {
    extra_.emplace_back(name, value);
  }
  void beginStream(const std::string& contentType) override {
    std::string head = std::string("HTTP/1.1 200 OK\r\nContent-Type: ") + contentType +
                       "\r\nTransfer-Encoding: chunked\r\nApi-Version: " + kApiVersion +
                       "\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: berthd\r\n";
    // A client must know before it reuses the connection that it is going: Go's transport does not retry a
    // POST on an idle connection the server closed (docker run's create after a pull got EOF).
    if (!keepAlive_) head += "Connection: close\r\n";
    for (auto& [k, v] : extra_) head += k + ": " + v + "\r\n";
    head += "\r\n";
    streaming_ = writeRaw(head);
    streamed_ = true;
    done_ = true;
  }
  bool chunk(std::string_view data) override {
    if (!streaming_) return false;
    if (data.empty()) return !clientGone();
    char len[32];
    std::snprintf(len, sizeof len, "%zx\r\n", data.size());
    streaming_ = writeRaw(len) && writeRaw(data) && writeRaw("\r\n");
    return streaming_;
  }
  // True when the stream ended cleanly and the connection can serve the next request.
  bool endStream() {
    if (streaming_) streaming_ = writeRaw("0\r\n\r\n");
    return streaming_ && keepAlive_;
  }
  int hijack(const std::string& contentType, std::string* early) override {
    bool upgrade = req_.headers.count("upgrade") > 0;
    std::string head =
        upgrade ? "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" : "HTTP/1.1 200 OK\r\n";
    head += "Content-Type: " + contentType + "\r\nApi-Version: " + kApiVersion + "\r\n\r\n";
    writeRaw(head);
    if (early) {
      auto d = buf_.data();
      early->assign(static_cast<const char*>(d.data()), d.size());
      buf_.consume(d.size());
    }
    hijacked_ = true;
    done_ = true;
    keepAlive_ = false;
    return s_.fd();
  }
  bool clientGone() override {
    struct pollfd p {
      s_.fd(), POLLIN | POLLRDHUP, 0
    };
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
    char c;
    return ::recv(s_.fd(), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }

  bool done() const { return done_; }
  bool keepAlive() const { return keepAlive_ && !streamed_ && !hijacked_; }
  bool streamed() const { return streamed_; }

 private:
  template <class Res>
  void common(Res& res) {
    res.set("Api-Version", kApiVersion);
    res.set("Docker-Experimental", "false");
    res.set("Ostype", "linux");
    res.set(http::field::server, "berthd");
  }
  bool writeRaw(std::string_view d) {
    beast::error_code ec;
    asio::write(s_, asio::buffer(d.data(), d.size()), ec);
    return !ec;
  }
  FdStream& s_;
  beast::flat_buffer& buf_;
  const Request& req_;
  bool keepAlive_;
  bool done_ = false, streaming_ = false, streamed_ = false, hijacked_ = false;
  std::vector<std::pair<std::string, std::string>> extra_;
};

// The request's method, path, API version, query and headers (names lower-cased).
template <typename Message>
void fillRequest(Request& req, const Message& msg) {
  req.method = std::string(msg.method_string());
  Target t = decodeTarget(std::string(msg.target()));
  req.path = std::move(t.path);
  req.apiVersion = std::move(t.apiVersion);
  req.query = std::move(t.query);
  req.queryAll = std::move(t.queryAll);
  for (auto& h : msg) {
    std::string name(h.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    req.headers[name] = std::string(h.value());
  }
}

// A route that does not stream its body gets it whole, up to kBodyLimit.
enum class BodyRead { Whole, TooLarge, Broken };
BodyRead readWholeBody(Request& req, std::optional<uint64_t> contentLength) {
  if (contentLength && *contentLength > kBodyLimit) return BodyRead::TooLarge;
  char chunk[65536];
  long n;
  while ((n = req.readBody(chunk, sizeof chunk)) > 0 && req.body.size() <= kBodyLimit)
    req.body.append(chunk, static_cast<size_t>(n));
  if (req.body.size() > kBodyLimit) return BodyRead::TooLarge;
  if (n < 0) return BodyRead::Broken;
  req.readBody = nullptr;
  return BodyRead::Whole;
}

// dockerd's answer to a /vX.Y/ prefix outside the versions served.
std::optional<std::string> versionRefusal(const std::string& apiVersion) {
  if (apiVersion.empty()) return std::nullopt;
  double v = std::atof(apiVersion.c_str());
  if (v >= std::atof(kMinApiVersion) - 1e-9 && v <= std::atof(kApiVersion) + 1e-9) return std::nullopt;
  return "client version " + apiVersion + " is " +
         (v < 1.24 ? "too old. Minimum supported API version is " + std::string(kMinApiVersion)
                   : "too new. Maximum supported API version is " + std::string(kApiVersion)) +
         ", please upgrade your client to a newer version";
}

// The route's handler (an answer of 204 when it gave none), or docker's 404/405; a handler's exception is
// a 400 (JSON) or a 500.
void dispatch(const Handler* h, bool known, Request& req, Conn& c) {
  if (!h) {
    if (known)
      c.json(405, {{"message", "method " + req.method + " not allowed for " + req.path}});
    else
      c.json(404, {{"message", "page not found"}});
    return;
  }
  try {
    (*h)(req, c);
    if (!c.done()) c.text(204, "", "");
  } catch (const nlohmann::json::exception& e) {
    if (!c.done()) c.json(400, {{"message", std::string("invalid JSON: ") + e.what()}});
  } catch (const std::exception& e) {
    if (!c.done()) c.json(500, {{"message", e.what()}});
  }
}

}  // namespace

bool Request::queryBool(const std::string& k, bool dflt) const {
  auto it = query.find(k);
  if (it == query.end()) return dflt;
  const std::string& v = it->second;
  return !(v == "0" || v == "false" || v == "False" || v == "no");
}

std::string Request::queryStr(const std::string& k, const std::string& dflt) const {
  auto it = query.find(k);
  return it == query.end() ? dflt : it->second;
}

void Router::add(const std::string& method, const std::string& pattern, Handler h, bool streamBody) {
  routes_.push_back({method, RoutePattern(pattern), std::move(h), streamBody});
}

const Handler* Router::match(Request& req, bool* pathKnown, bool* streamBody) const {
  *pathKnown = false;
  for (auto& r : routes_) {
    std::vector<std::string> captures;
    if (!r.pattern.match(req.path, &captures)) continue;
    *pathKnown = true;
    if (r.method != req.method && !(r.method == "GET" && req.method == "HEAD")) continue;
    req.params.clear();
    for (auto& c : captures) req.params.push_back(urlDecode(c));
    if (streamBody) *streamBody = r.streamBody;
    return &r.h;
  }
  return nullptr;
}

int statusOf(const Error& e) {
  switch (e.category()) {
    case ErrorCategory::NotFound:
      return 404;
    case ErrorCategory::Conflict:
      return 409;
    case ErrorCategory::InvalidArgument:
      return 400;
    case ErrorCategory::PermissionDenied:
      return 403;
    case ErrorCategory::Unavailable:
      return 503;
    case ErrorCategory::NotModified:
      return 304;
    case ErrorCategory::NotImplemented:
      return 501;
    case ErrorCategory::Internal:
      break;
  }
  return 500;
}

Server::Server(engine::Engine& engine, std::string version, ServerOptions options)
    : engine_(engine), version_(std::move(version)), options_(options) {
  addSystemRoutes(router_, engine_, version_);
  addContainerRoutes(router_, engine_);
  addImageRoutes(router_, engine_);
  addArchiveRoutes(router_, engine_);
  addNetworkRoutes(router_, engine_);
  addVolumeRoutes(router_, engine_);
  conns_ = std::make_unique<Connections>(options_,
                                         [this](int fd, std::string* pending) { return serve(fd, pending); });
}

Server::~Server() = default;

Result<void> Server::listen(const std::string& path) {
  // A backlog as Go's listeners have (the kernel caps it at net.core.somaxconn): a burst of clients waits in
  // it rather than getting EAGAIN from connect.
  TRY(listen_, listenUnixSocket(path, 0660, 4096));
  if (struct group* g = ::getgrnam("berth")) (void)!::chown(path.c_str(), 0, g->gr_gid);
  path_ = path;
  return {};
}

void Server::run() {
  conns_->run(listen_.get());
}

void Server::stop() {
  conns_->stop();
  if (listen_) ::shutdown(listen_.get(), SHUT_RDWR);
  if (!path_.empty()) ::unlink(path_.c_str());
}

bool Server::serve(int fd, std::string* pending) {
  FdStream sock(fd, std::chrono::duration_cast<std::chrono::milliseconds>(options_.readTimeout));
  beast::error_code ec;
  beast::flat_buffer buf;
  if (!pending->empty()) {
    auto room = buf.prepare(pending->size());
    std::memcpy(room.data(), pending->data(), pending->size());
    buf.commit(pending->size());
    pending->clear();
  }
  for (bool first = true;; first = false) {
    if (!first) {
      // Kept alive: the next request is served here only when its head is here already; otherwise the
      // connection waits in the loop, without a thread.
      auto d = buf.data();
      std::string_view have(static_cast<const char*>(d.data()), d.size());
      if (!hasCompleteHead(have)) {
        pending->assign(have);
        return true;
      }
    }
    // The header first: a streaming route reads its body itself, the others get it whole (4 MiB at most).
    auto sp = std::make_unique<http::request_parser<http::buffer_body>>();
    auto& hp = *sp;
    hp.body_limit(std::numeric_limits<std::uint64_t>::max());  // (boost::none compares below any length)
    hp.header_limit(64 * 1024);
    http::read_header(sock, buf, hp, ec);
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset)
      break;
    Request req;
    if (ec) {
      Conn c(sock, buf, req, false);
      c.json(400, {{"message", "malformed HTTP request: " + ec.message()}});
      break;
    }
    auto& msg = hp.get();
    std::string target(msg.target());
    fillRequest(req, msg);
    bool keepAlive = msg.keep_alive();
    bool known = false, streamBody = false;
    const Handler* h = router_.match(req, &known, &streamBody);
    req.readBody = [&sock, &buf, p = sp.get()](char* out, size_t cap) -> long {
      while (!p->is_done()) {
        p->get().body().data = out;
        p->get().body().size = cap;
        beast::error_code rec;
        http::read_some(sock, buf, *p, rec);
        if (rec == http::error::need_buffer) rec = {};
        if (rec) return -1;
        size_t n = cap - p->get().body().size;
        if (n > 0) return static_cast<long>(n);
      }
      return 0;
    };
    if (!(h && streamBody)) {
      auto len = hp.content_length();
      if (BodyRead r = readWholeBody(req, len ? std::optional<uint64_t>(*len) : std::nullopt);
          r != BodyRead::Whole) {
        Conn c(sock, buf, req, false);
        if (r == BodyRead::TooLarge)
          c.json(413, {{"message", "request body too large (limit 4 MiB)"}});
        else
          c.json(400, {{"message", "malformed HTTP request: the body could not be read"}});
        break;
      }
    }
    Conn c(sock, buf, req, keepAlive);
    log::debug("API " + req.method + " " + target);
    if (auto refusal = versionRefusal(req.apiVersion)) {
      c.json(400, {{"message", *refusal}});
      if (!c.keepAlive() || !sp->is_done()) break;
      continue;
    }
    dispatch(h, known, req, c);
    if (c.streamed()) {
      if (!c.endStream() || !sp->is_done()) break;
      continue;
    }
    if (!c.keepAlive()) break;
    if (!sp->is_done()) {
      // A streaming handler that answered before the end of its body (an error): read the rest (up to the
      // JSON limit) so that the client, still sending, gets the answer; beyond that the connection goes.
      char sink[65536];
      size_t drained = 0;
      long n;
      while (drained <= kBodyLimit && (n = req.readBody(sink, sizeof sink)) > 0)
        drained += static_cast<size_t>(n);
      if (!sp->is_done()) break;
    }
  }
  return false;
}

}  // namespace berth::server
