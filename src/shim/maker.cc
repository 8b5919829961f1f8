#include "shim/maker.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/memory.h"
#include "runtime/container.h"
#include "sys/cgroup.h"

namespace berth::shim {
namespace {

constexpr size_t kMaxMessage = 4000;  // one write into a pipe or a datagram, never split

bool waitGone(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return false;
  return true;
}

// A forked child shares its parent's pages until it writes them; each first write is a fault and a copy.
// A maker forked ahead takes those (and the stack the container's creation needs) before it is asked.
__attribute__((noinline, no_sanitize("address"))) void touchStackBelow() {
  volatile char depth[64 << 10];
  for (size_t i = 0; i < sizeof depth; i += 4096) depth[i] = 0;
}

// Reads and writes back whole mappings, redzones included: not for AddressSanitizer's eyes.
__attribute__((no_sanitize("address"))) void prefault() {
  mapProgramAhead();
  touchStackBelow();
  int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char text[8192];
  size_t len = 0;
  for (ssize_t n; len < sizeof text - 1 && (n = ::read(fd, text + len, sizeof text - 1 - len)) > 0;)
    len += static_cast<size_t>(n);
  ::close(fd);
  text[len] = '\0';
  const uintptr_t page = 4096;
  const uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  for (char* line = text; line && *line;) {
    char* next = std::strchr(line, '\n');
    if (next) *next++ = '\0';
    uintptr_t lo = std::strtoull(line, &line, 16), hi = std::strtoull(line + 1, &line, 16);
    // Small mappings only: ours are the program's data, heap and stack; a sanitizer's shadow is terabytes
    // reserved, never to be touched whole.
    if (std::strncmp(line, " rw-p", 5) == 0 && hi - lo <= (1u << 20)) {
      if (std::strstr(line, "[stack]")) lo = (sp & ~(page - 1)) + page;  // our frames are written already
      for (uintptr_t a = lo; a < hi; a += page) {
        volatile char* c = reinterpret_cast<volatile char*>(a);
        *c = *c;
      }
    }
    line = next;
  }
}

// The child's side of Maker: one request (the words and the fds), one answer, gone.
[[noreturn]] void serve(int sock, const std::string& staged) {
  // A staged cgroup (see Maker::fork) that the container did not take goes: the maker moves back out.
  auto unstage = [&] {
    if (auto layout = sys::cgroup::detect(); layout && !staged.empty())
      sys::cgroup::unstageV1(*layout, staged);
  };
  char data[kMaxMessage];
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  iovec iov{data, sizeof data};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) {  // the shim went away before it had a container to make
    unstage();
    ::_exit(0);
  }
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
  std::vector<std::string> words;
  for (const char *p = data, *end = data + n; p < end;) {
    const char* z = static_cast<const char*>(std::memchr(p, '\0', static_cast<size_t>(end - p)));
    if (!z) z = end;
    words.emplace_back(p, z);
    p = z + 1;
  }
  Result<pid_t> made = fail(ErrorCategory::Internal, "a malformed request to the shim's maker");
  bool start = words.size() == 4 && words[3] == "start";
  if ((words.size() == 3 || start) && (fds.size() == 3 || fds.size() == 4)) {
    (void)::setpriority(PRIO_PROCESS, 0, 0);  // forked ahead at the waiting shim's background priority
    for (int i = 0; i < 3; ++i) ::dup2(fds[static_cast<size_t>(i)], i);  // dup2 clears close-on-exec
    runtime::Runtime rt(words[0]);
    runtime::CreateOptions co;
    co.id = words[1];
    co.bundle = words[2];
    co.consoleSocketFd = fds.size() == 4 ? fds[3] : -1;
    co.stagedCgroup = staged;
    made = rt.create(co);
    // (A failed start leaves the created container to the shim, which removes it.)
    if (made && start)
      if (auto started = rt.start(co.id); !started) made = std::unexpected(started.error());
  }
  std::string answer = madeMessage(made);
  (void)!::send(sock, answer.data(), answer.size(), MSG_NOSIGNAL);
  unstage();  // after the answer: off the start path
  ::_exit(0);
}

}  // namespace

