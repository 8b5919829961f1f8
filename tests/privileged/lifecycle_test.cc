// Lifecycle and command-line behaviour of berth-runtime against real namespaces.
#include <sys/stat.h>

#include "base/file.h"
#include "harness.h"

namespace berth::test {
namespace {

using nlohmann::json;

TEST(Lifecycle, RunPrintsAndReturnsExitCode) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/echo", "hello from berth"});
  auto r = b.runIt();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "hello from berth\n");
  b.args({"/bin/probe", "exit", "42"});
  EXPECT_EQ(b.runIt().code, 42);
  // The container is gone after run.
  EXPECT_NE(b.rt({"state", b.id()}).code, 0);
}

TEST(Lifecycle, CreateStartStateKillDelete) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/sleep", "100"});
  b.write();
  auto c = b.rt({"create", "--bundle", b.dir(), "--pid-file", b.dir() + "/pid", b.id()});
  ASSERT_EQ(c.code, 0) << c.err;
  auto st = json::parse(b.rt({"state", b.id()}).out);
  EXPECT_EQ(st["status"], "created");
  EXPECT_EQ(st["id"], b.id());
  EXPECT_EQ(st["bundle"], b.dir());
  EXPECT_EQ(st["ociVersion"].get<std::string>().substr(0, 2), "1.");
  int pid = st["pid"];
  EXPECT_GT(pid, 0);
  EXPECT_EQ(std::to_string(pid), *readFile(b.dir() + "/pid"));
  auto list = b.rt({"list", "-q"});
  EXPECT_NE(list.out.find(b.id()), std::string::npos);

  ASSERT_EQ(b.rt({"start", b.id()}).code, 0);
  EXPECT_EQ(json::parse(b.rt({"state", b.id()}).out)["status"], "running");
  auto again = b.rt({"start", b.id()});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("already running"), std::string::npos) << again.err;

  auto del = b.rt({"delete", b.id()});
  EXPECT_NE(del.code, 0);
  EXPECT_NE(del.err.find("not stopped"), std::string::npos) << del.err;

  ASSERT_EQ(b.rt({"kill", b.id(), "KILL"}).code, 0);
  for (int i = 0; i < 200; ++i) {
    if (json::parse(b.rt({"state", b.id()}).out)["status"] == "stopped") break;
    usleep(10000);
  }
  EXPECT_EQ(json::parse(b.rt({"state", b.id()}).out)["status"], "stopped");
  auto k = b.rt({"kill", b.id(), "KILL"});
  EXPECT_NE(k.code, 0);
  EXPECT_NE(k.err.find("not running"), std::string::npos);
  ASSERT_EQ(b.rt({"delete", b.id()}).code, 0);
  auto gone = b.rt({"state", b.id()});
  EXPECT_NE(gone.code, 0);
  EXPECT_NE(gone.err.find("does not exist"), std::string::npos);
  EXPECT_FALSE(pathExists("/sys/fs/cgroup/memory" + b.cgroupPath()));
  EXPECT_FALSE(pathExists(b.stateRoot() + "/" + b.id()));
}

TEST(Lifecycle, DeleteCreatedAndForceRunning) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/sleep", "100"});
  b.write();
  ASSERT_EQ(b.rt({"create", "--bundle", b.dir(), b.id()}).code, 0);
  EXPECT_EQ(b.rt({"delete", b.id()}).code, 0);
  ASSERT_EQ(b.rt({"run", "-d", "--bundle", b.dir(), b.id()}).code, 0);
  EXPECT_EQ(json::parse(b.rt({"state", b.id()}).out)["status"], "running");
  EXPECT_EQ(b.rt({"delete", "--force", b.id()}).code, 0);
  EXPECT_FALSE(pathExists("/sys/fs/cgroup/pids" + b.cgroupPath()));
  EXPECT_EQ(b.rt({"delete", "--force", "never-existed"}).code, 0);
}

