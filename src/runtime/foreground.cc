#include "runtime/foreground.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "base/fd.h"
#include "sys/tty.h"

namespace berth::runtime {

namespace {
sigset_t forwarded() {
  sigset_t set;
  sigfillset(&set);
  for (int s :
       {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS, SIGTTIN, SIGTTOU})
    sigdelset(&set, s);
  return set;
}

bool copyOnce(int from, int to) {
  char buf[16384];
  ssize_t n = ::read(from, buf, sizeof buf);
  if (n <= 0) return false;
  ssize_t off = 0;
  while (off < n) {
    ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p {
          to, POLLOUT, 0
        };
        ::poll(&p, 1, 100);
        continue;
      }
      return false;
    }
    off += w;
  }
  return true;
}

void copyWinsize(int from, int to) {
  struct winsize ws;
  if (::ioctl(from, TIOCGWINSZ, &ws) == 0) ::ioctl(to, TIOCSWINSZ, &ws);
}
}  // namespace

void blockForwardedSignals() {
  sigset_t set = forwarded();
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

Result<int> waitForeground(pid_t pid, int masterFd) {
  sigset_t set = forwarded();
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  UniqueFd sfd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sfd) return sysFail("signalfd");
  std::optional<sys::tty::RawMode> raw;
  bool stdinOpen = masterFd >= 0;
  bool masterOpen = masterFd >= 0;
  if (masterFd >= 0 && ::isatty(0)) {
    copyWinsize(0, masterFd);
    raw.emplace(0);
  }
  int status = -1;
  auto reap = [&] {
    for (;;) {
      int st;
      pid_t r = ::waitpid(-1, &st, WNOHANG);
      if (r <= 0) break;
      if (r == pid) status = st;
    }
  };
  reap();
  while (status < 0) {
    struct pollfd fds[3];
    int n = 0;
    fds[n++] = {sfd.get(), POLLIN, 0};
    int masterIdx = -1, stdinIdx = -1;
    if (masterOpen) {
      masterIdx = n;
      fds[n++] = {masterFd, POLLIN, 0};
    }
    if (stdinOpen) {
      stdinIdx = n;
      fds[n++] = {0, POLLIN, 0};
    }
    if (::poll(fds, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      return sysFail("poll");
    }
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (::read(sfd.get(), &si, sizeof si) == sizeof si) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGCHLD)
          reap();
        else if (sig == SIGWINCH && masterFd >= 0)
          copyWinsize(0, masterFd);
        else
          ::kill(pid, sig);
      }
    }
    if (masterIdx >= 0 && (fds[masterIdx].revents & (POLLIN | POLLHUP))) {
      if (!copyOnce(masterFd, 1)) masterOpen = false;  // the pty hung up: just wait for the exit
    }
    if (stdinIdx >= 0 && (fds[stdinIdx].revents & (POLLIN | POLLHUP))) {
      if (!copyOnce(0, masterFd)) stdinOpen = false;
    }
  }
  if (masterOpen) {
    // Drain what the process wrote before it exited.
    int fl = ::fcntl(masterFd, F_GETFL);
    ::fcntl(masterFd, F_SETFL, fl | O_NONBLOCK);
    while (copyOnce(masterFd, 1)) {
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

}  // namespace berth::runtime
