#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "base/file.h"

namespace berth::test {

std::string runtimeBin() {
  return BERTH_RUNTIME_BIN;
}
std::string probeBin() {
  return BERTH_PROBE_BIN;
}

Cmd run(const std::vector<std::string>& argv, const std::string& in, const std::vector<std::string>& env) {
  int inP[2], outP[2], errP[2];
  if (pipe2(inP, O_CLOEXEC) || pipe2(outP, O_CLOEXEC) || pipe2(errP, O_CLOEXEC)) return {};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(inP[0], 0);
    dup2(outP[1], 1);
    dup2(errP[1], 2);
    for (auto& e : env) putenv(const_cast<char*>(e.c_str()));
    execv(args[0], args.data());
    _exit(127);
  }
  close(inP[0]);
  close(outP[1]);
  close(errP[1]);
  signal(SIGPIPE, SIG_IGN);
  if (!in.empty()) (void)!write(inP[1], in.data(), in.size());
  close(inP[1]);
  Cmd c;
  // Read until the process exits; a created container keeps our pipes as its stdio, so EOF may never come.
  struct pollfd fds[2] = {{outP[0], POLLIN, 0}, {errP[0], POLLIN, 0}};
  int st = 0;
  bool exited = false;
  for (int iter = 0; iter < 6000; ++iter) {
    int n = poll(fds, 2, exited ? 0 : 20);
    bool got = false;
    for (int i = 0; n > 0 && i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        continue;
      }
      got = true;
      (i == 0 ? c.out : c.err).append(buf, static_cast<size_t>(r));
    }
    if (fds[0].fd < 0 && fds[1].fd < 0) {
      if (!exited) waitpid(pid, &st, 0);
      exited = true;
      break;
    }
    if (exited && !got) break;
    if (!exited && waitpid(pid, &st, WNOHANG) == pid) exited = true;
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
  }
  c.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return c;
}

std::map<std::string, std::string> kv(const std::string& out) {
  std::map<std::string, std::string> m;
  for (auto& line : split(out, '\n')) {
    auto eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

namespace {
std::atomic<int> g_counter{0};

// Removes this process's test cgroups, then /berth-test (the parent of every test's cgroup) when no other
// test process still uses it. ctest runs tests in parallel processes: never touch another process's cgroups.
class CgroupCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    if (geteuid() != 0) return;
    std::string mine = "t" + std::to_string(getpid()) + "-*";
    run({"/bin/sh", "-c",
         "for h in /sys/fs/cgroup/*/; do [ -d \"${h}berth-test\" ] || continue; "
         "find \"${h}berth-test\" -mindepth 1 -maxdepth 1 -type d -name '" +
             mine +
             "' -exec sh -c 'find \"$1\" -depth -type d -exec rmdir {} \\;' _ {} \\; ; "
             "rmdir \"${h}berth-test\" 2>/dev/null; done; true"});
  }
};
const auto* g_cleanup = ::testing::AddGlobalTestEnvironment(new CgroupCleanup);
}  // namespace

Bundle::Bundle() {
  char tmpl[] = "/tmp/berth-bundle-XXXXXX";
  dir_ = mkdtemp(tmpl);
  id_ = "t" + std::to_string(getpid()) + "-" + std::to_string(g_counter++);
  root_ = dir_ + "/state";
  std::string rootfs = dir_ + "/rootfs";
  for (auto d : {"", "/bin", "/etc", "/tmp", "/proc", "/dev", "/sys", "/root"})
    mkdir((rootfs + d).c_str(), 0755);
  chmod((rootfs + "/tmp").c_str(), 01777);
  auto copy = [](const std::string& from, const std::string& to) {
    std::ifstream src(from, std::ios::binary);
    std::ofstream dst(to, std::ios::binary);
    dst << src.rdbuf();
    dst.close();
    chmod(to.c_str(), 0755);
  };
  copy("/bin/busybox", rootfs + "/bin/busybox");
  copy(probeBin(), rootfs + "/bin/probe");
  for (auto a :
       {"sh", "echo", "cat", "ls", "sleep", "id", "true", "false", "mkdir", "touch", "test", "hostname"})
    symlink("busybox", (rootfs + "/bin/" + a).c_str());
  (void)writeFileAtomic(rootfs + "/etc/passwd",
                        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");
  (void)writeFileAtomic(rootfs + "/etc/group", "root:x:0:\nnobody:x:65534:\n");
  auto spec = run({runtimeBin(), "spec", "--bundle", dir_});
  EXPECT_EQ(spec.code, 0) << spec.err;
  config = nlohmann::json::parse(*readFile(dir_ + "/config.json"));
  config["process"]["terminal"] = false;
  config["root"]["readonly"] = false;
  config["linux"]["cgroupsPath"] = cgroupPath();
}

Bundle::~Bundle() {
  rt({"delete", "--force", id_});
  // Per-test cgroups live under /berth-test/<id>: remove the leaf if delete left it.
  for (auto base : {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/pids",
                    "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/devices", "/sys/fs/cgroup/cpuacct",
                    "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/blkio", "/sys/fs/cgroup/unified"}) {
    rmdir((std::string(base) + cgroupPath()).c_str());
  }
  (void)removeAll(dir_);
}

void Bundle::write() const {
  (void)writeFileAtomic(dir_ + "/config.json", config.dump(2));
}

Cmd Bundle::rt(std::vector<std::string> args, const std::string& in,
               const std::vector<std::string>& env) const {
  args.insert(args.begin(), {runtimeBin(), "--root", root_});
  return run(args, in, env);
}

Cmd Bundle::runIt(const std::vector<std::string>& extra) const {
  write();
  std::vector<std::string> a = {"run", "--bundle", dir_};
  a.insert(a.end(), extra.begin(), extra.end());
  a.push_back(id_);
  return rt(a);
}

}  // namespace berth::test
