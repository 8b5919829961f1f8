// Regression tests for the runtime CVEs that shaped the field.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include "base/file.h"
#include "harness.h"

namespace berth::test {
namespace {

using nlohmann::json;

// CVE-2019-5736: the runtime binary must not be writable through /proc/<pid>/exe while it runs.
TEST(Security, RuntimeBinaryIsReadOnlyThroughProcExe) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/sleep", "5"});
  b.write();
  // A private copy of the binary: other tests running berth-runtime at the same time would make the final
  // open fail with ETXTBSY (the file is being executed) before the read-only mount is even considered.
  std::string copy = b.dir() + "/berth-runtime-copy";
  ASSERT_EQ(system(("cp " + runtimeBin() + " " + copy).c_str()), 0);
  // A foreground `run` keeps a berth-runtime process alive for the container's lifetime.
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    execl(copy.c_str(), copy.c_str(), "--root", b.stateRoot().c_str(), "run", "--bundle", b.dir().c_str(),
          b.id().c_str(), nullptr);
    _exit(127);
  }
  // Wait until the container runs /bin/sleep: before `start`, its init is still the runtime's own clone
  // (blocked on the exec fifo, holding the binary busy once we kill its parent).
  for (int i = 0; i < 500; ++i) {
    auto st = b.rt({"state", b.id()});
    if (st.code == 0 && st.out.find("running") != std::string::npos) break;
    usleep(10000);
  }
  std::string exe = "/proc/" + std::to_string(pid) + "/exe";
  struct statvfs sv;
  ASSERT_EQ(statvfs(exe.c_str(), &sv), 0);
  EXPECT_TRUE(sv.f_flag & ST_RDONLY) << "berth-runtime runs from a writable mount";
  // The attack: hold the binary by an O_PATH fd, wait for the runtime to exit, then reopen it for writing.
  int path = open(exe.c_str(), O_PATH | O_CLOEXEC);
  ASSERT_GE(path, 0);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pid = -1;
  // ETXTBSY would say the copy is still executing (the runtime not reaped yet): retry until it is idle.
  int fd = -1, err = 0;
  for (int i = 0; i < 500; ++i) {
    fd = open(("/proc/self/fd/" + std::to_string(path)).c_str(), O_WRONLY | O_CLOEXEC);
    err = errno;
    if (fd >= 0 || err != ETXTBSY) break;
    usleep(10000);
  }
  EXPECT_LT(fd, 0) << "the runtime binary was opened for writing";
  EXPECT_EQ(err, EROFS);
  if (fd >= 0) close(fd);
  close(path);
}

// CVE-2024-21626: no host fd reaches the container, and a cwd through a leaked fd cannot escape.
TEST(Security, NoLeakedFdsOrHostCwd) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/probe", "fds"});
  auto fds = kv(b.runIt().out);
  EXPECT_EQ(fds.size(), 3u) << "only stdio may be open";
  for (int fd = 4; fd < 12; ++fd) {
    b.config["process"]["cwd"] = "/proc/self/fd/" + std::to_string(fd);
    b.args({"/bin/probe", "cwd"});
    auto r = b.runIt();
    EXPECT_EQ(r.out.find("cwd=/sys/fs/cgroup"), std::string::npos) << r.out;
    if (r.code == 0) {
      EXPECT_EQ(kv(r.out)["cwd"].rfind("/proc", 0), 0u) << r.out;
    }
  }
}

// A hostile rootfs whose mount targets are symlinks to host paths cannot make a mount land outside it.
TEST(Security, SymlinkedMountTargetsStayInsideRootfs) {
  REQUIRE_ROOT();
  Bundle b;
  std::string victim = b.dir() + "/victim";
  mkdir(victim.c_str(), 0755);
  (void)writeFileAtomic(victim + "/precious", "host data");
  // /evil -> the victim dir by absolute host path; /evil2 -> ../../../.. climbing out.
  symlink(victim.c_str(), (b.rootfs() + "/evil").c_str());
  symlink("../../../../../../../../tmp", (b.rootfs() + "/evil2").c_str());
  b.config["mounts"].push_back({{"destination", "/evil"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
  b.config["mounts"].push_back({{"destination", "/evil2/x"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
  std::string mountsBefore = *readFile("/proc/self/mountinfo");
  b.args({"/bin/sh", "-c", "touch /evil/inside && echo ok"});
  auto r = b.runIt();
  EXPECT_EQ(r.code, 0) << r.err;
  // The host directory was not covered or written; the mount went to <rootfs>/<victim path>.
  EXPECT_EQ(*readFile(victim + "/precious"), "host data");
  EXPECT_FALSE(pathExists(victim + "/inside"));
  EXPECT_FALSE(pathExists("/tmp/x") && !pathExists(b.rootfs() + "/tmp/x"));
  EXPECT_TRUE(pathExists(b.rootfs() + victim)) << "target resolved inside the rootfs";
  EXPECT_EQ(mountsBefore, *readFile("/proc/self/mountinfo"));
}

}  // namespace
}  // namespace berth::test
