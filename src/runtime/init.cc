// Child side of create and exec: runs between clone and execve. No allocation, no exceptions, no logging:
// every failure goes to the parent as a Sync::Error message, then _exit(1). Steps in order, as in
// nsjail's contain.cc: namespaces, mounts, hooks, pivot_root, masks, terminal, limits, user, caps, seccomp.
#include "runtime/init.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

#include "base/clock.h"
#include "runtime/sync.h"
#include "sys/mnt.h"
#include "sys/netdev.h"
#include "sys/ns.h"
#include "sys/tty.h"

namespace berth::runtime {

using sys::mnt::appendStr;
using sys::mnt::appendUint;
using sys::mnt::copyStr;

namespace {

SyncMsg g_msg;
bool g_joined = false;  // set by the joiner before it clones the child: plan.joins are already done
char g_state[sizeof(SyncMsg::text)];
size_t g_stateLen = 0;

[[noreturn]] void die(const InitPlan& p, int err, const char* what, const char* arg = nullptr,
                      const char* tail = nullptr, int code = 0) {
  g_msg.type = Sync::Error;
  g_msg.err = err;
  copyStr(g_msg.text, sizeof g_msg.text, what);
  if (arg) {
    appendStr(g_msg.text, sizeof g_msg.text, " ");
    appendStr(g_msg.text, sizeof g_msg.text, arg);
  }
  if (tail) appendStr(g_msg.text, sizeof g_msg.text, tail);
  ssize_t n = ::send(p.syncFd, &g_msg, offsetof(SyncMsg, text) + std::strlen(g_msg.text) + 1, MSG_NOSIGNAL);
  if (n < 0) {
    // Nobody is listening any more (after start): say it on stderr.
    char line[sizeof g_msg.text + 64];
    copyStr(line, sizeof line, "berth-runtime: ");
    appendStr(line, sizeof line, g_msg.text);
    if (err) {
      appendStr(line, sizeof line, ": ");
      appendStr(line, sizeof line, strerrordesc_np(err) ? strerrordesc_np(err) : "error");
    }
    appendStr(line, sizeof line, "\n");
    (void)!::write(2, line, std::strlen(line));
  }
  if (!code) code = err == ENOENT ? 127 : err == EACCES ? 126 : 1;
  _exit(code);
}

#define CHECK(expr, ...)                    \
  do {                                      \
    int rc_ = (expr);                       \
    if (rc_ < 0) die(p, -rc_, __VA_ARGS__); \
  } while (0)
#define CHECK_ERRNO(expr, ...)                  \
  do {                                          \
    if ((expr) < 0) die(p, errno, __VA_ARGS__); \
  } while (0)

bool sendSync(int fd, Sync type) {
  g_msg.type = type;
  g_msg.err = 0;
  g_msg.text[0] = 0;
  return ::send(fd, &g_msg, offsetof(SyncMsg, text) + 1, MSG_NOSIGNAL) > 0;
}

// Waits for one message of the given type; the payload (if any) lands in g_state.
void waitSync(const InitPlan& p, Sync type) {
  for (;;) {
    ssize_t n = ::recv(p.syncFd, &g_msg, sizeof g_msg, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(1);  // the parent went away: nothing to report to
    if (g_msg.type != type) die(p, EPROTO, "unexpected message from the runtime parent");
    size_t len = static_cast<size_t>(n) > offsetof(SyncMsg, text)
                     ? static_cast<size_t>(n) - offsetof(SyncMsg, text)
                     : 0;
    if (type == Sync::Go && len) {
      std::memcpy(g_state, g_msg.text, len);
      g_stateLen = len > 0 && g_state[len - 1] == 0 ? len - 1 : len;
    }
    return;
  }
}

bool hasFlag(const oci::Mount& m, unsigned long f) {
  return (m.flags & f) != 0;
}

// Splits "/a/b/c" into parent fd (created in root) and "c".
int parentAndName(const InitPlan& p, int rootFd, const char* path, char* name, size_t cap) {
  char dir[PATH_MAX];
  copyStr(dir, sizeof dir, path);
  char* slash = std::strrchr(dir, '/');
  if (!slash) {
    copyStr(name, cap, dir);
    return ::fcntl(rootFd, F_DUPFD_CLOEXEC, 3);
  }
  copyStr(name, cap, slash + 1);
  *slash = 0;
  int fd = sys::mnt::ensureInRoot(rootFd, dir[0] ? dir : "/", true);
  if (fd < 0) die(p, -fd, "creating directory for", path);
  return fd;
}

void mountCgroup(const InitPlan& p, int rootFd, const oci::Mount& m) {
  using namespace sys::mnt;
  unsigned long flags = m.flags & ~MS_RDONLY;
  int target = ensureInRoot(rootFd, m.destination.c_str(), true);
  if (target < 0) die(p, -target, "creating mount point", m.destination.c_str());
  bool ns = p.unshareCgroupNs;
  char fdp[64];
  if (p.cgroupV2) {
    int rc = ns ? mountAt("cgroup2", target, "cgroup2", m.flags, nullptr) : -EPERM;
    if (rc < 0 && !p.cgroupMounts.empty()) {
      rc = mountAt(p.cgroupMounts[0].hostDir.c_str(), target, nullptr, MS_BIND | MS_REC, nullptr);
      if (rc == 0 && (m.flags & ~MS_REC)) {
        ::close(target);
        target = ensureInRoot(rootFd, m.destination.c_str(), true);
        fdPath(target, fdp, sizeof fdp);
        rc = remountBind(fdp, m.flags);
      }
    }
    if (rc < 0) die(p, -rc, "mounting cgroup2 at", m.destination.c_str());
    ::close(target);
    return;
  }
  CHECK(mountAt("tmpfs", target, "tmpfs", flags, "mode=755"), "mounting tmpfs for cgroups at",
        m.destination.c_str());
  ::close(target);
  target = ensureInRoot(rootFd, m.destination.c_str(), true);
  if (target < 0) die(p, -target, "opening", m.destination.c_str());
  for (auto& cg : p.cgroupMounts) {
    if (!ns && cg.hostDir.empty()) continue;
    int sub = ensureInRoot(target, cg.name.c_str(), true);
    if (sub < 0) die(p, -sub, "creating cgroup mount point", cg.name.c_str());
    int rc = ns ? mountAt("cgroup", sub, "cgroup", m.flags, cg.options.c_str()) : -EPERM;
    if (rc < 0 && !cg.hostDir.empty()) {
      rc = mountAt(cg.hostDir.c_str(), sub, nullptr, MS_BIND | MS_REC, nullptr);
      if (rc == 0) {
        ::close(sub);
        sub = ensureInRoot(target, cg.name.c_str(), true);
        fdPath(sub, fdp, sizeof fdp);
        rc = remountBind(fdp, m.flags);
      }
    }
    if (rc < 0) die(p, -rc, "mounting cgroup hierarchy", cg.name.c_str());
    ::close(sub);
    // Co-mounted controllers ("cpu,cpuacct") are reachable by each name too.
    if (std::strchr(cg.name.c_str(), ',')) {
      char one[256];
      const char* s = cg.name.c_str();
      while (*s) {
        size_t n = 0;
        while (s[n] && s[n] != ',') ++n;
        if (n < sizeof one) {
          std::memcpy(one, s, n);
          one[n] = 0;
          if (::symlinkat(cg.name.c_str(), target, one) < 0 && errno != EEXIST) die(p, errno, "symlink", one);
        }
        s += n;
        if (*s == ',') ++s;
      }
    }
  }
  if (hasFlag(m, MS_RDONLY)) {
    fdPath(target, fdp, sizeof fdp);
    if (::mount(nullptr, fdp, nullptr, MS_REMOUNT | MS_RDONLY | flags, "mode=755") < 0)
      die(p, errno, "remounting cgroup tmpfs read-only at", m.destination.c_str());
  }
  ::close(target);
}

void doMount(const InitPlan& p, int rootFd, const oci::Mount& m) {
  using namespace sys::mnt;
  if (m.type == "cgroup" || m.type == "cgroup2") return mountCgroup(p, rootFd, m);
  bool dir = true;
  if (m.bind) {
    struct stat st;
    if (::stat(m.source.c_str(), &st) < 0) die(p, errno, "bind mount source", m.source.c_str());
    dir = S_ISDIR(st.st_mode);
  }
  int target = ensureInRoot(rootFd, m.destination.c_str(), dir);
  if (target < 0) die(p, -target, "creating mount point", m.destination.c_str());
  char fdp[64];
  if (m.bind) {
    CHECK(mountAt(m.source.c_str(), target, nullptr, MS_BIND | (m.recursive ? MS_REC : 0), nullptr),
          "bind mounting", m.source.c_str());
    ::close(target);
    target = openInRoot(rootFd, m.destination.c_str());
    if (target < 0) die(p, -target, "opening", m.destination.c_str());
    if (m.flags & ~MS_REC) {
      fdPath(target, fdp, sizeof fdp);
      CHECK(remountBind(fdp, m.flags), "remounting", m.destination.c_str());
    }
  } else {
    const char* source = m.source.empty() ? m.type.c_str() : m.source.c_str();
    int rc = mountAt(source, target, m.type.c_str(), m.flags, m.data.empty() ? nullptr : m.data.c_str());
    if (rc == -EPERM && (m.type == "sysfs" || m.type == "mqueue")) {
      // Not allowed in this user namespace: bind the host's instead (runc does the same).
      const char* host = m.type == "sysfs" ? "/sys" : "/dev/mqueue";
      rc = mountAt(host, target, nullptr, MS_BIND | MS_REC, nullptr);
      if (rc == 0) {
        ::close(target);
        target = openInRoot(rootFd, m.destination.c_str());
        fdPath(target, fdp, sizeof fdp);
        rc = remountBind(fdp, m.flags);
      }
    }
    if (rc < 0) die(p, -rc, "mounting", m.type.c_str(), m.destination.c_str());
  }
  if (m.propagation) {
    ::close(target);
    target = openInRoot(rootFd, m.destination.c_str());
    CHECK(setPropagation(target, m.propagation), "setting propagation of", m.destination.c_str());
  }
  ::close(target);
}

bool isCgroupMount(const oci::Mount& m) {
  return m.type == "cgroup" || m.type == "cgroup2";
}

// Whether `a` lies strictly below directory `b`.
bool below(const std::string& a, const std::string& b) {
  return a.size() > b.size() && !std::strncmp(a.c_str(), b.c_str(), b.size()) && a[b.size()] == '/';
}

// A cgroup mount can move after the other mounts when none of them lies below it, and none that comes later
// covers it.
bool deferrable(const std::vector<oci::Mount>& mounts, size_t i) {
  const std::string& dest = mounts[i].destination;
  for (size_t j = 0; j < mounts.size(); ++j) {
    if (j == i) continue;
    const std::string& d = mounts[j].destination;
    if (below(d, dest)) return false;
    if (j > i && (d == dest || below(dest, d))) return false;
  }
  return true;
}

struct DefaultDev {
  const char* path;
  unsigned major, minor;
};
constexpr DefaultDev kDefaultDevices[] = {
    {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

void makeDevice(const InitPlan& p, int rootFd, const char* path, char type, unsigned major, unsigned minor,
                mode_t perm, uid_t uid, gid_t gid) {
  char name[NAME_MAX + 1];
  int dirFd = parentAndName(p, rootFd, path, name, sizeof name);
  mode_t kind = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
  ::unlinkat(dirFd, name, 0);
  if (p.newUserNs && kind != S_IFIFO) {
    // mknod is not allowed in a user namespace: bind the host's device onto an empty file.
    int f = ::openat(dirFd, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f < 0) die(p, errno, "creating", path);
    ::close(f);
    int t = sys::mnt::openInRoot(dirFd, name);
    if (t < 0) die(p, -t, "opening", path);
    CHECK(sys::mnt::mountAt(path, t, nullptr, MS_BIND, nullptr), "bind mounting device", path);
    ::close(t);
  } else {
    CHECK_ERRNO(::mknodat(dirFd, name, kind | perm, makedev(major, minor)), "mknod", path);
    CHECK_ERRNO(::fchmodat(dirFd, name, perm, 0), "chmod", path);
    if (uid != 0 || gid != 0)
      CHECK_ERRNO(::fchownat(dirFd, name, uid, gid, AT_SYMLINK_NOFOLLOW), "chown", path);
  }
  ::close(dirFd);
}

void setupDev(const InitPlan& p, int rootFd) {
  const oci::Config& c = *p.config;
  bool devBound = false;
  for (auto& m : c.mounts)
    if (m.destination == "/dev" && m.bind) devBound = true;
  if (!devBound) {
    for (auto& d : kDefaultDevices) {
      bool overridden = false;
      for (auto& cd : c.linux.devices)
        if (cd.path == d.path) overridden = true;
      if (!overridden) makeDevice(p, rootFd, d.path, 'c', d.major, d.minor, 0666, 0, 0);
    }
  }
  for (auto& d : c.linux.devices) {
    makeDevice(p, rootFd, d.path.c_str(), d.type == 'u' ? 'c' : d.type, static_cast<unsigned>(d.major),
               static_cast<unsigned>(d.minor), d.fileMode.value_or(0666) & 07777, d.uid.value_or(0),
               d.gid.value_or(0));
  }
  if (devBound) return;
  int dev = sys::mnt::ensureInRoot(rootFd, "/dev", true);
  if (dev < 0) die(p, -dev, "opening /dev");
  int devDir = sys::mnt::openInRoot(rootFd, "/dev", O_DIRECTORY);
  ::close(dev);
  // O_PATH fds work as the dirfd of symlinkat.
  struct Link {
    const char* target;
    const char* name;
  };
  static constexpr Link links[] = {{"/proc/self/fd", "fd"},
                                   {"/proc/self/fd/0", "stdin"},
                                   {"/proc/self/fd/1", "stdout"},
                                   {"/proc/self/fd/2", "stderr"},
                                   {"pts/ptmx", "ptmx"}};
  for (auto& l : links) {
    if (::symlinkat(l.target, devDir, l.name) < 0 && errno != EEXIST) die(p, errno, "symlink /dev/", l.name);
  }
  if (sys::mnt::openInRoot(rootFd, "/proc/kcore") >= 0) (void)::symlinkat("/proc/kcore", devDir, "core");
  ::close(devDir);
}

void pivotRoot(const InitPlan& p, int rootFd) {
  CHECK_ERRNO(::fchdir(rootFd), "chdir to rootfs");
  if (p.noPivot) {
    CHECK_ERRNO(::mount(".", "/", nullptr, MS_MOVE, nullptr), "moving the rootfs to /");
    CHECK_ERRNO(::chroot("."), "chroot");
  } else {
    CHECK_ERRNO(::syscall(SYS_pivot_root, ".", "."), "pivot_root");
    // The old root is now under "."; keep its unmount from propagating to the host, then drop it.
    CHECK_ERRNO(::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr), "making the old root a slave");
    CHECK_ERRNO(::umount2(".", MNT_DETACH), "unmounting the old root");
  }
  CHECK_ERRNO(::chdir("/"), "chdir /");
}

void maskPaths(const InitPlan& p) {
  const oci::Linux& l = p.config->linux;
  for (auto& path : l.maskedPaths) {
    struct stat st;
    if (::stat(path.c_str(), &st) < 0) {
      if (errno == ENOENT) continue;
      die(p, errno, "stat masked path", path.c_str());
    }
    int rc = S_ISDIR(st.st_mode) ? ::mount("tmpfs", path.c_str(), "tmpfs", MS_RDONLY, nullptr)
                                 : ::mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr);
    if (rc < 0) die(p, errno, "masking", path.c_str());
  }
  for (auto& path : l.readonlyPaths) {
    if (::mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) {
      if (errno == ENOENT) continue;
      die(p, errno, "bind mounting read-only path", path.c_str());
    }
    CHECK(sys::mnt::remountBind(path.c_str(), MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC),
          "remounting read-only", path.c_str());
  }
}

void setSysctls(const InitPlan& p) {
  for (auto& [k, v] : p.config->linux.sysctl) {
    char path[PATH_MAX];
    copyStr(path, sizeof path, "/proc/sys/");
    size_t base = std::strlen(path);
    appendStr(path, sizeof path, k.c_str());
    for (char* c = path + base; *c; ++c)
      if (*c == '.') *c = '/';
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die(p, errno, "setting sysctl", k.c_str());
    if (::write(fd, v.data(), v.size()) < 0) die(p, errno, "setting sysctl", k.c_str());
    ::close(fd);
  }
}

void setupTerminal(const InitPlan& p) {
  int master, slave;
  unsigned n;
  CHECK(sys::tty::openPty(&master, &slave, &n), "creating a pty in the container");
  const oci::Process& proc = *p.process;
  if (proc.consoleHeight || proc.consoleWidth)
    sys::tty::setSize(master, proc.consoleHeight, proc.consoleWidth);
  if (p.consoleSockFd >= 0) {
    CHECK(sys::tty::sendFd(p.consoleSockFd, master, "/dev/ptmx"),
          "sending the pty master to the console socket");
    ::close(p.consoleSockFd);
  }
  ::close(master);
  if (!p.exec) {
    // /dev/console is the pty (runc does the same).
    char slavePath[64];
    copyStr(slavePath, sizeof slavePath, "/dev/pts/");
    appendUint(slavePath, sizeof slavePath, n);
    int fd = ::open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
      ::close(fd);
      if (::mount(slavePath, "/dev/console", nullptr, MS_BIND, nullptr) < 0)
        die(p, errno, "mounting /dev/console");
    }
  }
  CHECK(sys::tty::makeControlling(slave), "making the pty the controlling terminal");
  if (slave > 2) ::close(slave);
}

void applyUser(const InitPlan& p) {
  const oci::User& u = p.process->user;
  // Supplementary groups: exactly additionalGids (the runtime's own groups never leak in).
  if (::setgroups(u.additionalGids.size(), u.additionalGids.data()) < 0 && !(p.newUserNs && errno == EPERM))
    die(p, errno, "setgroups");
  CHECK_ERRNO(::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
  CHECK(sys::caps::dropBounding(p.caps.bounding), "dropping capabilities from the bounding set");
  CHECK_ERRNO(::setresgid(u.gid, u.gid, u.gid), "setresgid");
  CHECK_ERRNO(::setresuid(u.uid, u.uid, u.uid), "setresuid");
  CHECK_ERRNO(::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
  CHECK(sys::caps::apply(p.caps), "setting capabilities");
}

[[noreturn]] void lookupAndExec(const InitPlan& p) {
  const char* file = p.argv[0];
  if (std::strchr(file, '/')) {
    ::execve(file, const_cast<char* const*>(p.argv.data()), const_cast<char* const*>(p.envp.data()));
    die(p, errno, "exec", file);
  }
  const char* path = p.pathEnv ? p.pathEnv : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int lastErr = ENOENT;
  while (*path) {
    const char* end = std::strchr(path, ':');
    size_t n = end ? static_cast<size_t>(end - path) : std::strlen(path);
    char full[PATH_MAX];
    if (n + std::strlen(file) + 2 < sizeof full) {
      std::memcpy(full, path, n);
      full[n] = 0;
      if (n == 0) copyStr(full, sizeof full, ".");
      appendStr(full, sizeof full, "/");
      appendStr(full, sizeof full, file);
      ::execve(full, const_cast<char* const*>(p.argv.data()), const_cast<char* const*>(p.envp.data()));
      if (errno != ENOENT && errno != ENOTDIR) lastErr = errno;
    }
    path = end ? end + 1 : path + n;
    if (!end) break;
  }
  if (lastErr == ENOENT) die(p, 0, "exec:", file, ": executable file not found in $PATH", 127);
  die(p, lastErr, "exec", file);
}

void resetSignals() {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    ::signal(s, SIG_DFL);
  }
}

}  // namespace

int runHookChild(const HookPlan& hook, const char* state, size_t stateLen) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) < 0) return -errno;
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  if (pid < 0) {
    int e = errno;
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return -e;
  }
  if (pid == 0) {
    ::dup2(pipefd[0], 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(hook.path.c_str(), const_cast<char* const*>(hook.argv.data()),
             const_cast<char* const*>(hook.envp.data()));
    _exit(127);
  }
  ::close(pipefd[0]);
  // A hook that does not read its stdin must not kill us with SIGPIPE.
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);
  size_t off = 0;
  while (off < stateLen) {
    ssize_t n = ::write(pipefd[1], state + off, stateLen - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(pipefd[1]);
  ::sigaction(SIGPIPE, &old, nullptr);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long delayNs = 100 * 1000;
  for (;;) {
    int st;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
      return -ECHILD;
    }
    if (r < 0 && errno != EINTR) return -errno;
    if (hook.timeout > 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec - start.tv_sec >= hook.timeout) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
        return -ETIMEDOUT;
      }
    }
    sleepNs(delayNs);
    if (delayNs < 10 * 1000 * 1000) delayNs *= 2;
  }
}

