// The server's connections: one epoll loop holds those waiting for a request (idle, or with a head still
// arriving) and hands each complete head to a worker thread; the worker serves it and gives the connection
// back. Bounded: at most maxConnections; at the bound, or when the process is out of fds, the waiting
// connection that waited longest goes first, and when none waits a new one gets a 503 and is closed.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "server/http.h"

namespace berth::server {

class Connections {
 public:
  // serve: as Server::serve (true: wait for the next request with *pending as its first bytes).
  using ServeFn = std::function<bool(int fd, std::string* pending)>;
  Connections(const ServerOptions& options, ServeFn serve);
  ~Connections();
  // The loop over the listening socket, until stop().
  void run(int listenFd);
  void stop();

  struct State;

 private:
  std::shared_ptr<State> st_;  // shared with the workers, which may outlive the loop at shutdown
};

// The connection bound: wanted, or half the fd limit when that is less (the rest is the engine's).
size_t connectionBound(size_t wanted);

}  // namespace berth::server
