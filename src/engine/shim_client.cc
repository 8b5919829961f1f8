#include "engine/shim_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/unix_socket.h"
#include "runtime/shim_protocol.h"

namespace berth::engine::shimio {

Result<UniqueFd> connect(const std::string& socketPath) {
  return connectUnixSocket(socketPath);
}

bool sendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool recvAll(int fd, char* p, size_t n) {
  while (n) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r, n -= static_cast<size_t>(r);
  }
  return true;
}

Result<std::string> readLine(int fd) {
  // Peek, then take exactly the line: what follows it on the socket (a stream) stays for the caller.
  std::string line;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_PEEK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysFail("reading from the shim");
    if (n == 0) return fail(ErrorCategory::Unavailable, "the shim closed the connection");
    auto* nl = static_cast<const char*>(std::memchr(buf, '\n', static_cast<size_t>(n)));
    size_t take = nl ? static_cast<size_t>(nl - buf) + 1 : static_cast<size_t>(n);
    if (!recvAll(fd, buf, take)) return fail(ErrorCategory::Unavailable, "the shim closed the connection");
    line.append(buf, nl ? take - 1 : take);
    if (nl) return line;
    if (line.size() > 65536) return fail("the shim's answer is too long");
  }
}

void relay(int shimFd, int clientFd, const RelayOptions& o) {
  bool clientIn = o.stdin;
  std::vector<char> buf(65536);
  for (;;) {
    struct pollfd p[2] = {{shimFd, POLLIN, 0}, {clientIn ? clientFd : -1, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) {
      ssize_t n = ::recv(clientFd, buf.data(), buf.size(), 0);
      if (n <= 0) {
        clientIn = false;
        ::shutdown(shimFd, SHUT_WR);  // the shim closes the process's stdin
      } else if (!sendAll(shimFd, {buf.data(), static_cast<size_t>(n)})) {
        clientIn = false;
      }
    }
    if (p[0].revents) {
      char hdr[runtime::shim::kFrameHeader];
      if (!recvAll(shimFd, hdr, sizeof hdr)) return;
      uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>(hdr[4])) << 24) |
                     (static_cast<uint32_t>(static_cast<unsigned char>(hdr[5])) << 16) |
                     (static_cast<uint32_t>(static_cast<unsigned char>(hdr[6])) << 8) |
                     static_cast<uint32_t>(static_cast<unsigned char>(hdr[7]));
      if (len > buf.size()) buf.resize(len);
      if (!recvAll(shimFd, buf.data(), len)) return;
      int stream = hdr[0];
      if ((stream == 1 && !o.stdout) || (stream == 2 && !o.stderr)) continue;
      bool sent = o.tty ? sendAll(clientFd, {buf.data(), len})
                        : sendAll(clientFd, {hdr, sizeof hdr}) && sendAll(clientFd, {buf.data(), len});
      if (!sent) return;
    }
  }
}

}  // namespace berth::engine::shimio