TEST(Lifecycle, KillSignalsByNameAndNumber) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/probe", "trap-term"});
  b.write();
  ASSERT_EQ(b.rt({"run", "-d", "--bundle", b.dir(), b.id()}).code, 0);
  usleep(100000);
  EXPECT_EQ(b.rt({"kill", b.id(), "15"}).code, 0);
  for (int i = 0; i < 200; ++i) {
    if (json::parse(b.rt({"state", b.id()}).out)["status"] == "stopped") break;
    usleep(10000);
  }
  EXPECT_EQ(json::parse(b.rt({"state", b.id()}).out)["status"], "stopped");
  auto bad = b.rt({"kill", b.id(), "SIGNOPE"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("unknown signal"), std::string::npos) << bad.err;
}

TEST(Lifecycle, PauseResumeAndPs) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/sleep", "100"});
  b.write();
  ASSERT_EQ(b.rt({"run", "-d", "--bundle", b.dir(), b.id()}).code, 0);
  ASSERT_EQ(b.rt({"pause", b.id()}).code, 0);
  EXPECT_EQ(json::parse(b.rt({"state", b.id()}).out)["status"], "paused");
  EXPECT_NE(b.rt({"exec", b.id(), "/bin/true"}).code, 0);
  ASSERT_EQ(b.rt({"resume", b.id()}).code, 0);
  EXPECT_EQ(json::parse(b.rt({"state", b.id()}).out)["status"], "running");
  EXPECT_NE(b.rt({"resume", b.id()}).code, 0);
  auto ps = json::parse(b.rt({"ps", "--format", "json", b.id()}).out);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0], json::parse(b.rt({"state", b.id()}).out)["pid"]);
  auto table = b.rt({"ps", b.id()});
  EXPECT_NE(table.out.find("PID"), std::string::npos);
  EXPECT_NE(table.out.find("sleep 100"), std::string::npos) << table.out;
}

TEST(Lifecycle, Exec) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/sleep", "100"});
  b.config["process"]["env"].push_back("FROM_CONFIG=1");
  b.write();
  ASSERT_EQ(b.rt({"run", "-d", "--bundle", b.dir(), b.id()}).code, 0);
  auto nsInit = kv(b.rt({"exec", b.id(), "/bin/probe", "ns"}).out);
  EXPECT_FALSE(nsInit["pid"].empty());
  auto selfNs = kv(run({probeBin(), "ns"}).out);
  EXPECT_NE(nsInit["mnt"], selfNs["mnt"]);
  EXPECT_NE(nsInit["pid"], selfNs["pid"]);
  auto env = b.rt({"exec", "--env", "EXTRA=2", "--cwd", "/tmp", b.id(), "/bin/probe", "env"});
  EXPECT_NE(env.out.find("FROM_CONFIG=1"), std::string::npos);
  EXPECT_NE(env.out.find("EXTRA=2"), std::string::npos);
  EXPECT_EQ(kv(b.rt({"exec", "--cwd", "/tmp", b.id(), "/bin/probe", "cwd"}).out)["cwd"], "/tmp");
  EXPECT_EQ(b.rt({"exec", b.id(), "/bin/probe", "exit", "7"}).code, 7);
  auto id = kv(b.rt({"exec", "--user", "65534:65534", b.id(), "/bin/probe", "id"}).out);
  EXPECT_EQ(id["uid"], "65534");
  EXPECT_EQ(id["gid"], "65534");
  auto badUser = b.rt({"exec", "--user", "nobody:x", b.id(), "/bin/true"});
  EXPECT_EQ(badUser.code, 1);
  EXPECT_NE(badUser.err.find("--user must be uid[:gid]"), std::string::npos) << badUser.err;
  auto missing = b.rt({"exec", b.id(), "nosuchcommand"});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("executable file not found"), std::string::npos) << missing.err;
  // --process with a JSON process spec, detached, with a pid file.
  (void)writeFileAtomic(
      b.dir() + "/p.json",
      R"({"args":["/bin/probe","write","/tmp/from-exec","ok"],"cwd":"/","env":["PATH=/bin"]})");
  auto d = b.rt(
      {"exec", "--process", b.dir() + "/p.json", "--detach", "--pid-file", b.dir() + "/exec.pid", b.id()});
  EXPECT_EQ(d.code, 0) << d.err;
  EXPECT_TRUE(pathExists(b.dir() + "/exec.pid"));
  usleep(200000);
  EXPECT_EQ(*readFile(b.rootfs() + "/tmp/from-exec"), "ok");
}