namespace {

// The cgroup namespace may be rooted here only once the parent has moved us into our cgroups (Placed).
struct Placement {
  const InitPlan& p;
  bool placed = false;
  void ensure() {
    if (placed) return;
    waitSync(p, Sync::Placed);
    if (p.unshareCgroupNs) CHECK_ERRNO(::unshare(CLONE_NEWCGROUP), "creating the cgroup namespace");
    placed = true;
  }
};

// A new container's root: its mounts (cgroup ones once placed), /dev, the hooks before the pivot, the
// pivot, then read-only root, propagation, sysctls, masked paths and names.
void setUpRoot(const InitPlan& p, Placement& placement) {
  const oci::Config& c = *p.config;
  unsigned long prop = MS_SLAVE | MS_REC;
  CHECK_ERRNO(::mount(nullptr, "/", nullptr, prop, nullptr), "making / a slave mount");
  const char* root = c.rootPath.c_str();
  CHECK_ERRNO(::mount(root, root, nullptr, MS_BIND | MS_REC, nullptr), "bind mounting the rootfs", root);
  int rootFd = ::open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootFd < 0) die(p, errno, "opening the rootfs", root);
  // cgroup mounts wait for Placed; the others go ahead while the parent migrates us.
  for (size_t i = 0; i < c.mounts.size(); ++i) {
    if (isCgroupMount(c.mounts[i])) {
      if (deferrable(c.mounts, i)) continue;
      placement.ensure();
    }
    doMount(p, rootFd, c.mounts[i]);
  }
  // /dev does not depend on the cgroup either: it is made while the parent may still be placing us.
  setupDev(p, rootFd);
  placement.ensure();
  for (size_t i = 0; i < c.mounts.size(); ++i)
    if (isCgroupMount(c.mounts[i]) && deferrable(c.mounts, i)) doMount(p, rootFd, c.mounts[i]);
  if (p.hasRuntimeHooks) {
    if (!sendSync(p.syncFd, Sync::Hooks)) _exit(1);
    waitSync(p, Sync::HooksDone);
  }
  for (auto& h : p.createContainerHooks) {
    int rc = runHookChild(h, g_state, g_stateLen);
    if (rc < 0) die(p, -rc, "createContainer hook", h.path.c_str(), rc == -ECHILD ? " failed" : nullptr);
  }
  pivotRoot(p, rootFd);
  ::close(rootFd);
  if (c.rootReadonly) CHECK(sys::mnt::remountBind("/", MS_RDONLY), "remounting the rootfs read-only");
  if (c.linux.rootfsPropagation)
    CHECK_ERRNO(::mount(nullptr, "/", nullptr, c.linux.rootfsPropagation, nullptr),
                "setting rootfs propagation");
  // sysctls first: /proc/sys becomes read-only with the readonlyPaths (runc's order).
  setSysctls(p);
  maskPaths(p);
  if (!c.hostname.empty())
    CHECK_ERRNO(::sethostname(c.hostname.data(), c.hostname.size()), "sethostname", c.hostname.c_str());
  if (!c.domainname.empty())
    CHECK_ERRNO(::setdomainname(c.domainname.data(), c.domainname.size()), "setdomainname");
}

