// The Docker Engine API over HTTP/1.1 on a unix socket (Boost.Beast). Connections waiting for a request are
// held by one epoll loop (no thread, one fd each), with an idle timeout and a deadline for the request head;
// a complete head goes to a worker thread, which keeps the connection for as long as its request lasts
// (streams such as attach, logs -f, wait and events) and gives it back for the next one.
//
// Errors are mapped to HTTP statuses in one place (statusOf) with docker's body {"message": "..."}.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "engine/engine.h"
#include "server/request_head.h"

namespace berth::server {

inline constexpr const char* kApiVersion = "1.45";
inline constexpr const char* kMinApiVersion = "1.24";

struct Request {
  std::string method;
  std::string path;  // without the /vX.Y prefix
  std::string apiVersion;
  std::map<std::string, std::string> query;                  // the last value of each parameter
  std::map<std::string, std::vector<std::string>> queryAll;  // every value (names=a&names=b)
  std::map<std::string, std::string> headers;                // lower-case names
  std::string body;  // the whole body (up to 4 MiB), except for streaming routes:
  std::function<long(char* buf, size_t cap)>
      readBody;                     // streaming routes: bytes read, 0 at the end, -1 on error
  std::vector<std::string> params;  // the route's captures
  bool queryBool(const std::string& k, bool dflt = false) const;
  std::string queryStr(const std::string& k, const std::string& dflt = "") const;
};

// What a handler writes to: a whole response, or the start of a stream, or a hijacked connection.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void json(int status, const nlohmann::json& body) = 0;
  virtual void text(int status, const std::string& contentType, const std::string& body) = 0;
  virtual void error(const Error& e) = 0;
  // An extra header for the response that follows (json, text, beginStream).
  virtual void header(const std::string& name, const std::string& value) = 0;
  // Chunked stream: headers now, then chunks; false once the client is gone.
  virtual void beginStream(const std::string& contentType) = 0;
  virtual bool chunk(std::string_view data) = 0;
  // Takes over the connection for a raw stream (attach): answers 101 UPGRADED (or 200 for clients that do
  // not ask to upgrade) and returns its fd plus bytes the client already sent after the request.
  virtual int hijack(const std::string& contentType, std::string* early) = 0;
  // True once the client closed its end (for long waits).
  virtual bool clientGone() = 0;
};

using Handler = std::function<void(Request&, Responder&)>;

class Router {
 public:
  // A streaming route reads its request body itself (Request::readBody): archives of any size.
  void add(const std::string& method, const std::string& pattern, Handler h, bool streamBody = false);
  // Finds the handler, filling req.params; null when no route matches (pathKnown tells 405 from 404).
  const Handler* match(Request& req, bool* pathKnown, bool* streamBody = nullptr) const;

 private:
  struct Route {
    std::string method;
    RoutePattern pattern;
    Handler h;
    bool streamBody = false;
  };
  std::vector<Route> routes_;
};

int statusOf(const Error& e);

// One file per API area.
void addSystemRoutes(Router& r, engine::Engine& e, const std::string& version);
void addContainerRoutes(Router& r, engine::Engine& e);
void addImageRoutes(Router& r, engine::Engine& e);
void addArchiveRoutes(Router& r, engine::Engine& e);
void addNetworkRoutes(Router& r, engine::Engine& e);
void addVolumeRoutes(Router& r, engine::Engine& e);
// docker's filters parameter: {"key": ["v1"]} or the old {"key": {"v1": true}}.
Result<std::map<std::string, std::vector<std::string>>> parseFilters(const std::string& raw);

// Bounds of the server (berthd takes them from BERTH_HTTP_* variables, for tests).
struct ServerOptions {
  size_t maxConnections = 4096;  // lowered to half the fd limit when that is smaller
  std::chrono::seconds idleTimeout{
      120};  // a kept-alive connection without a request (Go clients drop at 90 s)
  std::chrono::seconds headTimeout{60};   // from the first byte of a request head to its end
  std::chrono::seconds readTimeout{300};  // a request body that stops arriving
};

// The defaults, with BERTH_HTTP_MAX_CONNECTIONS, BERTH_HTTP_IDLE_TIMEOUT, BERTH_HTTP_HEAD_TIMEOUT and
// BERTH_HTTP_READ_TIMEOUT (seconds) where set to positive numbers.
ServerOptions serverOptionsFromEnv();

class Connections;

class Server {
 public:
  Server(engine::Engine& engine, std::string version, ServerOptions options = {});
  ~Server();
  // Binds the unix socket (mode 0660, group `berth` when it exists).
  Result<void> listen(const std::string& path);
  // Serves until stop().
  void run();
  void stop();
  // Serves one connection whose bytes so far are *pending; true (and the unparsed rest in *pending) when it
  // waits for its next request, false when it is closed or handed to a stream that owns it now.
  bool serve(int fd, std::string* pending);

 private:
  engine::Engine& engine_;
  std::string version_;
  ServerOptions options_;
  Router router_;
  UniqueFd listen_;
  std::string path_;
  std::unique_ptr<Connections> conns_;
};

}  // namespace berth::server
