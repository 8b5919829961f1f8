// The attach/exec relay: one poll loop over our stdin, the hijacked connection and SIGWINCH.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

#include "berth.h"

namespace berth::cli {
namespace {

bool writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool sendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// The terminal in raw mode for the lifetime of the relay, restored on every way out.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (::tcgetattr(fd, &saved_) == 0) {
      struct termios raw = saved_;
      ::cfmakeraw(&raw);
      raw.c_oflag |= OPOST;  // keep \n → \r\n for our own messages; the pty does its own
      active_ = ::tcsetattr(fd, TCSANOW, &raw) == 0;
    }
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }

 private:
  int fd_;
  struct termios saved_ {};
  bool active_ = false;
};

// Frames of the multiplexed stream: [stream, 0, 0, 0, size (big endian, 4 bytes)] + payload.
class Demux {
 public:
  bool feed(const char* p, size_t n) {
    buf_.append(p, n);
    size_t off = 0;
    while (buf_.size() - off >= 8) {
      auto* h = reinterpret_cast<const unsigned char*>(buf_.data() + off);
      size_t len = (size_t(h[4]) << 24) | (size_t(h[5]) << 16) | (size_t(h[6]) << 8) | size_t(h[7]);
      if (buf_.size() - off < 8 + len) break;
      int out = h[0] == 2 ? 2 : 1;
      if (!writeAll(out, buf_.data() + off + 8, len)) return false;
      off += 8 + len;
    }
    buf_.erase(0, off);
    return true;
  }

 private:
  std::string buf_;
};

}  // namespace

std::function<bool(std::string_view)> outputSink(bool tty) {
  if (tty) return [](std::string_view s) { return writeAll(1, s.data(), s.size()); };
  auto d = std::make_shared<Demux>();
  return [d](std::string_view s) { return d->feed(s.data(), s.size()); };
}

StreamOptions streamOptions(client::Api& a, const std::string& object, bool tty, bool stdinOpen,
                            const std::string& killPath) {
  StreamOptions so;
  so.tty = tty;
  so.stdinOpen = stdinOpen;
  so.resize = [&a, object](int rows, int cols) {
    (void)a.call("POST", object + "/resize?h=" + std::to_string(rows) + "&w=" + std::to_string(cols));
  };
  if (!tty && !killPath.empty())
    so.proxySignal = [&a, killPath](int sig) {
      (void)a.call("POST", killPath + "?signal=" + std::to_string(sig));
    };
  return so;
}

Result<void> relayStreams(client::Connection& c, const StreamOptions& o) {
  int sock = c.fd();
  Demux demux;
  auto output = [&](const char* p, size_t n) { return o.tty ? writeAll(1, p, n) : demux.feed(p, n); };
  std::string early = c.takeBuffered();
  if (!early.empty() && !output(early.data(), early.size())) return {};

  std::optional<RawTerminal> raw;
  UniqueFd winch;
  if (o.tty && ::isatty(0)) {
    if (o.stdinOpen) raw.emplace(0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    winch.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  UniqueFd sigs;
  if (o.proxySignal) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    sigs.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  auto sendSize = [&] {
    struct winsize ws {};
    if (o.resize && ::ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) o.resize(ws.ws_row, ws.ws_col);
  };
  if (o.tty) sendSize();

  bool stdinOpen = o.stdinOpen;
  char buf[64 * 1024];
  for (;;) {
    struct pollfd fds[4] = {{sock, POLLIN, 0},
                            {stdinOpen ? 0 : -1, POLLIN, 0},
                            {winch.get(), POLLIN, 0},
                            {sigs.get(), POLLIN, 0}};
    int n = ::poll(fds, 4, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysFail("poll");
    if (fds[3].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (::read(sigs.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si))
        o.proxySignal(static_cast<int>(si.ssi_signo));
    }
    if (fds[2].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (::read(winch.get(), &si, sizeof si) > 0) {
      }
      sendSize();
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = ::read(0, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        stdinOpen = false;
        ::shutdown(sock, SHUT_WR);  // the container sees the end of its stdin
      } else if (!sendAll(sock, buf, static_cast<size_t>(r))) {
        stdinOpen = false;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = ::read(sock, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return {};
      if (!output(buf, static_cast<size_t>(r))) return {};
    }
  }
}

}  // namespace berth::cli