// The process's rlimits and I/O priority.
void applyLimits(const InitPlan& p) {
  const oci::Process& proc = *p.process;
  for (auto& r : proc.rlimits) {
    struct rlimit rl {
      r.soft, r.hard
    };
    if (::setrlimit(r.resource, &rl) < 0) die(p, errno, "setting rlimit");
  }
  if (proc.ioPriorityClass) {
    int prio = (*proc.ioPriorityClass << 13) | proc.ioPriority;
    CHECK_ERRNO(::syscall(SYS_ioprio_set, 1 /*IOPRIO_WHO_PROCESS*/, 0, prio), "ioprio_set");
  }
}

// Waits for `start` (one byte written into the exec fifo), then runs the startContainer hooks.
void awaitStart(const InitPlan& p) {
  // Wait for `start`: it writes one byte into the exec fifo.
  char b;
  ssize_t n;
  do n = ::read(p.fifoFd, &b, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) _exit(1);
  ::close(p.fifoFd);
  for (auto& h : p.startContainerHooks) {
    int rc = runHookChild(h, g_state, g_stateLen);
    if (rc < 0) die(p, -rc, "startContainer hook", h.path.c_str(), rc == -ECHILD ? " failed" : nullptr);
  }
}

}  // namespace

void runInit(const InitPlan& p) {
  const oci::Config& c = *p.config;
  const oci::Process& proc = *p.process;
  // Our copy of the parent's end would keep the socket alive after the parent closes it: an error after
  // `start` must find nobody listening, and go to stderr.
  if (p.parentSyncFd >= 0) ::close(p.parentSyncFd);
  ::umask(0);
  ::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  // Not dumpable: other processes in the container cannot reach this one's /proc/<pid>/exe or memory.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  waitSync(p, Sync::Go);

  for (auto& j : p.joins) {
    if (!g_joined && ::setns(j.fd, j.flag) < 0) die(p, errno, "joining namespace", sys::ns::procName(j.flag));
    ::close(j.fd);
  }
  Placement placement{p};
  if (p.exec) placement.ensure();
  if (p.newUserNs) {
    // Become root of the new user namespace where 0 is mapped.
    (void)::setresgid(0, 0, 0);
    (void)::setresuid(0, 0, 0);
  }

  if (p.loopbackUp) {
    if (int err = sys::netdev::loopbackUp()) die(p, err, "setting the loopback device up");
  }
  if (p.newKeyring && ::syscall(SYS_keyctl, 1 /*KEYCTL_JOIN_SESSION_KEYRING*/, nullptr) < 0 &&
      errno != ENOSYS && errno != EACCES)
    die(p, errno, "creating a session keyring");
  if (!p.exec) setUpRoot(p, placement);
  if (c.linux.personality) CHECK_ERRNO(::personality(*c.linux.personality), "personality");

  if (proc.terminal)
    setupTerminal(p);
  else if (!p.exec)
    (void)::setsid();

  applyLimits(p);
  if (p.hasSeccomp && !proc.noNewPrivileges) {
    // Without no_new_privs the filter needs CAP_SYS_ADMIN: install it before the capabilities go.
    sock_fprog prog = p.seccomp.fprog();
    CHECK(sys::seccomp::install(prog, p.seccomp.flags), "installing the seccomp filter");
  }
  applyUser(p);
  ::umask(proc.user.umask.value_or(022));
  if (::chdir(proc.cwd.c_str()) < 0) die(p, errno, "chdir to cwd", proc.cwd.c_str());
  // A cwd reached through a leaked fd would lie outside the container root (CVE-2024-21626).
  char cwd[PATH_MAX];
  if (!::getcwd(cwd, sizeof cwd) || cwd[0] != '/')
    die(p, EPERM, "cwd is outside the container:", proc.cwd.c_str());
  if (proc.noNewPrivileges)
    CHECK_ERRNO(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");

  if (!sendSync(p.syncFd, Sync::Ready)) _exit(1);
  if (!p.exec) awaitStart(p);
  // Everything we hold above the preserved fds closes at execve.
  unsigned first = 3 + static_cast<unsigned>(p.preserveFds);
  ::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC);
  for (int fd = 3; fd < static_cast<int>(first); ++fd) ::fcntl(fd, F_SETFD, 0);
  resetSignals();
  if (p.hasSeccomp && proc.noNewPrivileges) {
    sock_fprog prog = p.seccomp.fprog();
    CHECK(sys::seccomp::install(prog, p.seccomp.flags), "installing the seccomp filter");
  }
  lookupAndExec(p);
}

