// The Engine API as berth's CLI uses it: one keep-alive connection for plain calls, fresh connections for
// streams and upgrades, and the daemon's error answers turned into Errors carrying its message.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "client/http_client.h"

namespace berth::client {

// "unix:///path" or a plain absolute path → the socket path.
Result<std::string> socketPathOf(const std::string& host);

class Api {
 public:
  explicit Api(std::string socketPath) : socket_(std::move(socketPath)) {}
  const std::string& socketPath() const { return socket_; }

  // GET /_ping; false when nothing answers on the socket.
  bool ping();
  // A request answered whole; a 4xx/5xx answer is an Error with the daemon's message.
  Result<Response> call(const std::string& method, const std::string& target, const std::string& body = "");
  Result<nlohmann::json> callJson(const std::string& method, const std::string& target,
                                  const std::string& body = "");
  // A request whose answer is consumed as it arrives (logs -f, events, stats, save); on its own connection.
  Result<void> stream(const std::string& method, const std::string& target, const std::string& body,
                      const std::function<bool(std::string_view)>& sink);
  // A request whose body is read from `fd` to its end and sent chunked (load, import, cp into).
  Result<Response> upload(const std::string& method, const std::string& target, int fd,
                          const std::string& contentType);
  // Connection: Upgrade (attach, exec start): the connection after the 101 (or 200) answer.
  Result<Connection> hijack(const std::string& method, const std::string& target,
                            const std::string& body = "");
  // A request sent now whose answer is read later (wait before start): its own connection.
  Result<Connection> begin(const std::string& method, const std::string& target,
                           const std::string& body = "");

  // POST /containers/{id}/wait, begun before a start: returns once the daemon has answered the head,
  // i.e. registered the wait, so an exit (and an --rm removal) right after the start is not missed.
  class Wait {
   public:
    // The exit status (the daemon's StatusCode), or its error.
    Result<int> finish();

   private:
    friend class Api;
    Wait(Connection c, std::optional<Response> h) : conn_(std::move(c)), head_(std::move(h)) {}
    Connection conn_;
    std::optional<Response> head_;  // read by beginWait, or (condition "removed") by finish
  };
  // Sends the wait. For "next-exit" and "not-running" it returns once the daemon has answered the headers
  // (the wait is registered: a start after it cannot be missed); "removed" is a state that stays, so its
  // answer is read by finish() alone, a round trip fewer before the start.
  Result<Wait> beginWait(const std::string& containerPath, const std::string& condition);
  // The connection check of a first use (no request): ENOENT/ECONNREFUSED when nothing listens.
  Result<void> connect();

  static Error errorOf(const Response& r);

 private:
  Result<Connection*> shared();
  std::string socket_;
  std::optional<Connection> conn_;
  bool connUsed_ = false;  // conn_ has answered a request before (the daemon may have closed it since)
};

}  // namespace berth::client
