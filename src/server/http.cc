#include "server/http.h"

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstring>
#include <limits>
#include <thread>

#include "base/file.h"
#include "base/log.h"
#include "base/memory.h"
#include "base/unix_socket.h"

namespace berth::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr size_t kBodyLimit = 16 << 20;  // JSON bodies; archives are streamed by their own routes

std::string urlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

class Conn final : public Responder {
 public:
  Conn(asio::local::stream_protocol::socket& s, beast::flat_buffer& buf, const Request& req, bool keepAlive)
      : s_(s), buf_(buf), req_(req), keepAlive_(keepAlive) {}

  void json(int status, const nlohmann::json& body) override {
    text(status, "application/json", body.dump() + "\n");
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
    return s_.native_handle();
  }
  bool clientGone() override {
    struct pollfd p {
      s_.native_handle(), POLLIN | POLLRDHUP, 0
    };
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
    char c;
    return ::recv(s_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
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
  asio::local::stream_protocol::socket& s_;
  beast::flat_buffer& buf_;
  const Request& req_;
  bool keepAlive_;
  bool done_ = false, streaming_ = false, streamed_ = false, hijacked_ = false;
  std::vector<std::pair<std::string, std::string>> extra_;
};

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
  routes_.push_back({method, std::regex("^" + pattern + "$"), std::move(h), streamBody});
}

const Handler* Router::match(Request& req, bool* pathKnown, bool* streamBody) const {
  *pathKnown = false;
  for (auto& r : routes_) {
    std::smatch m;
    if (!std::regex_match(req.path, m, r.re)) continue;
    *pathKnown = true;
    if (r.method != req.method && !(r.method == "GET" && req.method == "HEAD")) continue;
    req.params.clear();
    for (size_t i = 1; i < m.size(); ++i) req.params.push_back(urlDecode(m[i].str()));
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
    case ErrorCategory::Internal:
      break;
  }
  return 500;
}

Server::Server(engine::Engine& engine, std::string version) : engine_(engine), version_(std::move(version)) {
  addSystemRoutes(router_, engine_, version_);
  addContainerRoutes(router_, engine_);
  addImageRoutes(router_, engine_);
  addArchiveRoutes(router_, engine_);
  addNetworkRoutes(router_, engine_);
  addVolumeRoutes(router_, engine_);
}

Result<void> Server::listen(const std::string& path) {
  TRY(listen_, listenUnixSocket(path, 0660));
  if (struct group* g = ::getgrnam("berth")) (void)!::chown(path.c_str(), 0, g->gr_gid);
  path_ = path;
  return {};
}

void Server::run() {
  bool released = false;
  while (!stopping_) {
    // A second without requests or open connections: what served the last ones goes back (free heap,
    // program and library pages; see releaseResidentMemory). The next request faults back what it needs.
    struct pollfd p = {listen_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, released ? -1 : 1000);
    if (n == 0) {
      if (connections_ == 0) {
        (void)releaseResidentMemory();
        released = true;
      }
      continue;
    }
    released = false;
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (stopping_) break;
      log::warn(std::string("accept: ") + std::strerror(errno));
      continue;
    }
    ++connections_;
    bool handed = false;
    {
      std::lock_guard lock(workers_->m);
      if (workers_->idle > static_cast<int>(workers_->fds.size())) {
        workers_->fds.push_back(fd);
        handed = true;
      }
    }
    if (handed)
      workers_->cv.notify_one();
    else
      std::thread([this, w = workers_, fd] { work(w, fd); }).detach();
  }
}

void Server::work(const std::shared_ptr<Workers>& w, int fd) {
  for (;;) {
    serve(fd);
    --connections_;
    std::unique_lock lock(w->m);
    if (w->stop || w->idle >= kMaxIdle) return;
    ++w->idle;
    w->cv.wait_for(lock, std::chrono::minutes(1), [&] { return w->stop || !w->fds.empty(); });
    --w->idle;
    if (w->stop || w->fds.empty()) return;
    fd = w->fds.front();
    w->fds.pop_front();
  }
}

