#include "network/dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace berth::network::dns {

namespace {
constexpr uint16_t kTypeA = 1, kClassIn = 1;
}

Result<Question> parseQuery(const uint8_t* msg, size_t len) {
  if (len < 12) return invalid("dns: message shorter than its header");
  uint16_t flags = static_cast<uint16_t>(msg[2] << 8 | msg[3]);
  if (flags & 0x8000) return invalid("dns: a response, not a query");
  if ((flags >> 11) & 0xf) return invalid("dns: not a standard query");
  if ((msg[4] << 8 | msg[5]) != 1) return invalid("dns: not one question");
  Question q;
  size_t p = 12;
  for (int labels = 0;; ++labels) {
    if (p >= len || labels > 127) return invalid("dns: truncated name");
    size_t n = msg[p++];
    if (n == 0) break;
    if (n > 63 || p + n > len) return invalid("dns: bad label");  // (compression has no place in a question)
    if (!q.name.empty()) q.name += '.';
    for (size_t i = 0; i < n; ++i) q.name += static_cast<char>(std::tolower(msg[p + i]));
    p += n;
  }
  if (p + 4 > len) return invalid("dns: truncated question");
  q.type = static_cast<uint16_t>(msg[p] << 8 | msg[p + 1]);
  q.cls = static_cast<uint16_t>(msg[p + 2] << 8 | msg[p + 3]);
  q.end = p + 4;
  return q;
}

std::vector<uint8_t> respond(const uint8_t* query, size_t len, const Question& q,
                             const std::vector<Address>& addrs, int rcode) {
  (void)len;
  bool answerA = q.type == kTypeA && q.cls == kClassIn;
  size_t count = answerA ? addrs.size() : 0;
  std::vector<uint8_t> out(query, query + q.end);
  out[2] = static_cast<uint8_t>(0x80 | 0x04 | (query[2] & 0x01));  // QR, AA, RD as asked
  out[3] = static_cast<uint8_t>(0x80 | (rcode & 0xf));             // RA
  out[6] = static_cast<uint8_t>(count >> 8), out[7] = static_cast<uint8_t>(count);
  out[8] = out[9] = out[10] = out[11] = 0;  // no authority, no additional (a client's OPT is not echoed)
  for (size_t i = 0; i < count; ++i) {
    uint32_t a = addrs[i].value;
    uint8_t rr[] = {0xc0,
                    0x0c,
                    0,
                    kTypeA,
                    0,
                    kClassIn,
                    0,
                    0,
                    0x02,
                    0x58,
                    0,
                    4,
                    static_cast<uint8_t>(a >> 24),
                    static_cast<uint8_t>(a >> 16),
                    static_cast<uint8_t>(a >> 8),
                    static_cast<uint8_t>(a)};
    out.insert(out.end(), rr, rr + sizeof rr);
  }
  return out;
}

Server::Server(std::vector<std::string> upstreams) : upstreams_(std::move(upstreams)) {
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  thread_ = std::thread([this] { loop(); });
}

Server::~Server() {
  {
    std::lock_guard lock(m_);
    stopping_ = true;
  }
  wake();
  thread_.join();
}

void Server::wake() {
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

Result<void> Server::listen(const std::string& id, Address ip) {
  {
    std::lock_guard lock(m_);
    if (auto it = nets_.find(id); it != nets_.end() && it->second.sock) return {};
  }
  auto sock = std::make_shared<UniqueFd>(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!*sock) return sysFail("dns: socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(53);
  a.sin_addr.s_addr = htonl(ip.value);
  if (::bind(sock->get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    return sysFail("dns: binding " + ip.str() + ":53");
  {
    std::lock_guard lock(m_);
    nets_[id].sock = std::move(sock);
  }
  wake();
  return {};
}

void Server::close(const std::string& id) {
  {
    std::lock_guard lock(m_);
    nets_.erase(id);
  }
  wake();
}

void Server::setNames(const std::string& id, std::map<std::string, std::vector<Address>> names) {
  std::lock_guard lock(m_);
  nets_[id].names = std::move(names);
}

void Server::setPeers(std::map<Address, std::vector<std::string>> peers) {
  std::lock_guard lock(m_);
  peers_ = std::move(peers);
}

void Server::loop() {
  for (;;) {
    std::vector<pollfd> fds{{wake_.get(), POLLIN, 0}};
    std::vector<std::pair<std::string, std::shared_ptr<UniqueFd>>> socks;
    {
      std::lock_guard lock(m_);
      if (stopping_) return;
      for (auto& [id, n] : nets_)
        if (n.sock) {
          fds.push_back({n.sock->get(), POLLIN, 0});
          socks.emplace_back(id, n.sock);
        }
    }
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
    if (fds[0].revents) {
      uint64_t v;
      (void)!::read(wake_.get(), &v, sizeof v);
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      auto& [id, sock] = socks[i - 1];
      uint8_t buf[1500];
      sockaddr_in from{};
      socklen_t fromLen = sizeof from;
      ssize_t n = ::recvfrom(sock->get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
      if (n <= 0) continue;
      auto q = parseQuery(buf, static_cast<size_t>(n));
      if (!q) continue;  // not worth an answer
      std::vector<Address> found;
      bool ours = false;
      {
        std::lock_guard lock(m_);
        auto lookIn = [&](const std::string& netId) {
          auto net = nets_.find(netId);
          if (net == nets_.end()) return;
          if (auto it = net->second.names.find(q->name); it != net->second.names.end()) {
            ours = true;
            found = it->second;
          }
        };
        lookIn(id);
        if (auto p = peers_.find(Address{ntohl(from.sin_addr.s_addr)}); !ours && p != peers_.end())
          for (auto& other : p->second)
            if (!ours && other != id) lookIn(other);
      }
      if (ours) {
        auto out = respond(buf, static_cast<size_t>(n), *q, found, 0);
        (void)::sendto(sock->get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), fromLen);
        continue;
      }
      // Not ours: the host's resolvers answer (in a thread of its own: they may take seconds).
      std::vector<uint8_t> query(buf, buf + n);
      std::thread([sock, query, from, fromLen, q = *q, ups = upstreams_] {
        for (auto& u : ups) {
          auto colon = u.find(':');
          in_addr ia{};
          if (::inet_pton(AF_INET, u.substr(0, colon).c_str(), &ia) != 1) continue;
          sockaddr_in to{};
          to.sin_family = AF_INET;
          to.sin_port = htons(
              colon == std::string::npos ? 53 : static_cast<uint16_t>(std::atoi(u.c_str() + colon + 1)));
          to.sin_addr = ia;
          UniqueFd up(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
          if (!up) continue;
          timeval tv{2, 0};
          ::setsockopt(up.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
          if (::sendto(up.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) <
              0)
            continue;
          uint8_t reply[4096];
          ssize_t r = ::recv(up.get(), reply, sizeof reply, 0);
          if (r < 12 || reply[0] != query[0] || reply[1] != query[1]) continue;
          (void)::sendto(sock->get(), reply, static_cast<size_t>(r), 0,
                         reinterpret_cast<const sockaddr*>(&from), fromLen);
          return;
        }
        auto out = respond(query.data(), query.size(), q, {}, 2);  // SERVFAIL
        (void)::sendto(sock->get(), out.data(), out.size(), 0, reinterpret_cast<const sockaddr*>(&from),
                       fromLen);
      }).detach();
    }
  }
}

}  // namespace berth::network::dns
