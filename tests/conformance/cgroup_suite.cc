// One suite, every cgroup backend (containerd's snapshots/testsuite idea): v1 on the host's v1 hierarchies,
// v2 on the host's real v2 hierarchy, and v2 controller writes on a fake tree (this machine's v2 hierarchy
// has no controllers enabled).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "base/file.h"
#include "sys/cgroup.h"

namespace berth::sys::cgroup {
namespace {

// Removes the suite's parent cgroup from every hierarchy.
void removeParents() {
  for (auto& c : {"memory", "cpu", "cpuset", "pids", "devices", "freezer", "cpuacct", "blkio", "hugetlb",
                  "systemd", "unified"})
    ::rmdir((std::string("/sys/fs/cgroup/") + c + "/berth-conformance").c_str());
  ::rmdir("/sys/fs/cgroup/berth-conformance");
}

struct Backend {
  std::string name;
  std::function<bool()> available;
  std::function<std::unique_ptr<Manager>(const std::string& path)> make;
};

void PrintTo(const Backend& b, std::ostream* os) {
  *os << b.name;
}

std::vector<Backend> realBackends() {
  return {
      {"v1", [] { return ::geteuid() == 0 && pathExists("/sys/fs/cgroup/freezer/cgroup.procs"); },
       [](const std::string& p) {
         auto l = detect();
         return makeV1(*l, p);
       }},
      {"v2",
       [] {
         return ::geteuid() == 0 && (pathExists("/sys/fs/cgroup/unified/cgroup.procs") ||
                                     pathExists("/sys/fs/cgroup/cgroup.controllers"));
       },
       [](const std::string& p) {
         std::string root =
             pathExists("/sys/fs/cgroup/unified/cgroup.procs") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
         return makeV2(root, p);
       }},
  };
}

class Lifecycle : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (!GetParam().available())
      GTEST_SKIP() << GetParam().name << " hierarchy not available here (or not root)";
    path_ = "/berth-conformance/" + std::to_string(::getpid()) + "-" + GetParam().name;
    mgr_ = GetParam().make(path_);
  }
  void TearDown() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    if (mgr_) (void)mgr_->destroy();
    removeParents();
  }
  pid_t spawnSleeper() {
    pid_t p = fork();
    if (p == 0) {
      for (;;) pause();
    }
    return p;
  }
  std::string path_;
  std::unique_ptr<Manager> mgr_;
  pid_t child_ = -1;
};

TEST_P(Lifecycle, CreateJoinFreezeKillDestroy) {
  ASSERT_TRUE(mgr_->create());
  ASSERT_TRUE(mgr_->create()) << "create is idempotent";
  for (auto& d : mgr_->hostDirs()) EXPECT_TRUE(pathExists(d)) << d;
  child_ = spawnSleeper();
  ASSERT_TRUE(mgr_->addProcess(child_));
  auto procs = mgr_->processes();
  ASSERT_TRUE(procs);
  ASSERT_EQ(procs->size(), 1u);
  EXPECT_EQ((*procs)[0], child_);
  ASSERT_TRUE(mgr_->freeze(true));
  EXPECT_TRUE(*mgr_->isFrozen());
  ASSERT_TRUE(mgr_->freeze(false));
  EXPECT_FALSE(*mgr_->isFrozen());
  auto busy = mgr_->destroy();
  EXPECT_FALSE(busy) << "a cgroup with processes cannot be removed";
  ASSERT_TRUE(mgr_->killAll(SIGKILL));
  int st;
  ASSERT_EQ(::waitpid(child_, &st, 0), child_);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  child_ = -1;
  ASSERT_TRUE(mgr_->destroy());
  for (auto& d : mgr_->hostDirs()) EXPECT_FALSE(pathExists(d)) << d;
  EXPECT_TRUE(mgr_->destroy()) << "destroying a missing cgroup is not an error";
}

TEST_P(Lifecycle, StatsReadWithoutError) {
  ASSERT_TRUE(mgr_->create());
  auto s = mgr_->stats();
  ASSERT_TRUE(s) << s.error().message();
}

INSTANTIATE_TEST_SUITE_P(Backends, Lifecycle, ::testing::ValuesIn(realBackends()),
                         [](const auto& info) { return info.param.name; });

// Resource writes: each backend writes the kernel's files for the same OCI resources.
struct Expect {
  std::string file;  // relative to the controller dir (v1: "<controller>/<file>")
  std::string value;
};