void Server::stop() {
  {
    std::lock_guard lock(workers_->m);
    workers_->stop = true;
    for (int fd : workers_->fds) ::close(fd);
    workers_->fds.clear();
  }
  workers_->cv.notify_all();
  stopping_ = true;
  if (listen_) ::shutdown(listen_.get(), SHUT_RDWR);
  if (!path_.empty()) ::unlink(path_.c_str());
}

void Server::serve(int fd) {
  asio::io_context io;
  asio::local::stream_protocol::socket sock(io);
  beast::error_code ec;
  sock.assign(asio::local::stream_protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  beast::flat_buffer buf;
  for (;;) {
    // The header first: a streaming route reads its body itself, the others get it whole (16 MiB at most).
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
    req.method = std::string(msg.method_string());
    std::string target(msg.target());
    std::string path = target.substr(0, target.find('?'));
    if (target.find('?') != std::string::npos) {
      for (auto& kv : split(target.substr(target.find('?') + 1), '&')) {
        if (kv.empty()) continue;
        auto eq = kv.find('=');
        std::string k = urlDecode(kv.substr(0, eq)),
                    v = eq == std::string::npos ? "" : urlDecode(kv.substr(eq + 1));
        req.query[k] = v;
        req.queryAll[k].push_back(v);
      }
    }
    static const std::regex kVersioned("^/v([0-9]+\\.[0-9]+)(/.*)$");
    std::smatch m;
    if (std::regex_match(path, m, kVersioned)) {
      req.apiVersion = m[1].str();
      path = m[2].str();
    }
    req.path = path;
    for (auto& h : msg) {
      std::string name(h.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.headers[name] = std::string(h.value());
    }
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
      auto tooLarge = [&] {
        Conn c(sock, buf, req, false);
        c.json(413, {{"message", "request body too large (limit 16 MiB)"}});
      };
      if (auto len = hp.content_length(); len && *len > kBodyLimit) {
        tooLarge();
        break;
      }
      char chunk[65536];
      long n;
      while ((n = req.readBody(chunk, sizeof chunk)) > 0 && req.body.size() <= kBodyLimit)
        req.body.append(chunk, static_cast<size_t>(n));
      if (req.body.size() > kBodyLimit) {
        tooLarge();
        break;
      }
      if (n < 0) {
        Conn c(sock, buf, req, false);
        c.json(400, {{"message", "malformed HTTP request: the body could not be read"}});
        break;
      }
      req.readBody = nullptr;
    }
    Conn c(sock, buf, req, keepAlive);
    log::debug("API " + req.method + " " + target);
    if (!req.apiVersion.empty()) {
      double v = std::atof(req.apiVersion.c_str());
      if (v < std::atof(kMinApiVersion) - 1e-9 || v > std::atof(kApiVersion) + 1e-9) {
        c.json(400,
               {{"message",
                 "client version " + req.apiVersion + " is " +
                     (v < 1.24 ? "too old. Minimum supported API version is " + std::string(kMinApiVersion)
                               : "too new. Maximum supported API version is " + std::string(kApiVersion)) +
                     ", please upgrade your client to a newer version"}});
        if (!c.keepAlive() || !sp->is_done()) break;
        continue;
      }
    }
    if (!h) {
      if (known)
        c.json(405, {{"message", "method " + req.method + " not allowed for " + req.path}});
      else
        c.json(404, {{"message", "page not found"}});
    } else {
      try {
        (*h)(req, c);
        if (!c.done()) c.text(204, "", "");
      } catch (const nlohmann::json::exception& e) {
        if (!c.done()) c.json(400, {{"message", std::string("invalid JSON: ") + e.what()}});
      } catch (const std::exception& e) {
        if (!c.done()) c.json(500, {{"message", e.what()}});
      }
    }
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
  sock.shutdown(asio::local::stream_protocol::socket::shutdown_both, ec);
  sock.close(ec);
}

}  // namespace berth::server