void runJoiner(const InitPlan& p, int pidNsFd, int cloneFlags, int cgroupDirFd) {
  if (p.parentSyncFd >= 0) ::close(p.parentSyncFd);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // The pid namespace first, while we are still privileged where it was made; it applies to children only.
  if (pidNsFd >= 0) CHECK_ERRNO(::setns(pidNsFd, CLONE_NEWPID), "joining namespace", "pid");
  for (auto& j : p.joins)
    if (::setns(j.fd, j.flag) < 0) die(p, errno, "joining namespace", sys::ns::procName(j.flag));
  g_joined = true;
  pid_t pid = -1;
  bool bornInCgroup = false;
  if (cgroupDirFd >= 0) {
    struct clone_args args {};
    args.flags = static_cast<uint64_t>(cloneFlags) | CLONE_PARENT | CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroupDirFd);
    pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
    if (pid == 0) runInit(p);
    bornInCgroup = pid > 0;
  }
  if (pid < 0) {
    pid = static_cast<pid_t>(::syscall(SYS_clone, cloneFlags | CLONE_PARENT, 0, 0, 0, 0));
    if (pid == 0) runInit(p);
  }
  if (pid < 0) die(p, errno, "clone");
  g_msg.type = Sync::Pid;
  g_msg.err = pid;
  g_msg.text[0] = bornInCgroup ? '1' : '0';
  g_msg.text[1] = 0;
  _exit(::send(p.syncFd, &g_msg, offsetof(SyncMsg, text) + 2, MSG_NOSIGNAL) > 0 ? 0 : 1);
}

}  // namespace berth::runtime
