// The embedded DNS server of user-defined networks: containers' names and aliases answer with their
// addresses on that network, other names are forwarded to the host's resolvers. One UDP socket per network
// on its gateway address, port 53 (as podman's aardvark-dns; docker's 127.0.0.11 inside each container
// needs a redirect per namespace), one thread for all of them, one short-lived thread per forwarded query.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "network/ipam.h"

namespace berth::network::dns {

struct Question {
  std::string name;  // lower case, no trailing dot
  uint16_t type = 0, cls = 0;
  size_t end = 0;  // offset after the question in the message
};

// A standard query with one question, or an error (malformed, a response, another opcode).
Result<Question> parseQuery(const uint8_t* msg, size_t len);
// The response to `query`: `rcode`, and one A record per address (TTL 600) when the question asks for A.
std::vector<uint8_t> respond(const uint8_t* query, size_t len, const Question& q,
                             const std::vector<Address>& addrs, int rcode);

class Server {
 public:
  // `upstreams`: resolvers for the names that are not ours ("1.2.3.4" or "1.2.3.4:53").
  explicit Server(std::vector<std::string> upstreams);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves network `id` on `ip`:53 (again: nothing). EADDRINUSE and the like are errors for the caller
  // to fall back on the host's resolvers.
  Result<void> listen(const std::string& id, Address ip);
  void close(const std::string& id);
  // The names of network `id` (lower case) and their addresses, replacing the previous ones.
  void setNames(const std::string& id, std::map<std::string, std::vector<Address>> names);
  // For a client (by its address) on several networks: the other networks whose names it resolves too
  // (docker answers with a container's names on every network it is on), replacing the previous ones.
  void setPeers(std::map<Address, std::vector<std::string>> peers);

 private:
  void loop();
  void wake();
  struct Net {
    std::shared_ptr<UniqueFd> sock;
    std::map<std::string, std::vector<Address>> names;
  };
  std::vector<std::string> upstreams_;
  std::mutex m_;
  std::map<std::string, Net> nets_;
  std::map<Address, std::vector<std::string>> peers_;
  UniqueFd wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace berth::network::dns
