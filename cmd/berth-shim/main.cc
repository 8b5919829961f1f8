// berth-shim: the parent of one container. berthd starts it; it creates the container in-process (libberth-
// runtime, no second runtime binary), holds its stdio or pty, writes its log, reaps it and records its exit,
// and answers berthd over a unix socket (src/runtime/shim_protocol.h). It outlives berthd: a daemon restart
// reconnects to it. Small on purpose: no JSON library, no threads, one poll loop.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <list>
#include <string>

#include "base/fd.h"
#include "base/file.h"
#include "base/log.h"
#include "base/self_exe.h"
#include "base/unix_socket.h"
#include "json_log.h"
#include "runtime/container.h"
#include "runtime/shim_protocol.h"
#include "sys/cgroup.h"
#include "sys/tty.h"

namespace berth::shim {
namespace {

struct Args {
  std::string id, bundle, runtimeRoot, socket, exitFile, logPath;
  int64_t logMaxSize = 20 << 20;
  int logMaxFiles = 5;
  bool tty = false, stdinOpen = false, stdinOnce = false;
  int readyFd = -1;
};

[[noreturn]] void usageExit(const char* msg) {
  std::fprintf(stderr, "berth-shim: %s\n", msg);
  std::fprintf(stderr,
               "usage: berth-shim --id ID --bundle DIR --runtime-root DIR --socket PATH --exit-file PATH "
               "--log PATH [--log-max-size BYTES] [--log-max-file N] [--tty] [--stdin] [--stdin-once] "
               "[--ready FD]\n");
  std::exit(2);
}

Args parseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usageExit(("missing value for " + k).c_str());
      return argv[++i];
    };
    if (k == "--id")
      a.id = val();
    else if (k == "--bundle")
      a.bundle = val();
    else if (k == "--runtime-root")
      a.runtimeRoot = val();
    else if (k == "--socket")
      a.socket = val();
    else if (k == "--exit-file")
      a.exitFile = val();
    else if (k == "--log")
      a.logPath = val();
    else if (k == "--log-max-size")
      a.logMaxSize = std::atoll(val().c_str());
    else if (k == "--log-max-file")
      a.logMaxFiles = std::atoi(val().c_str());
    else if (k == "--ready")
      a.readyFd = std::atoi(val().c_str());
    else if (k == "--tty")
      a.tty = true;
    else if (k == "--stdin")
      a.stdinOpen = true;
    else if (k == "--stdin-once")
      a.stdinOnce = true;
    else
      usageExit(("unknown argument " + k).c_str());
  }
  if (a.id.empty() || a.bundle.empty() || a.runtimeRoot.empty() || a.socket.empty() || a.exitFile.empty() ||
      a.logPath.empty())
    usageExit("--id, --bundle, --runtime-root, --socket, --exit-file and --log are required");
  return a;
}

bool sendAll(int fd, const void* data, size_t len) {
  auto* p = static_cast<const char*>(data);
  while (len) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n, len -= static_cast<size_t>(n);
  }
  return true;
}

bool sendLine(int fd, const std::string& s) {
  std::string line = s + "\n";
  return sendAll(fd, line.data(), line.size());
}

struct Client {
  UniqueFd fd;
  std::string in;
  enum Mode { Command, Attach, Waiting } mode = Command;
  bool stdinAttached = false;
  bool readClosed = false;
};

class Shim {
 public:
  explicit Shim(Args a)
      : a_(std::move(a)), log_(a_.logPath, a_.logMaxSize, a_.logMaxFiles), rt_(a_.runtimeRoot) {}

