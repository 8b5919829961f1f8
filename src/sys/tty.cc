#include "sys/tty.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace berth::sys::tty {

int openPty(int* master, int* slave, unsigned* ptyNumber) {
  int m = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return -errno;
  int unlock = 0;
  if (::ioctl(m, TIOCSPTLCK, &unlock) < 0) {
    int e = errno;
    ::close(m);
    return -e;
  }
  unsigned n = 0;
  if (::ioctl(m, TIOCGPTN, &n) < 0) {
    int e = errno;
    ::close(m);
    return -e;
  }
  int s = ::ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    int e = errno;
    ::close(m);
    return -e;
  }
  *master = m;
  *slave = s;
  *ptyNumber = n;
  return 0;
}

int makeControlling(int slave) {
  if (::setsid() < 0 && errno != EPERM) return -errno;
  if (::ioctl(slave, TIOCSCTTY, 0) < 0) return -errno;
  for (int i = 0; i < 3; ++i)
    if (::dup3(slave, i, 0) < 0) return -errno;
  return 0;
}

int setSize(int fd, unsigned rows, unsigned cols) {
  struct winsize ws {};
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_col = static_cast<unsigned short>(cols);
  if (::ioctl(fd, TIOCSWINSZ, &ws) < 0) return -errno;
  return 0;
}

int sendFd(int sock, int fd, const char* name) {
  char control[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov {
    const_cast<char*>(name), std::strlen(name)
  };
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

Result<UniqueFd> recvFd(int sock, bool dontWait) {
  char control[CMSG_SPACE(sizeof(int))] = {};
  char name[4096];
  struct iovec iov {
    name, sizeof name
  };
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | (dontWait ? MSG_DONTWAIT : 0));
  while (n < 0 && errno == EINTR);
  if (dontWait && (n == 0 || (n < 0 && errno == EAGAIN))) return UniqueFd();
  if (n <= 0)
    return n == 0 ? fail("the console socket closed without a terminal") : sysFail("receiving the terminal");
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return fail("no terminal fd was received");
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

Result<UniqueFd> connectUnix(const std::string& path) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return invalid("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sysFail("socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return sysFail("connecting to console socket " + path);
  return fd;
}

RawMode::RawMode(int fd) : fd_(fd) {
  static_assert(sizeof(termios) <= sizeof saved_);
  termios t;
  if (::tcgetattr(fd, &t) < 0) return;
  std::memcpy(saved_, &t, sizeof t);
  cfmakeraw(&t);
  t.c_oflag |= OPOST;  // keep output post-processing like runc/docker do
  if (::tcsetattr(fd, TCSANOW, &t) == 0) active_ = true;
}

RawMode::~RawMode() {
  if (!active_) return;
  termios t;
  std::memcpy(&t, saved_, sizeof t);
  ::tcsetattr(fd_, TCSANOW, &t);
}

}  // namespace berth::sys::tty
