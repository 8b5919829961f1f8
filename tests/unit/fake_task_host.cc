#include "fake_task_host.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "base/file.h"
#include "base/log.h"
#include "base/unix_socket.h"
#include "snapshot/copy.h"

namespace berth::test {

namespace proto = runtime::shim;

namespace {

void sendLine(int fd, const std::string& line) {
  std::string s = line + "\n";
  (void)::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
}

// One request line, read within a second (the engine sends it as soon as it connects).
std::string readRequest(int fd) {
  std::string line;
  char c;
  while (line.size() < proto::kMaxRequest) {
    struct pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) break;
    if (::read(fd, &c, 1) != 1 || c == '\n') break;
    line += c;
  }
  return line;
}

}  // namespace

FakeShim::FakeShim(shim::Args args, int pid) : args_(std::move(args)), pid_(pid) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0) wakeRead_.reset(p[0]), wakeWrite_.reset(p[1]);
  if (auto l = listenUnixSocket(args_.socket, 0600)) listen_ = std::move(*l);
  thread_ = std::thread([this] { serve(); });
}

FakeShim::~FakeShim() {
  {
    std::lock_guard lock(mu_);
    if (!exited_) exitLocked(128 + SIGKILL, false);
  }
  (void)!::write(wakeWrite_.get(), "x", 1);
  thread_.join();
}

void FakeShim::exit(int code, bool oom) {
  std::lock_guard lock(mu_);
  if (exited_) return;
  exitLocked(code, oom);
  (void)!::write(wakeWrite_.get(), "x", 1);
}

void FakeShim::ignore(int sig) {
  std::lock_guard lock(mu_);
  ignored_.insert(sig);
}

bool FakeShim::exited() {
  std::lock_guard lock(mu_);
  return exited_;
}

std::vector<int> FakeShim::signals() {
  std::lock_guard lock(mu_);
  return signals_;
}

std::vector<proto::Request::Kind> FakeShim::requests() {
  std::lock_guard lock(mu_);
  return requests_;
}

bool FakeShim::awaitGone() {
  std::unique_lock lock(mu_);
  return gone_.wait_for(lock, std::chrono::seconds(5), [&] { return finished_; });
}

void FakeShim::serve() {
  for (;;) {
    struct pollfd p[2] = {{listen_.get(), POLLIN, 0}, {wakeRead_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (p[1].revents) {
      char buf[16];
      while (::read(wakeRead_.get(), buf, sizeof buf) > 0) {
      }
    }
    if (p[0].revents & POLLIN) {
      UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (conn) handle(std::move(conn));
    }
    std::lock_guard lock(mu_);
    if (exited_) {
      finishLocked();
      return;
    }
  }
}

void FakeShim::handle(UniqueFd conn) {
  auto req = proto::decodeRequest(readRequest(conn.get()));
  std::lock_guard lock(mu_);
  if (!req) return sendLine(conn.get(), proto::errLine(req.error().message()));
  requests_.push_back(req->kind);
  using K = proto::Request::Kind;
  switch (req->kind) {
    case K::Wait:
      if (exited_) return sendLine(conn.get(), proto::exitLine(exit_));
      waiters_.push_back(std::move(conn));
      return;
    case K::Attach:
      sendLine(conn.get(), proto::okLine());
      streams_.push_back(std::move(conn));  // no output: the stream ends at the exit
      return;
    case K::State: {
      proto::State s;
      s.running = !exited_, s.pid = pid_, s.exit = exit_;
      return sendLine(conn.get(), proto::okLine(proto::encode(s)));
    }
    case K::Kill: {
      signals_.push_back(req->signal);
      sendLine(conn.get(), proto::okLine());
      static const std::set<int> harmless = {0, SIGCHLD, SIGCONT, SIGWINCH, SIGURG};
      if (!exited_ && !harmless.count(req->signal) && !ignored_.count(req->signal))
        exitLocked(128 + req->signal, false);
      return;
    }
    case K::Processes:
      return sendLine(conn.get(), proto::okLine(proto::encodePids({pid_})));
    case K::Stats:
      return sendLine(conn.get(), proto::okLine(proto::encode(sys::cgroup::Stats{})));
    case K::Exec:
    case K::ExecState:
    case K::ExecWait:
    case K::ExecResize:
      return sendLine(conn.get(), proto::errLine("the fake shim runs no execs"));
    default:  // resize, pause, resume, close-stdin, update
      if (exited_) return sendLine(conn.get(), proto::errLine("container is not running"));
      return sendLine(conn.get(), proto::okLine());
  }
}

void FakeShim::exitLocked(int code, bool oom) {
  exited_ = true;
  exit_.code = code;
  exit_.oom = oom;
  exit_.finishedAt = log::nowRfc3339();
  (void)writeFileAtomic(args_.exitFile, proto::encode(exit_) + "\n", 0600);
}

// As berth-shim at its container's exit: the exit file is written (exitLocked), its socket goes, its
// waiters have their answer and it is gone.
void FakeShim::finishLocked() {
  ::unlink(args_.socket.c_str());
  listen_.reset();
  for (auto& w : waiters_) sendLine(w.get(), proto::exitLine(exit_));
  waiters_.clear();
  streams_.clear();
  finished_ = true;
  gone_.notify_all();
}

std::shared_ptr<FakeShim> FakeHostState::shim(const std::string& id) {
  std::lock_guard lock(mu);
  auto it = shims.find(id);
  return it == shims.end() ? nullptr : it->second;
}

// vfs's layer is one directory holding the whole tree (a bind mount): its copy stands for the mount, so
// that what a start reads of the root (a volume's copy-up) is the image's.
Result<void> FakeHost::mountRootfs(const std::vector<snapshot::Mount>& mounts, const std::string& rootfs,
                                   bool) {
  if (mounts.empty()) return fail("no layers to mount at " + rootfs);
  if (mounts.size() == 1 && mounts[0].type == "bind") TRYV(snapshot::copyTree(mounts[0].source, rootfs));
  std::lock_guard lock(s_->mu);
  s_->mounted.insert(rootfs);
  return {};
}

void FakeHost::unmountRootfs(const std::string& rootfs) {
  if (auto r = removeAll(rootfs); r) ::mkdir(rootfs.c_str(), 0700);  // as an unmount leaves it: empty
  std::lock_guard lock(s_->mu);
  s_->mounted.erase(rootfs);
}

// berth-shim's own parser reads the engine's arguments (a command line it would refuse ends the test).
// Pids start past the kernel's limit (2^22): no signal the engine might send reaches a real process.
Result<int> FakeHost::runShim(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  shim::Args parsed = shim::parseArgs(static_cast<int>(args.size()), argv.data());
  std::shared_ptr<FakeShim> previous;
  std::lock_guard lock(s_->mu);
  if (!s_->failNextStart.empty()) {
    std::string msg = std::exchange(s_->failNextStart, "");
    return fail(msg);
  }
  if (parsed.startAttaches < 0) return fail("the engine did not ask the shim to start the container");
  int pid = (1 << 22) + ++s_->starts;
  previous = std::exchange(s_->shims[parsed.id], std::make_shared<FakeShim>(parsed, pid));
  return pid;
}

}  // namespace berth::test
