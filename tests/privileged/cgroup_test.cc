// Cgroup limits as the kernel sees them, on the host's v1 hierarchies and on the real v2 hierarchy.
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/file.h"
#include "harness.h"
#include "sys/cgroup.h"

namespace berth::test {
namespace {

using nlohmann::json;

std::string v1(const std::string& ctrl, const Bundle& b, const std::string& file) {
  auto r = readFile("/sys/fs/cgroup/" + ctrl + b.cgroupPath() + "/" + file);
  return r ? trim(*r) : "<missing>";
}

bool hostIsV1() {
  return pathExists("/sys/fs/cgroup/memory/cgroup.procs");
}

TEST(CgroupV1, ResourcesApplyUpdateAndRemove) {
  REQUIRE_ROOT();
  if (!hostIsV1()) GTEST_SKIP() << "host has no cgroup v1 memory hierarchy";
  Bundle b;
  b.config["linux"]["resources"]["memory"] = {{"limit", 64 * 1024 * 1024}, {"reservation", 32 * 1024 * 1024}};
  b.config["linux"]["resources"]["cpu"] = {
      {"shares", 512}, {"quota", 50000}, {"period", 100000}, {"cpus", "0"}};
  b.config["linux"]["resources"]["pids"] = {{"limit", 32}};
  b.args({"/bin/sleep", "100"});
  b.write();
  ASSERT_EQ(b.rt({"run", "-d", "--bundle", b.dir(), b.id()}).code, 0);
  EXPECT_EQ(v1("memory", b, "memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(v1("memory", b, "memory.soft_limit_in_bytes"), "33554432");
  EXPECT_EQ(v1("cpu", b, "cpu.shares"), "512");
  EXPECT_EQ(v1("cpu", b, "cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(v1("cpuset", b, "cpuset.cpus"), "0");
  EXPECT_EQ(v1("pids", b, "pids.max"), "32");
  auto pid = json::parse(b.rt({"state", b.id()}).out)["pid"].get<int>();
  EXPECT_NE(v1("memory", b, "cgroup.procs").find(std::to_string(pid)), std::string::npos);
  // The container sees its own cgroup as the root of its cgroup namespace.
  auto inside = b.rt({"exec", b.id(), "/bin/cat", "/proc/self/cgroup"}).out;
  EXPECT_NE(inside.find(":memory:/\n"), std::string::npos) << inside;
  auto limit = b.rt({"exec", b.id(), "/bin/cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}).out;
  EXPECT_EQ(limit, "67108864\n");

  ASSERT_EQ(b.rt({"update", "--memory", "134217728", "--pids-limit", "64", b.id()}).code, 0);
  EXPECT_EQ(v1("memory", b, "memory.limit_in_bytes"), "134217728");
  EXPECT_EQ(v1("pids", b, "pids.max"), "64");
  auto upd = b.rt({"update", "--resources", "-", b.id()}, R"({"cpu": {"shares": 256}})");
  EXPECT_EQ(upd.code, 0) << upd.err;
  EXPECT_EQ(v1("cpu", b, "cpu.shares"), "256");
  auto bad = b.rt({"update", "--resources", "-", b.id()}, R"({"cpu": {"shares": "lots"}})");
  EXPECT_NE(bad.err.find("resources.cpu.shares"), std::string::npos) << bad.err;

  ASSERT_EQ(b.rt({"delete", "--force", b.id()}).code, 0);
  for (auto c : {"memory", "cpu", "cpuset", "pids", "freezer", "devices"})
    EXPECT_FALSE(pathExists("/sys/fs/cgroup/" + std::string(c) + b.cgroupPath())) << c;
}

TEST(CgroupV1, KillAllReachesEveryProcess) {
  REQUIRE_ROOT();
  if (!hostIsV1()) GTEST_SKIP() << "host has no cgroup v1 hierarchy";
  Bundle b;
  b.args({"/bin/sh", "-c", "sleep 100 & sleep 100 & wait"});
  b.write();
  ASSERT_EQ(b.rt({"run", "-d", "--bundle", b.dir(), b.id()}).code, 0);
  usleep(200000);
  auto ps = json::parse(b.rt({"ps", "--format", "json", b.id()}).out);
  EXPECT_EQ(ps.size(), 3u);
  ASSERT_EQ(b.rt({"kill", "--all", b.id(), "KILL"}).code, 0);
  for (int i = 0; i < 200 && !json::parse(b.rt({"ps", "--format", "json", b.id()}).out).empty(); ++i)
    usleep(10000);
  EXPECT_TRUE(json::parse(b.rt({"ps", "--format", "json", b.id()}).out).empty());
}

TEST(CgroupV1, MemoryLimitIsEnforced) {
  REQUIRE_ROOT();
  if (!hostIsV1()) GTEST_SKIP() << "host has no cgroup v1 hierarchy";
  Bundle b;
  b.config["linux"]["resources"]["memory"] = {{"limit", 16 * 1024 * 1024}, {"swap", 16 * 1024 * 1024}};
  b.config["mounts"].push_back(
      {{"destination", "/big"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"size=64m"}}});
  b.config["process"]["args"] = {"/bin/busybox", "sh", "-c",
                                 "busybox dd if=/dev/zero of=/big/f bs=1M count=48 2>&1; echo rc=$?"};
  auto r = b.runIt();
  EXPECT_EQ(r.out.find("rc=0"), std::string::npos) << "wrote 48M into a 16M cgroup: " << r.out;
}

// A maker's staged cgroup (sys::cgroup::stageV1): adopted, it is the container's cgroup with the process
// that staged it (and so its children) in it; not adopted, it goes and the process moves back out.
TEST(CgroupV1, StagedCgroupAdoptedOrRemoved) {
  REQUIRE_ROOT();
  if (!hostIsV1()) GTEST_SKIP() << "host has no cgroup v1 hierarchy";
  auto layout = sys::cgroup::detect();
  ASSERT_TRUE(layout.has_value());
  const std::string parent = "/berth-stage-test-" + std::to_string(::getpid());
  const std::string target = parent + "/adopted";
  // In a child: the test process keeps its own cgroups. Exit status: which check failed (0: none).
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto staged = sys::cgroup::stageV1(*layout, parent);
    if (!staged || *staged != parent + "/.staged-" + std::to_string(::getpid())) ::_exit(1);
    auto self = readFile("/proc/self/cgroup");
    if (!self || self->find(":memory:" + *staged + "\n") == std::string::npos) ::_exit(2);
    // Only under its own parent (the kernel renames within a parent): refused, nothing moved.
    if (sys::cgroup::makeV1(*layout, parent + "-other/x")->adopt(*staged)) ::_exit(9);
    if (!pathExists("/sys/fs/cgroup/memory" + *staged)) ::_exit(10);
    auto cg = sys::cgroup::makeV1(*layout, target);
    if (!cg->adopt(*staged)) ::_exit(3);
    sys::cgroup::unstageV1(*layout, *staged);  // adopted: nothing to do, the process stays
    self = readFile("/proc/self/cgroup");
    if (!self || self->find(":memory:" + target + "\n") == std::string::npos) ::_exit(4);
    if (pathExists("/sys/fs/cgroup/memory" + *staged)) ::_exit(5);
    // A second one, not adopted: unstaged, nothing of it stays.
    auto again = sys::cgroup::stageV1(*layout, parent);
    if (!again) ::_exit(6);
    sys::cgroup::unstageV1(*layout, *again);
    if (pathExists("/sys/fs/cgroup/memory" + *again) || pathExists("/sys/fs/cgroup/pids" + *again))
      ::_exit(7);
    self = readFile("/proc/self/cgroup");
    if (!self || self->find(":memory:" + parent + "\n") == std::string::npos) ::_exit(8);
    ::_exit(0);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "failed check " << WEXITSTATUS(st);
  // A stale staged cgroup (its process gone) is swept; then everything of the test goes.
  auto stale = sys::cgroup::makeV1(*layout, parent + "/.staged-999999999");
  ASSERT_TRUE(stale->create().has_value());
  sys::cgroup::removeStaleStagedV1(*layout, parent);
  EXPECT_FALSE(pathExists("/sys/fs/cgroup/memory" + parent + "/.staged-999999999"));
  EXPECT_TRUE(sys::cgroup::makeV1(*layout, target)->destroy().has_value());
  EXPECT_TRUE(sys::cgroup::makeV1(*layout, parent)->destroy().has_value());
  EXPECT_FALSE(pathExists("/sys/fs/cgroup/memory" + parent));
}

// The v2 backend on the machine's real (controller-less) v2 hierarchy: membership, freeze, kill, devices.
class CgroupV2Real : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    struct stat st;
    if (stat("/sys/fs/cgroup/unified/cgroup.procs", &st) != 0 &&
        stat("/sys/fs/cgroup/cgroup.controllers", &st) != 0)
      GTEST_SKIP() << "no cgroup v2 hierarchy";
    root_ = pathExists("/sys/fs/cgroup/unified/cgroup.procs") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
    env_ = {"BERTH_CGROUP_V2_ROOT=" + root_};
  }
  std::string root_;
  std::vector<std::string> env_;
};

TEST_F(CgroupV2Real, LifecycleFreezeKillAndDeviceFilter) {
  Bundle b;
  b.config["linux"]["resources"] = {{"devices", {{{"allow", false}, {"access", "rwm"}}}}};
  b.config["linux"]["devices"] = {{{"path", "/dev/full2"}, {"type", "c"}, {"major", 1}, {"minor", 7}}};
  json kept = json::array();
  for (auto& m : b.config["mounts"])
    if (m["destination"] != "/sys/fs/cgroup") kept.push_back(m);
  b.config["mounts"] = kept;
  b.config["mounts"].push_back(
      {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"}, {"options", {"ro"}}});
  b.args({"/bin/sleep", "100"});
  b.write();
  auto r = b.rt({"run", "-d", "--bundle", b.dir(), b.id()}, "", env_);
  ASSERT_EQ(r.code, 0) << r.err;
  std::string dir = root_ + b.cgroupPath();
  auto pid = json::parse(b.rt({"state", b.id()}).out)["pid"].get<int>();
  EXPECT_NE(readFile(dir + "/cgroup.procs")->find(std::to_string(pid)), std::string::npos);
  // The default device rules allow /dev/null (1:3) but not a /dev/full alias (1:7 is allowed by default too),
  // so check a device outside every rule: 1:11 (kmsg).
  auto dev = b.rt({"exec", b.id(), "/bin/sh", "-c",
                   "echo x > /dev/null && echo null-ok; mknod /tmp/k c 1 11; "
                   "cat /tmp/k >/dev/null 2>&1 && echo kmsg-open || echo kmsg-denied"});
  EXPECT_NE(dev.out.find("null-ok"), std::string::npos) << dev.out << dev.err;
  EXPECT_NE(dev.out.find("kmsg-denied"), std::string::npos) << dev.out;
  // Born in the cgroup (clone3 CLONE_INTO_CGROUP) and rooted there by its cgroup namespace.
  auto self = b.rt({"exec", b.id(), "/bin/cat", "/proc/1/cgroup"}).out;
  EXPECT_NE(self.find("0::/\n"), std::string::npos) << self;
  auto mounts = b.rt({"exec", b.id(), "/bin/probe", "mounts"}).out;
  EXPECT_NE(mounts.find(" /sys/fs/cgroup ro"), std::string::npos) << mounts;
  EXPECT_NE(mounts.find("cgroup2"), std::string::npos) << mounts;

  ASSERT_EQ(b.rt({"pause", b.id()}).code, 0);
  EXPECT_EQ(trim(*readFile(dir + "/cgroup.freeze")), "1");
  EXPECT_EQ(json::parse(b.rt({"state", b.id()}).out)["status"], "paused");
  ASSERT_EQ(b.rt({"resume", b.id()}).code, 0);
  EXPECT_EQ(json::parse(b.rt({"state", b.id()}).out)["status"], "running");
  ASSERT_EQ(b.rt({"kill", "--all", b.id(), "KILL"}).code, 0);
  for (int i = 0; i < 200 && json::parse(b.rt({"state", b.id()}).out)["status"] != "stopped"; ++i)
    usleep(10000);
  EXPECT_EQ(json::parse(b.rt({"state", b.id()}).out)["status"], "stopped");
  ASSERT_EQ(b.rt({"delete", b.id()}).code, 0);
  EXPECT_FALSE(pathExists(dir));
}

}  // namespace
}  // namespace berth::test