  // Creates the container (not started); its stdio are ours to hold.
  Result<pid_t> create() {
    TRYV(log_.open());
    runtime::CreateOptions co;
    co.id = a_.id;
    co.bundle = a_.bundle;
    UniqueFd ours, theirs;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (a_.tty) {
      int sp[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) return sysFail("socketpair");
      ours.reset(sp[0]);
      theirs.reset(sp[1]);
      co.consoleSocketFd = theirs.get();
    } else {
      if (::pipe2(pout, O_CLOEXEC) < 0 || ::pipe2(perr, O_CLOEXEC) < 0) return sysFail("pipe");
      if (a_.stdinOpen && ::pipe2(pin, O_CLOEXEC) < 0) return sysFail("pipe");
      // The container inherits our 0, 1 and 2.
      if (pin[0] >= 0) ::dup2(pin[0], 0);
      ::dup2(pout[1], 1);
      ::dup2(perr[1], 2);
      if (pin[0] >= 0) ::close(pin[0]);
      ::close(pout[1]);
      ::close(perr[1]);
      out_[1].reset(pout[0]);
      out_[2].reset(perr[0]);
      if (pin[1] >= 0) stdin_.reset(pin[1]);
    }
    auto pid = rt_.create(co);
    // Our own stdio go back to /dev/null (errors are reported over the ready fd and the socket).
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; i < 3; ++i) ::dup2(null, i);
    ::close(null);
    if (!pid) return std::unexpected(pid.error());
    pid_ = *pid;
    if (a_.tty) {
      theirs.reset();
      auto m = sys::tty::recvFd(ours.get(), false);
      if (!m) {
        (void)rt_.remove(a_.id, true);
        return std::unexpected(m.error().context("receiving the container's terminal"));
      }
      out_[1] = std::move(*m);
    }
    for (auto& o : out_)
      if (o) ::fcntl(o.get(), F_SETFL, ::fcntl(o.get(), F_GETFL) | O_NONBLOCK);
    if (stdin_) ::fcntl(stdin_.get(), F_SETFL, ::fcntl(stdin_.get(), F_GETFL) | O_NONBLOCK);
    return pid_;
  }

  Result<void> listen() {
    TRY(listen_, listenUnixSocket(a_.socket, 0600, 64));
    return {};
  }

  int run() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    UniqueFd sfd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    reap();  // an exit before the signalfd existed
    while (!finished()) {
      std::vector<pollfd> p;
      p.push_back({sfd.get(), POLLIN, 0});
      p.push_back({listen_.get(), POLLIN, 0});
      for (int s = 1; s <= 2; ++s) p.push_back({out_[s].get(), POLLIN, 0});
      p.push_back({stdin_ && !stdinBuf_.empty() ? stdin_.get() : -1, POLLOUT, 0});
      size_t first = p.size();
      for (auto& c : clients_) {
        bool wantIn = !c.readClosed && (c.mode != Client::Attach || stdinBuf_.size() < (1 << 16));
        p.push_back({wantIn ? c.fd.get() : -1, static_cast<short>(wantIn ? POLLIN : 0), 0});
      }
      int timeout = exited_ ? 50 : -1;
      int n = ::poll(p.data(), p.size(), timeout);
      if (n < 0 && errno != EINTR) break;
      if (exited_ && n == 0) drainDeadline_ -= 1;  // nothing more comes: stop waiting for EOF
      if (p[0].revents) {
        struct signalfd_siginfo si;
        while (::read(sfd.get(), &si, sizeof si) == sizeof si) {
          if (si.ssi_signo != SIGCHLD && pid_ > 0 && !exited_) ::kill(pid_, static_cast<int>(si.ssi_signo));
        }
        reap();
      }
      if (p[1].revents & POLLIN) accept();
      for (int s = 1; s <= 2; ++s)
        if (p[1 + static_cast<size_t>(s)].revents) output(s);
      if (p[4].revents) flushStdin();
      size_t i = first;
      for (auto it = clients_.begin(); it != clients_.end(); ++i) {
        auto cur = it++;
        if (i < p.size() && p[i].revents) clientInput(cur);
      }
      clients_.remove_if([](const Client& c) { return !c.fd; });
    }
    finish();
    return 0;
  }

 private:
  bool finished() const {
    if (!exited_) return false;
    bool open = out_[1] || out_[2];
    return !open || drainDeadline_ <= 0;
  }

  void reap() {
    for (;;) {
      int st;
      pid_t r = ::waitpid(-1, &st, WNOHANG);
      if (r <= 0) return;
      if (r == pid_ && !exited_) {
        exited_ = true;
        code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        finishedAt_ = log::nowRfc3339();
        drainDeadline_ = 20;  // up to ~1 s of 50 ms polls without output, for the last bytes
      }
    }
  }

  void accept() {
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    Client c;
    c.fd.reset(fd);
    clients_.push_back(std::move(c));
  }

  void output(int stream) {
    char buf[32768];
    for (;;) {
      ssize_t n = ::read(out_[stream].get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {  // EOF (or EIO from a pty whose last holder closed it)
        out_[stream].reset();
        return;
      }
      log_.write(stream, buf, static_cast<size_t>(n));
      unsigned char hdr[runtime::shim::kFrameHeader] = {static_cast<unsigned char>(stream), 0, 0, 0};
      uint32_t len = static_cast<uint32_t>(n);
      hdr[4] = static_cast<unsigned char>(len >> 24);
      hdr[5] = static_cast<unsigned char>(len >> 16);
      hdr[6] = static_cast<unsigned char>(len >> 8);
      hdr[7] = static_cast<unsigned char>(len);
      for (auto& c : clients_) {
        if (c.mode != Client::Attach || !c.fd) continue;
        if (!sendAll(c.fd.get(), hdr, sizeof hdr) || !sendAll(c.fd.get(), buf, static_cast<size_t>(n)))
          c.fd.reset();
      }
    }
  }

  void flushStdin() {
    while (stdin_ && !stdinBuf_.empty()) {
      ssize_t n = ::write(stdin_.get(), stdinBuf_.data(), stdinBuf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n < 0) {  // the container closed its stdin
        stdinBuf_.clear();
        stdin_.reset();
        return;
      }
      stdinBuf_.erase(0, static_cast<size_t>(n));
    }
    if (stdinClosePending_ && stdinBuf_.empty()) {
      stdin_.reset();
      if (a_.tty) closeTtyInput();
    }
  }

  void closeTtyInput() {
    // A terminal has no half-close: EOF is the terminal's end-of-file character.
    if (out_[1]) {
      char eot = 4;
      (void)!::write(out_[1].get(), &eot, 1);
    }
  }

  void closeStdin() {
    stdinClosePending_ = true;
    flushStdin();
  }

  void clientInput(std::list<Client>::iterator c) {
    char buf[32768];
    ssize_t n = ::recv(c->fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      c->readClosed = true;
      if (c->mode == Client::Attach && c->stdinAttached && a_.stdinOnce) closeStdin();
      if (c->mode == Client::Command) c->fd.reset();
      if (c->mode == Client::Waiting) c->fd.reset();
      return;
    }
    if (c->mode == Client::Attach) {
      if (!c->stdinAttached) return;
      if (a_.tty) {
        if (out_[1]) stdinBuf_.append(buf, static_cast<size_t>(n)), writeTty();
      } else if (stdin_) {
        stdinBuf_.append(buf, static_cast<size_t>(n));
        flushStdin();
      }
      return;
    }
    c->in.append(buf, static_cast<size_t>(n));
    size_t nl = c->in.find('\n');
    if (nl == std::string::npos) {
      if (c->in.size() > 4096) c->fd.reset();
      return;
    }
    std::string line = c->in.substr(0, nl);
    std::string rest = c->in.substr(nl + 1);
    c->in.clear();
    command(*c, line, rest);
  }

  void writeTty() {
    // The pty master is both our input and output: write what it takes now, keep the rest.
    while (!stdinBuf_.empty() && out_[1]) {
      ssize_t n = ::write(out_[1].get(), stdinBuf_.data(), stdinBuf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      stdinBuf_.erase(0, static_cast<size_t>(n));
    }
  }

  std::string exitLine() const {
    return std::to_string(code_) + " " + (oom_ ? "1" : "0") + " " + finishedAt_;
  }

  void command(Client& c, const std::string& line, const std::string& rest) {
    std::vector<std::string> w = split(line, ' ');
    const std::string& verb = w.empty() ? line : w[0];
    auto reply = [&](const Result<void>& r) {
      sendLine(c.fd.get(), r ? "ok" : "err " + r.error().message());
      c.fd.reset();
    };
    if (verb == "attach") {
      c.mode = Client::Attach;
      c.stdinAttached = w.size() > 1 && w[1] == "1" && (stdin_ || a_.tty);
      if (!sendLine(c.fd.get(), "ok")) c.fd.reset();
      if (!rest.empty() && c.stdinAttached) {
        stdinBuf_ += rest;
        if (a_.tty)
          writeTty();
        else
          flushStdin();
      }
    } else if (verb == "wait") {
      c.mode = Client::Waiting;
    } else if (verb == "state") {
      sendLine(c.fd.get(), exited_ ? "exited " + exitLine() : "running " + std::to_string(pid_));
      c.fd.reset();
    } else if (verb == "start") {
      reply(rt_.start(a_.id));
    } else if (verb == "kill" && w.size() >= 2) {
      if (exited_) return reply({});
      reply(rt_.kill(a_.id, std::atoi(w[1].c_str()), w.size() > 2 && w[2] == "all"));
    } else if (verb == "resize" && w.size() == 3) {
      if (!a_.tty || !out_[1]) return reply(invalid("the container has no terminal"));
      int r = sys::tty::setSize(out_[1].get(), static_cast<unsigned>(std::atoi(w[1].c_str())),
                                static_cast<unsigned>(std::atoi(w[2].c_str())));
      reply(r < 0 ? sysFail("resizing the terminal") : Result<void>{});
    } else if (verb == "pause") {
      reply(rt_.pause(a_.id));
    } else if (verb == "resume") {
      reply(rt_.resume(a_.id));
    } else if (verb == "close-stdin") {
      closeStdin();
      reply({});
    } else {
      reply(invalid("unknown request: " + line));
    }
  }

  void finish() {
    log_.flush();
    // OOM kills are counted by the cgroup, which goes with the runtime's state.
    if (auto st = rt_.store().load(a_.id)) {
      if (auto cg = runtime::cgroupOf(*st); cg && *cg)
        if (auto stats = (*cg)->stats(); stats && stats->oomKills > 0) oom_ = true;
    }
    (void)rt_.remove(a_.id, true);
    (void)writeFileAtomic(a_.exitFile, exitLine() + "\n", 0600);
    for (auto& c : clients_) {
      if (!c.fd) continue;
      if (c.mode == Client::Waiting) sendLine(c.fd.get(), "exit " + exitLine());
      c.fd.reset();
    }
    ::unlink(a_.socket.c_str());
  }

  Args a_;
  JsonLog log_;
  runtime::Runtime rt_;
  pid_t pid_ = -1;
  UniqueFd out_[3], stdin_, listen_;
  std::string stdinBuf_;
  bool stdinClosePending_ = false;
  std::list<Client> clients_;
  bool exited_ = false, oom_ = false;
  int code_ = 0;
  int drainDeadline_ = 0;
  std::string finishedAt_;
};

}  // namespace
}  // namespace berth::shim