TEST(ResourceWrites, V2OnFakeTree) {
  auto tmp = TempDir::make();
  ASSERT_TRUE(tmp);
  std::string root = tmp->path();
  ASSERT_TRUE(writeFileAtomic(root + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n"));
  ASSERT_TRUE(writeFileAtomic(root + "/cgroup.subtree_control", ""));
  auto mgr = makeV2(root, "/a/b");
  ASSERT_TRUE(mgr->create());
  ASSERT_TRUE(writeFileAtomic(root + "/a/cgroup.subtree_control", ""));
  for (auto f : {"memory.max", "memory.low", "memory.swap.max", "cpu.weight", "cpu.max", "cpuset.cpus",
                 "pids.max", "io.weight", "cgroup.freeze"})
    ASSERT_TRUE(writeFileAtomic(root + "/a/b/" + f, ""));
  Resources r;
  r.memory.limit = 64 << 20;
  r.memory.reservation = 32 << 20;
  r.memory.swap = 96 << 20;
  r.cpu.shares = 1024;
  r.cpu.quota = 50000;
  r.cpu.period = 100000;
  r.cpu.cpus = "0-1";
  r.pidsLimit = 100;
  r.blockIO.weight = 500;
  r.unified["memory.high"] = "max";
  ASSERT_TRUE(writeFileAtomic(root + "/a/b/memory.high", ""));
  auto res = mgr->setResources(r);
  ASSERT_TRUE(res) << res.error().message();
  auto rd = [&](const std::string& f) { return *readFile(root + "/a/b/" + f); };
  EXPECT_EQ(rd("memory.max"), "67108864");
  EXPECT_EQ(rd("memory.low"), "33554432");
  EXPECT_EQ(rd("memory.swap.max"), "33554432");
  EXPECT_EQ(rd("cpu.weight"), "39");  // 1 + (1024-2)*9999/262142
  EXPECT_EQ(rd("cpu.max"), "50000 100000");
  EXPECT_EQ(rd("cpuset.cpus"), "0-1");
  EXPECT_EQ(rd("pids.max"), "100");
  EXPECT_EQ(rd("io.weight"), "default 4950");
  EXPECT_EQ(rd("memory.high"), "max");
  // Controllers were enabled down the path (last write wins in a fake file).
  EXPECT_EQ(readFile(root + "/cgroup.subtree_control")->substr(0, 1), "+");
  EXPECT_EQ(readFile(root + "/a/cgroup.subtree_control")->substr(0, 1), "+");
  Resources bad;
  bad.memory.swap = 1 << 20;
  bad.memory.limit = 2 << 20;
  EXPECT_FALSE(mgr->setResources(bad)) << "swap below the limit is refused";
}

TEST(ResourceWrites, V1OnRealTree) {
  if (::geteuid() != 0 || !pathExists("/sys/fs/cgroup/memory/cgroup.procs"))
    GTEST_SKIP() << "no v1 hierarchy";
  auto l = detect();
  ASSERT_TRUE(l);
  auto mgr = makeV1(*l, "/berth-conformance/res-" + std::to_string(::getpid()));
  ASSERT_TRUE(mgr->create());
  Resources r;
  r.memory.limit = 64 << 20;
  r.cpu.shares = 1024;
  r.cpu.quota = 50000;
  r.cpu.period = 100000;
  r.cpu.cpus = "0";
  r.pidsLimit = 100;
  r.devices = {{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}};
  auto res = mgr->setResources(r);
  EXPECT_TRUE(res) << res.error().message();
  auto rd = [&](const std::string& ctrl, const std::string& f) {
    return trim(*readFile("/sys/fs/cgroup/" + ctrl + mgr->path() + "/" + f));
  };
  EXPECT_EQ(rd("memory", "memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(rd("cpu", "cpu.shares"), "1024");
  EXPECT_EQ(rd("cpu", "cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(rd("cpuset", "cpuset.cpus"), "0");
  EXPECT_EQ(rd("pids", "pids.max"), "100");
  EXPECT_EQ(rd("devices", "devices.list"), "c 1:3 rwm");
  Resources unified;
  unified.unified["memory.high"] = "1";
  EXPECT_FALSE(mgr->setResources(unified)) << "unified needs v2";
  EXPECT_TRUE(mgr->destroy());
  removeParents();
}

}  // namespace
}  // namespace berth::sys::cgroup