std::string madeMessage(const Result<pid_t>& made) {
  std::string msg = made ? "ok " + std::to_string(*made)
                         : "err " + std::to_string(static_cast<int>(made.error().category())) + " " +
                               made.error().message();
  if (msg.size() > kMaxMessage) msg.resize(kMaxMessage);
  return msg;
}

Result<pid_t> parseMade(const std::string& msg) {
  if (msg.rfind("ok ", 0) == 0) {
    long pid = std::strtol(msg.c_str() + 3, nullptr, 10);
    if (pid > 0) return static_cast<pid_t>(pid);
  } else if (msg.rfind("err ", 0) == 0) {
    char* end = nullptr;
    long cat = std::strtol(msg.c_str() + 4, &end, 10);
    if (cat < 0 || cat > static_cast<long>(ErrorCategory::NotModified)) cat = 0;
    return fail(static_cast<ErrorCategory>(cat), *end == ' ' ? std::string(end + 1) : msg.substr(4));
  }
  return fail(ErrorCategory::Internal, "the shim's maker ended without an answer");
}

Result<pid_t> inChild(const std::function<Result<pid_t>()>& make) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) return sysFail("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t h = ::fork();
  if (h < 0) return sysFail("fork");
  if (h == 0) {
    std::string msg = madeMessage(make());
    (void)!::write(wr.get(), msg.data(), msg.size());
    ::_exit(0);
  }
  wr.reset();
  // Read once the child is gone: the process it made may hold the pipe open until it executes.
  if (!waitGone(h)) return sysFail("waiting for the shim's maker");
  char buf[kMaxMessage];
  ssize_t n = ::read(rd.get(), buf, sizeof buf);
  return parseMade(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
}

Result<Maker> Maker::fork(std::span<char> title, const std::string& stageCgroupParent) {
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) return sysFail("socketpair");
  UniqueFd ours(sp[0]), theirs(sp[1]);
  pid_t h = ::fork();
  if (h < 0) return sysFail("fork");
  if (h == 0) {
    static constexpr char kTitle[] = "berth-shim\0--maker";
    if (title.size() >= sizeof kTitle) {
      std::memcpy(title.data(), kTitle, sizeof kTitle);
      std::memset(title.data() + sizeof kTitle, 0, title.size() - sizeof kTitle);
    }
    // Nothing of the shim's (its socket, its log, berthd's socket of a waiting shim) for the maker and
    // the process it makes: the request brings the fds they need.
    if (theirs.get() != 3 && (::dup3(theirs.get(), 3, O_CLOEXEC) < 0)) ::_exit(1);
    ::close_range(4, ~0U, 0);
    prefault();
    std::string staged;
    if (!stageCgroupParent.empty())
      if (auto layout = sys::cgroup::detect(); layout && layout->version == 1)
        if (auto st = sys::cgroup::stageV1(*layout, stageCgroupParent)) staged = *st;
    serve(3, staged);
  }
  return Maker(std::move(ours), h);
}

Maker::~Maker() {
  if (pid_ <= 0) return;
  sock_.reset();  // a maker never asked ends at end of file
  (void)waitGone(pid_);
}

Result<pid_t> Maker::create(const std::string& runtimeRoot, const std::string& id, const std::string& bundle,
                            int consoleFd, bool start) {
  std::string words = runtimeRoot + '\0' + id + '\0' + bundle + (start ? std::string(1, '\0') + "start" : "");
  if (words.size() > kMaxMessage) return fail(ErrorCategory::InvalidArgument, "container paths too long");
  int fds[4] = {0, 1, 2, consoleFd};
  size_t nfds = consoleFd >= 0 ? 4 : 3;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  iovec iov{words.data(), words.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
  std::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  ssize_t n;
  do n = ::sendmsg(sock_.get(), &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return sysFail("asking the shim's maker");
  char buf[kMaxMessage];
  do n = ::recv(sock_.get(), buf, sizeof buf, 0);
  while (n < 0 && errno == EINTR);
  // It exits now; reap() collects it, and the process made is reparented to us as it goes (a process
  // that ended before is a zombie reparented with a SIGCHLD of its own).
  sock_.reset();
  pid_ = -1;
  return parseMade(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
}

}  // namespace berth::shim