int main(int argc, char** argv) {
  using namespace berth;
  shim::Args a = shim::parseArgs(argc, argv);
  // Nothing of the daemon's leaks into the container: keep 0-2 and the ready fd (as 3, close-on-exec).
  if (a.readyFd >= 0 && a.readyFd != 3) {
    ::dup2(a.readyFd, 3);
    a.readyFd = 3;
  }
  ::close_range(a.readyFd >= 0 ? 4 : 3, ~0U, 0);
  ensureReadOnlySelf(argv, environ);  // may re-execute us: the ready fd must survive that
  if (a.readyFd >= 0) ::fcntl(3, F_SETFD, FD_CLOEXEC);
  ::signal(SIGPIPE, SIG_IGN);
  // Out of berthd's way: our own session, reparented when berthd's child (this process) exits.
  if (pid_t p = ::fork(); p < 0) {
    return 1;
  } else if (p > 0) {
    return 0;
  }
  ::setsid();
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  UniqueFd ready(a.readyFd);
  auto report = [&](const std::string& line) {
    if (ready) {
      std::string l = line + "\n";
      (void)!::write(ready.get(), l.data(), l.size());
      ready.reset();
    }
  };
  shim::Shim s(a);
  if (auto r = s.listen(); !r) {
    report("err " + r.error().message());
    return 1;
  }
  auto pid = s.create();
  if (!pid) {
    ::unlink(a.socket.c_str());
    report("err " + pid.error().message());
    return 1;
  }
  report("ok " + std::to_string(*pid));
  return s.run();
}