TEST(BadInput, ClearErrorsAndNothingLeftBehind) {
  REQUIRE_ROOT();
  Bundle b;
  auto missing = b.rt({"create", "--bundle", "/nonexistent-bundle", b.id()});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("config.json"), std::string::npos) << missing.err;

  (void)writeFileAtomic(b.dir() + "/config.json",
                        "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"},,}");
  auto malformed = b.rt({"create", "--bundle", b.dir(), b.id()});
  EXPECT_EQ(malformed.code, 1);
  EXPECT_NE(malformed.err.find("invalid JSON"), std::string::npos) << malformed.err;
  EXPECT_EQ(malformed.err.find('\n'), malformed.err.size() - 1) << "one line: " << malformed.err;

  b.config["linux"]["namespaces"].push_back({{"type", "bogus"}});
  b.write();
  auto badNs = b.rt({"create", "--bundle", b.dir(), b.id()});
  EXPECT_NE(badNs.err.find("linux.namespaces["), std::string::npos) << badNs.err;
  b.config["linux"]["namespaces"].erase(b.config["linux"]["namespaces"].size() - 1);

  auto badId = b.rt({"create", "--bundle", b.dir(), "../escape"});
  EXPECT_NE(badId.code, 0);
  EXPECT_NE(badId.err.find("invalid container id"), std::string::npos) << badId.err;

  b.args({"/bin/sleep", "100"});
  b.write();
  ASSERT_EQ(b.rt({"create", "--bundle", b.dir(), b.id()}).code, 0);
  auto dup = b.rt({"create", "--bundle", b.dir(), b.id()});
  EXPECT_NE(dup.code, 0);
  EXPECT_NE(dup.err.find("already exists"), std::string::npos) << dup.err;
  EXPECT_EQ(b.rt({"delete", b.id()}).code, 0);

  // A failure inside the child (missing executable) leaves no state, cgroup or mount behind.
  std::string mountsBefore = *readFile("/proc/self/mountinfo");
  b.args({"/bin/does-not-exist"});
  b.config["process"]["cwd"] = "/no/such/dir";
  b.write();
  auto bad = b.rt({"create", "--bundle", b.dir(), b.id()});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("chdir to cwd"), std::string::npos) << bad.err;
  EXPECT_FALSE(pathExists(b.stateRoot() + "/" + b.id()));
  EXPECT_FALSE(pathExists("/sys/fs/cgroup/memory" + b.cgroupPath()));
  EXPECT_EQ(mountsBefore, *readFile("/proc/self/mountinfo"));
  auto unknownCmd = b.rt({"frobnicate"});
  EXPECT_NE(unknownCmd.code, 0);
  auto systemd = b.rt({"--systemd-cgroup", "state", "x"});
  EXPECT_NE(systemd.err.find("not supported"), std::string::npos);
}

TEST(Cli, SpecFeaturesVersion) {
  REQUIRE_ROOT();
  Bundle b;  // wrote a spec already: a second one refuses to overwrite it
  auto again = b.rt({"spec", "--bundle", b.dir()});
  EXPECT_NE(again.code, 0);
  auto f = json::parse(b.rt({"features"}).out);
  EXPECT_EQ(f["ociVersionMax"], "1.2.0");
  EXPECT_TRUE(f["linux"]["seccomp"]["enabled"].get<bool>());
  auto v = b.rt({"--version"});
  EXPECT_NE(v.out.find("berth-runtime version"), std::string::npos);
  auto tmp = b.dir() + "/rootless";
  mkdir(tmp.c_str(), 0755);
  EXPECT_EQ(b.rt({"spec", "--rootless", "--bundle", tmp}).code, 0);
  auto spec = json::parse(*readFile(tmp + "/config.json"));
  EXPECT_EQ(spec["linux"]["uidMappings"][0]["hostID"], 0);
}

TEST(Cli, JsonLogFormat) {
  REQUIRE_ROOT();
  Bundle b;
  auto r = b.rt({"--log", b.dir() + "/log.json", "--log-format", "json", "state", "nope"});
  EXPECT_NE(r.code, 0);
  auto line = json::parse(*readFile(b.dir() + "/log.json"));
  EXPECT_EQ(line["level"], "error");
  EXPECT_NE(line["msg"].get<std::string>().find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace berth::test
