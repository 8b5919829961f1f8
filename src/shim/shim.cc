// berth-shim: the parent of one container. berthd starts it; it creates the container in-process (libberth-
// runtime, no second runtime binary), holds its stdio or pty, writes its log, reaps it and records its exit,
// and answers berthd over a unix socket (src/runtime/shim_protocol.h). It outlives berthd: a daemon restart
// reconnects to it. Small on purpose: no JSON library, no threads, one poll loop.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "base/fd.h"
#include "base/file.h"
#include "base/log.h"
#include "base/memory.h"
#include "base/self_exe.h"
#include "base/unix_socket.h"
#include "oci/config.h"
#include "runtime/container.h"
#include "runtime/shim_protocol.h"
#include "runtime/state.h"
#include "shim/args.h"
#include "shim/json_log.h"
#include "shim/maker.h"
#include "shim/run.h"
#include "sys/cgroup.h"
#include "sys/tty.h"

namespace berth::shim {
namespace {

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

// A process the shim is the parent of: the container's init, or one started by `exec`.
struct Proc {
  std::string execId;  // empty: the container's init
  pid_t pid = -1;
  bool tty = false;
  bool closeStdinOnEof = false;  // a client's half-close closes the process's stdin
  bool log = false;              // output goes to the json-file log (the init only; docker logs no exec)
  UniqueFd out[3], in;           // out[1] is the pty master with a terminal
  std::string inBuf;
  bool inClosePending = false;
  bool exited = false;
  int code = 0;
  int drainDeadline = 0;
  bool drained() const { return exited && ((!out[1] && !out[2]) || drainDeadline <= 0); }
};

struct Client {
  UniqueFd fd;
  std::string in;
  enum Mode { Command, Attach, Waiting } mode = Command;
  Proc* proc = nullptr;  // the process attached to or waited for
  bool stdinAttached = false;
  bool readClosed = false;
};

void setNonBlocking(int fd) {
  if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

class Shim {
 public:
  Shim(Args a, std::optional<Maker> maker)
      : a_(std::move(a)),
        log_(a_.logPath, a_.logMaxSize, a_.logMaxFiles),
        rt_(a_.runtimeRoot),
        maker_(std::move(maker)) {
    Proc& init = procs_.emplace_back();
    init.tty = a_.tty;
    init.closeStdinOnEof = a_.stdinOnce;
    init.log = true;
  }

  // Creates the container (and starts it with --start); its stdio are ours to hold.
  Result<pid_t> create() {
    TRYV(log_.open());
    Proc& init = procs_.front();
    auto pid = spawnWithStdio(init, a_.stdinOpen, [&](int consoleFd) -> Result<pid_t> {
      if (!maker_) {
        TRY(maker_, Maker::fork());
      }
      auto made = maker_->create(a_.runtimeRoot, a_.id, a_.bundle, consoleFd, a_.startAttaches >= 0);
      maker_.reset();
      return made;
    });
    if (!pid) {
      (void)rt_.remove(a_.id, true);
      return pid;
    }
    init.pid = *pid;
    // The attaches the daemon had when it started the container connect right after: the output waits
    // for them (at most 1 s) instead of the start waiting for their connections.
    if (a_.startAttaches > 0) {
      awaitedAttaches_ = a_.startAttaches;
      holdUntil_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    return init.pid;
  }

  // The daemon went away before it heard of the container: nobody will know of this process, so it
  // ends (run() then reaps it and cleans up as after any exit).
  void abandon() { (void)rt_.kill(a_.id, SIGKILL, true); }

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
    std::vector<pollfd> p;
    std::vector<std::function<void()>> on;
    while (!init().drained()) {
      p.clear();
      on.clear();
      auto watch = [&](int fd, short events, std::function<void()> f) {
        p.push_back({fd, events, 0});
        on.push_back(std::move(f));
      };
      watch(sfd.get(), POLLIN, [&] {
        struct signalfd_siginfo si;
        while (::read(sfd.get(), &si, sizeof si) == sizeof si) {
          Proc& i = init();
          if (si.ssi_signo != SIGCHLD && i.pid > 0 && !i.exited)
            ::kill(i.pid, static_cast<int>(si.ssi_signo));
        }
        reap();
      });
      watch(listen_.get(), POLLIN, [&] { accept(); });
      bool anyExited = false;
      int holdMs = heldMs();
      for (auto& pr : procs_) {
        Proc* q = &pr;
        for (int s = 1; s <= 2; ++s)
          if (pr.out[s] && !(holdMs > 0 && q == &init()))
            watch(pr.out[s].get(), POLLIN, [this, q, s] { output(*q, s); });
        int inFd = pr.tty ? pr.out[1].get() : pr.in.get();
        if (inFd >= 0 && !pr.inBuf.empty()) watch(inFd, POLLOUT, [this, q] { flushStdin(*q); });
        anyExited |= pr.exited;
      }
      for (auto& c : clients_) {
        Client* cl = &c;
        bool wantIn = !c.readClosed && c.fd &&
                      (c.mode != Client::Attach || !c.proc || c.proc->inBuf.size() < (1 << 16));
        if (wantIn) watch(c.fd.get(), POLLIN, [this, cl] { clientInput(*cl); });
      }
      // 100 ms after the last request, what served it goes back (see releaseResidentMemory): a shim
      // lives as long as its container and is idle nearly all of that time.
      auto upTo = [&](int ms) { return holdMs <= 0 ? ms : ms < 0 ? holdMs : std::min(ms, holdMs); };
      int n = ::poll(p.data(), p.size(), upTo(anyExited ? 50 : releaseDue_ ? 100 : -1));
      if (n == 0 && !anyExited && releaseDue_) {
        releaseDue_ = false;
        (void)releaseResidentMemory();
        n = ::poll(p.data(), p.size(), upTo(-1));  // at once: what runs in between faults its pages back
      }
      if (n < 0 && errno != EINTR) break;
      if (n == 0 && holdMs <= 0)  // nothing more comes: stop waiting for the exited processes' last output
        for (auto& pr : procs_)
          if (pr.exited) pr.drainDeadline -= 1;
      if (n > 0)
        for (size_t i = 0; i < p.size(); ++i)
          if (p[i].revents) on[i]();
      // Finished execs: their streams end, their waiters learn the exit code.
      for (auto it = std::next(procs_.begin()); it != procs_.end();) {
        if (!it->drained()) {
          ++it;
          continue;
        }
        endProc(*it);
        it = procs_.erase(it);
      }
      clients_.remove_if([](const Client& c) { return !c.fd; });
    }
    finish();
    return 0;
  }

 private:
  Proc& init() { return procs_.front(); }

  // Gives a new process pipes (or a pty) as stdio and runs `start`, which creates it and returns its pid;
  // the process inherits our fds 0-2, which go back to /dev/null afterwards.
  template <class F>
  Result<pid_t> spawnWithStdio(Proc& pr, bool withStdin, F start) {
    UniqueFd ours, theirs;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (pr.tty) {
      int sp[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) return sysFail("socketpair");
      ours.reset(sp[0]);
      theirs.reset(sp[1]);
    } else {
      if (::pipe2(pout, O_CLOEXEC) < 0) return sysFail("pipe");
      if (::pipe2(perr, O_CLOEXEC) < 0) {
        ::close(pout[0]), ::close(pout[1]);
        return sysFail("pipe");
      }
      if (withStdin && ::pipe2(pin, O_CLOEXEC) < 0) {
        ::close(pout[0]), ::close(pout[1]), ::close(perr[0]), ::close(perr[1]);
        return sysFail("pipe");
      }
      if (pin[0] >= 0) ::dup2(pin[0], 0);
      ::dup2(pout[1], 1);
      ::dup2(perr[1], 2);
      if (pin[0] >= 0) ::close(pin[0]);
      ::close(pout[1]);
      ::close(perr[1]);
      pr.out[1].reset(pout[0]);
      pr.out[2].reset(perr[0]);
      if (pin[1] >= 0) pr.in.reset(pin[1]);
    }
    Result<pid_t> pid = start(theirs ? theirs.get() : -1);
    // Our own stdio go back to /dev/null (errors are reported over the ready fd and the socket).
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; i < 3; ++i) ::dup2(null, i);
    ::close(null);
    if (!pid) {
      pr.out[1].reset(), pr.out[2].reset(), pr.in.reset();
      return std::unexpected(pid.error());
    }
    if (pr.tty) {
      theirs.reset();
      auto m = sys::tty::recvFd(ours.get(), false);
      if (!m) {
        ::kill(*pid, SIGKILL);
        return std::unexpected(m.error().context("receiving the terminal"));
      }
      pr.out[1] = std::move(*m);
    }
    for (auto& o : pr.out) setNonBlocking(o.get());
    setNonBlocking(pr.in.get());
    return *pid;
  }

  void reap() {
    for (;;) {
      int st;
      pid_t r = ::waitpid(-1, &st, WNOHANG);
      if (r <= 0) return;
      for (auto& pr : procs_) {
        if (pr.pid != r || pr.exited) continue;
        pr.exited = true;
        pr.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        pr.drainDeadline = 20;  // up to ~1 s of 50 ms polls without output, for the last bytes
        if (&pr == &init()) finishedAt_ = log::nowRfc3339();
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

  void output(Proc& pr, int stream) {
    char buf[32768];
    for (;;) {
      ssize_t n = ::read(pr.out[stream].get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {  // EOF (or EIO from a pty whose last holder closed it)
        pr.out[stream].reset();
        return;
      }
      if (pr.log) log_.write(stream, buf, static_cast<size_t>(n));
      unsigned char hdr[runtime::shim::kFrameHeader] = {static_cast<unsigned char>(stream), 0, 0, 0};
      uint32_t len = static_cast<uint32_t>(n);
      hdr[4] = static_cast<unsigned char>(len >> 24);
      hdr[5] = static_cast<unsigned char>(len >> 16);
      hdr[6] = static_cast<unsigned char>(len >> 8);
      hdr[7] = static_cast<unsigned char>(len);
      for (auto& c : clients_) {
        if (c.mode != Client::Attach || c.proc != &pr || !c.fd) continue;
        if (!sendAll(c.fd.get(), hdr, sizeof hdr) || !sendAll(c.fd.get(), buf, static_cast<size_t>(n)))
          c.fd.reset();
      }
    }
  }

  void flushStdin(Proc& pr) {
    if (pr.tty) return writeTty(pr);
    while (pr.in && !pr.inBuf.empty()) {
      ssize_t n = ::write(pr.in.get(), pr.inBuf.data(), pr.inBuf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n < 0) {  // the process closed its stdin
        pr.inBuf.clear();
        pr.in.reset();
        return;
      }
      pr.inBuf.erase(0, static_cast<size_t>(n));
    }
    if (pr.inClosePending && pr.inBuf.empty()) pr.in.reset();
  }

  void writeTty(Proc& pr) {
    // The pty master is both input and output: write what it takes now, keep the rest.
    while (!pr.inBuf.empty() && pr.out[1]) {
      ssize_t n = ::write(pr.out[1].get(), pr.inBuf.data(), pr.inBuf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      pr.inBuf.erase(0, static_cast<size_t>(n));
    }
    if (pr.inClosePending && pr.inBuf.empty() && pr.out[1]) {
      // A terminal has no half-close: EOF is the terminal's end-of-file character.
      char eot = 4;
      (void)!::write(pr.out[1].get(), &eot, 1);
      pr.inClosePending = false;
    }
  }

  void closeStdin(Proc& pr) {
    pr.inClosePending = true;
    flushStdin(pr);
  }

  void input(Proc& pr, const char* data, size_t n) {
    if (!pr.tty && !pr.in) return;
    pr.inBuf.append(data, n);
    flushStdin(pr);
  }

  void clientInput(Client& c) {
    char buf[32768];
    ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      c.readClosed = true;
      if (c.mode == Client::Attach && c.stdinAttached && c.proc && c.proc->closeStdinOnEof)
        closeStdin(*c.proc);
      if (c.mode != Client::Attach) c.fd.reset();
      return;
    }
    if (c.mode == Client::Attach) {
      if (c.stdinAttached && c.proc) input(*c.proc, buf, static_cast<size_t>(n));
      return;
    }
    c.in.append(buf, static_cast<size_t>(n));
    size_t nl = c.in.find('\n');
    if (nl == std::string::npos) {
      if (c.in.size() > runtime::shim::kMaxRequest) c.fd.reset();
      return;
    }
    std::string line = c.in.substr(0, nl);
    std::string rest = c.in.substr(nl + 1);
    c.in.clear();
    command(c, line, rest);
  }

  runtime::shim::Exit exitOf() const {
    return {.code = procs_.front().code, .oom = oom_, .finishedAt = finishedAt_};
  }

  Proc* findExec(const std::string& execId) {
    for (auto& pr : procs_)
      if (!pr.execId.empty() && pr.execId == execId) return &pr;
    return nullptr;
  }

  void attachClient(Client& c, Proc& pr, bool withStdin, const std::string& rest) {
    c.mode = Client::Attach;
    c.proc = &pr;
    c.stdinAttached = withStdin && (pr.in || pr.tty);
    if (!rest.empty() && c.stdinAttached) input(pr, rest.data(), rest.size());
  }

  // exec <id> <stdin 0|1>: runs <bundle>/exec-<id>.json (an OCI process) in the container.
  Result<pid_t> exec(const std::string& execId, bool withStdin) {
    if (init().exited) return fail(ErrorCategory::Conflict, "the container is not running");
    if (findExec(execId) || execDone_.count(execId)) return invalid("exec " + execId + " already ran");
    std::string path = a_.bundle + "/exec-" + execId + ".json";
    auto text = readFile(path);
    ::unlink(path.c_str());
    if (!text) return std::unexpected(text.error());
    runtime::ExecOptions eo;
    eo.id = a_.id;
    TRY(eo.process, oci::parseProcess(*text));
    Proc& pr = procs_.emplace_back();
    pr.execId = execId;
    pr.tty = eo.process.terminal;
    pr.closeStdinOnEof = true;
    auto pid = spawnWithStdio(pr, withStdin, [&](int consoleFd) {
      eo.consoleSocketFd = consoleFd;
      return inChild([&] { return rt_.exec(eo); });
    });
    if (!pid) {
      procs_.pop_back();
      return pid;
    }
    pr.pid = *pid;
    return *pid;
  }

  void endProc(Proc& pr) {
    execDone_[pr.execId] = pr.code;
    execOrder_.push_back(pr.execId);
    while (execOrder_.size() > 1024) execDone_.erase(execOrder_.front()), execOrder_.pop_front();
    for (auto& c : clients_) {
      if (c.proc != &pr) continue;
      if (c.mode == Client::Waiting && c.fd)
        sendLine(c.fd.get(), runtime::shim::exitLine(runtime::shim::execExit(pr.code)));
      c.fd.reset();
      c.proc = nullptr;
    }
  }

  void command(Client& c, const std::string& line, const std::string& rest) {
    using Kind = runtime::shim::Request::Kind;
    namespace proto = runtime::shim;
    releaseDue_ = true;
    auto answer = [&](const std::string& text) {
      sendLine(c.fd.get(), text);
      c.fd.reset();
    };
    auto reply = [&](const Result<void>& r) {
      answer(r ? proto::okLine() : proto::errLine(r.error().message()));
    };
    auto req = proto::decodeRequest(line);
    if (!req) return reply(std::unexpected(req.error()));
    const std::string& execId = req->execId;
    switch (req->kind) {
      case Kind::Attach:
        if (awaitedAttaches_ > 0) --awaitedAttaches_;
        if (!sendLine(c.fd.get(), proto::okLine())) return c.fd.reset();
        return attachClient(c, init(), req->stdin, rest);
      case Kind::Wait:
        c.mode = Client::Waiting;
        return;
      case Kind::State:
        return answer(proto::encode(stateOf(init())));
      case Kind::Kill:
        if (init().exited) return reply({});
        return reply(rt_.kill(a_.id, req->signal, req->all));
      case Kind::Resize:
        return reply(resize(init(), req->rows, req->cols));
      case Kind::Pause:
        return reply(rt_.pause(a_.id));
      case Kind::Resume:
        return reply(rt_.resume(a_.id));
      case Kind::CloseStdin:
        closeStdin(init());
        return reply({});
      case Kind::Exec: {
        auto pid = exec(execId, req->stdin);
        if (!pid) return reply(std::unexpected(pid.error()));
        if (!sendLine(c.fd.get(), proto::okLine(std::to_string(*pid)))) return c.fd.reset();
        return attachClient(c, procs_.back(), req->stdin, rest);
      }
      case Kind::ExecState:
        if (auto it = execDone_.find(execId); it != execDone_.end())
          return answer(
              proto::encode(proto::State{.running = false, .pid = 0, .exit = proto::execExit(it->second)}));
        if (Proc* pr = findExec(execId)) return answer(proto::encode(stateOf(*pr)));
        return answer(proto::errLine("no such exec: " + execId));
      case Kind::ExecWait:
        if (auto it = execDone_.find(execId); it != execDone_.end())
          return answer(proto::exitLine(proto::execExit(it->second)));
        if (Proc* pr = findExec(execId)) {
          c.mode = Client::Waiting;
          c.proc = pr;
          return;
        }
        return reply(invalid("no such exec: " + execId));
      case Kind::ExecResize: {
        Proc* pr = findExec(execId);
        if (!pr) return reply(invalid("no such exec: " + execId));
        return reply(resize(*pr, req->rows, req->cols));
      }
      case Kind::Update: {
        auto res = oci::parseResources(req->resources);
        if (!res) return reply(std::unexpected(res.error()));
        return reply(rt_.update(a_.id, *res));
      }
      case Kind::Processes: {
        auto pids = rt_.processes(a_.id);
        if (!pids) return reply(std::unexpected(pids.error()));
        return answer(proto::okLine(proto::encodePids(std::vector<int>(pids->begin(), pids->end()))));
      }
      case Kind::Stats: {
        auto s = usage();
        if (!s) return reply(std::unexpected(s.error()));
        return answer(proto::okLine(proto::encode(*s)));
      }
    }
  }

  // The container's cgroup counters (docker stats).
  Result<sys::cgroup::Stats> usage() {
    TRY(runtime::State st, rt_.store().load(a_.id));
    TRY(auto cg, runtime::cgroupOf(st));
    if (!cg) return fail(ErrorCategory::Unavailable, "the container has no cgroup");
    return cg->stats();
  }

  // The init's state carries its exit as the exit file has it; an exec's only its code.
  runtime::shim::State stateOf(Proc& pr) {
    runtime::shim::State st;
    st.running = !pr.exited;
    st.pid = pr.pid;
    if (pr.exited) st.exit = &pr == &init() ? exitOf() : runtime::shim::execExit(pr.code);
    return st;
  }

  Result<void> resize(Proc& pr, unsigned rows, unsigned cols) {
    if (!pr.tty || !pr.out[1]) return invalid("the process has no terminal");
    int r = sys::tty::setSize(pr.out[1].get(), rows, cols);
    return r < 0 ? sysFail("resizing the terminal") : Result<void>{};
  }

  void finish() {
    log_.flush();
    // OOM kills are counted by the cgroup, which goes with the runtime's state.
    if (auto st = rt_.store().load(a_.id)) {
      if (auto cg = runtime::cgroupOf(*st); cg && *cg)
        if (auto n = (*cg)->oomKills(); n && *n > 0) oom_ = true;
    }
    // The exec root is /run: the rename is atomic against a kill; the status means nothing after a reboot.
    (void)replaceFile(a_.exitFile, runtime::shim::encode(exitOf()) + "\n", 0600);
    // Execs die with the container's pid namespace: SIGKILL, as docker reports them.
    for (auto it = std::next(procs_.begin()); it != procs_.end(); ++it) {
      if (!it->exited) it->code = 128 + SIGKILL;
      endProc(*it);
    }
    // The status goes out before the clean-up (cgroups, runtime state), which no one waiting for the
    // exit needs; a waiter's connection stays open until it is done, so that the daemon starts no new
    // shim for this container before this one is gone.
    for (auto& c : clients_) {
      if (!c.fd) continue;
      if (c.mode == Client::Waiting)
        sendLine(c.fd.get(), runtime::shim::exitLine(exitOf()));
      else
        c.fd.reset();
    }
    (void)rt_.remove(a_.id, true);
    ::unlink(a_.socket.c_str());
    clients_.clear();
  }

  Args a_;
  JsonLog log_;
  runtime::Runtime rt_;
  std::optional<Maker> maker_;  // makes the container (forked ahead by a waiting shim)
  std::list<Proc> procs_;       // the init first, then running execs
  std::map<std::string, int> execDone_;
  std::deque<std::string> execOrder_;
  UniqueFd listen_;
  std::list<Client> clients_;
  // Milliseconds the init's output is still held for attaches that were announced and have not connected
  // (0: not held).
  int heldMs() {
    if (awaitedAttaches_ <= 0) return 0;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(holdUntil_ - std::chrono::steady_clock::now());
    if (left.count() <= 0) awaitedAttaches_ = 0;
    return awaitedAttaches_ > 0 ? static_cast<int>(left.count()) + 1 : 0;
  }

  bool oom_ = false;
  int awaitedAttaches_ = 0;
  std::chrono::steady_clock::time_point holdUntil_;
  bool releaseDue_ = true;  // memory to give back once idle (after creating the container, a request)
  std::string finishedAt_;
};

}  // namespace

int run(int argc, char** argv) {
  bool standby = argc >= 2 && std::string_view(argv[1]) == "--standby";
  Args a;
  if (standby)
    a.readyFd = 3;
  else
    a = parseArgs(argc, argv);
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
  // The command line's memory, which ps shows.
  std::span<char> title(argv[0], static_cast<size_t>(argv[argc - 1] + std::strlen(argv[argc - 1]) - argv[0]));
  std::optional<Maker> maker;
  if (standby) {
    // Found once per process and needed by both: the maker creates the container's cgroups, we remove
    // them at its exit.
    (void)sys::cgroup::detect();
    // --standby --stage-cgroup PARENT: on a cgroup v1 host the maker waits in a cgroup staged under the
    // containers' parent, which becomes the container's (see sys::cgroup::stageV1).
    std::string stageParent = argc >= 4 && std::string_view(argv[2]) == "--stage-cgroup" ? argv[3] : "";
    if (auto m = Maker::fork(title, stageParent)) maker = std::move(*m);  // else forked when needed
    mapProgramAhead();  // the start, the exit and the clean-up run code this process has not run yet
    std::vector<std::string> words = awaitAssignment();
    std::vector<char*> av = {argv[0]};
    for (auto& w : words) av.push_back(w.data());
    a = parseArgs(static_cast<int>(av.size()), av.data());
    a.readyFd = 3;
    // What ps shows: the arguments in place of "--standby" and the padding berthd gave for them (the
    // command line is this process's argument memory), as a shim started with them would show.
    std::string shown = "berth-shim";
    for (auto& w : words) shown += std::string(1, '\0') + w;
    if (shown.size() >= title.size())
      shown = std::string("berth-shim") + '\0' + "--id" + '\0' + a.id + '\0' + "--runtime-root" + '\0' +
              a.runtimeRoot;
    if (shown.size() < title.size()) {
      std::memcpy(title.data(), shown.data(), shown.size());
      std::memset(title.data() + shown.size(), 0, title.size() - shown.size());
    }
    // Made ahead at the daemon's background priority; the container inherits ours.
    (void)::setpriority(PRIO_PROCESS, 0, 0);
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  UniqueFd ready(a.readyFd);
  auto report = [&](const std::string& line) {
    bool heard = true;
    if (ready) {
      std::string l = line + "\n";
      heard = ::write(ready.get(), l.data(), l.size()) == static_cast<ssize_t>(l.size());
      ready.reset();
    }
    return heard;
  };
  Shim s(a, std::move(maker));
  if (auto r = s.listen(); !r) {
    report(runtime::shim::errLine(r.error().message()));
    return 1;
  }
  auto pid = s.create();
  if (!pid) {
    ::unlink(a.socket.c_str());
    report(runtime::shim::errLine(pid.error().message()));
    return 1;
  }
  if (!report(runtime::shim::okLine(std::to_string(*pid)))) s.abandon();
  return s.run();
}

}  // namespace berth::shim
