#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>

#include <nlohmann/json.hpp>

#include "oci/config.h"

namespace berth::oci {
namespace {

using nlohmann::json;

json minimal() {
  return json::parse(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},
    "process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"mount"}]}})");
}

std::string errorOf(const json& j) {
  auto r = parseConfig(j.dump(), "/bundle");
  EXPECT_FALSE(r.has_value());
  return r ? "" : r.error().message();
}

TEST(ParseConfig, DefaultSpecRoundTrips) {
  auto c = parseConfig(defaultSpec(false, 0, 0), "/b");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->rootPath, "/b/rootfs");
  EXPECT_TRUE(c->rootReadonly);
  ASSERT_TRUE(c->process);
  EXPECT_EQ(c->process->args, std::vector<std::string>{"sh"});
  EXPECT_TRUE(c->linux.hasNamespace(CLONE_NEWPID));
  EXPECT_TRUE(c->linux.hasNamespace(CLONE_NEWCGROUP));
  EXPECT_EQ(c->process->capabilities->bounding, (1ULL << 29) | (1ULL << 5) | (1ULL << 10));
  EXPECT_EQ(c->mounts.size(), 7u);
  auto rootless = parseConfig(defaultSpec(true, 1000, 1000), "/b");
  ASSERT_TRUE(rootless) << rootless.error().message();
  EXPECT_TRUE(rootless->linux.hasNamespace(CLONE_NEWUSER));
  EXPECT_EQ(rootless->linux.uidMappings[0].hostId, 1000u);
}

TEST(ParseConfig, ErrorsNameTheJsonPath) {
  auto j = minimal();
  j["linux"]["namespaces"].push_back({{"type", "nope"}});
  EXPECT_NE(errorOf(j).find("linux.namespaces[1].type: unknown namespace type \"nope\""), std::string::npos);
  j = minimal();
  j["process"]["capabilities"] = {{"bounding", {"CAP_CHOWN", "CAP_FLY"}}};
  EXPECT_NE(errorOf(j).find("process.capabilities.bounding[1]: unknown capability"), std::string::npos);
  j = minimal();
  j["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 10}, {"hard", 5}}};
  EXPECT_NE(errorOf(j).find("process.rlimits[0]: soft limit is above the hard limit"), std::string::npos);
  j = minimal();
  j["process"]["user"] = {{"uid", -1}};
  EXPECT_NE(errorOf(j).find("process.user.uid: must not be negative"), std::string::npos);
  j = minimal();
  j["mounts"] = {{{"destination", "/x"}, {"type", "bind"}, {"options", {"rbind"}}}};
  EXPECT_NE(errorOf(j).find("mounts[0].source: is required"), std::string::npos);
  j = minimal();
  j["linux"]["intelRdt"] = json::object();
  EXPECT_NE(errorOf(j).find("linux.intelRdt: is not supported"), std::string::npos);
  j = minimal();
  j["ociVersion"] = "2.0.0";
  EXPECT_NE(errorOf(j).find("unsupported version"), std::string::npos);
  j = minimal();
  j["hostname"] = "h";
  EXPECT_NE(errorOf(j).find("uts namespace"), std::string::npos);
  j = minimal();
  j["linux"]["namespaces"].push_back({{"type", "user"}});
  EXPECT_NE(errorOf(j).find("needs uid and gid mappings"), std::string::npos);
  j = minimal();
  j["linux"]["resources"] = {{"memory", {{"limit", "big"}}}};
  EXPECT_NE(errorOf(j).find("linux.resources.memory.limit: must be an integer"), std::string::npos);
  j = minimal();
  j["linux"]["sysctl"] = {{"../../etc", "1"}};
  EXPECT_NE(errorOf(j).find("is not a sysctl name"), std::string::npos);
  EXPECT_NE(parseConfig("{\"ociVersion\": ", "/b").error().message().find("invalid JSON"), std::string::npos);
  EXPECT_NE(parseConfig("[]", "/b").error().message().find("must be an object"), std::string::npos);
}

TEST(ParseConfig, MountOptions) {
  Mount m;
  m.type = "tmpfs";
  m.options = {"nosuid", "nodev", "ro", "mode=755", "size=64k", "rslave"};
  ASSERT_TRUE(parseMountOptions(m));
  EXPECT_EQ(m.flags, static_cast<unsigned long>(MS_NOSUID | MS_NODEV | MS_RDONLY));
  EXPECT_EQ(m.data, "mode=755,size=64k");
  EXPECT_EQ(m.propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
  Mount b;
  b.type = "none";
  b.options = {"rbind", "ro", "rw"};
  ASSERT_TRUE(parseMountOptions(b));
  EXPECT_TRUE(b.bind);
  EXPECT_TRUE(b.recursive);
  EXPECT_EQ(b.flags, 0u);
  Mount bad;
  bad.type = "bind";
  bad.options = {"idmap"};
  EXPECT_FALSE(parseMountOptions(bad));
}

TEST(ParseConfig, SeccompAndHooks) {
  auto j = minimal();
  j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ERRNO"},
                           {"defaultErrnoRet", 1},
                           {"syscalls", {{{"names", {"read"}}, {"action", "SCMP_ACT_ALLOW"}}}}};
  j["hooks"] = {{"prestart", {{{"path", "/bin/true"}, {"timeout", 3}}}}};
  auto c = parseConfig(j.dump(), "/b");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->linux.seccomp->syscalls[0].names[0], "read");
  EXPECT_EQ(*c->hooks.prestart[0].timeout, 3);
  j["hooks"] = {{"poststop", {{{"path", "relative"}}}}};
  EXPECT_NE(errorOf(j).find("hooks.poststop[0].path: must be an absolute path"), std::string::npos);
}

TEST(ParseProcess, ForExec) {
  auto p = parseProcess(R"({"args":["ls","-l"],"cwd":"/tmp","env":["A=1"],"terminal":true})");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->cwd, "/tmp");
  EXPECT_TRUE(p->terminal);
  EXPECT_FALSE(parseProcess(R"({"args":[]})"));
  EXPECT_NE(parseProcess(R"({"args":["x"],"cwd":"rel"})").error().message().find("process.json: cwd"),
            std::string::npos);
}

TEST(ParseSignal, NamesAndNumbers) {
  EXPECT_EQ(*parseSignal("KILL"), SIGKILL);
  EXPECT_EQ(*parseSignal("SIGTERM"), SIGTERM);
  EXPECT_EQ(*parseSignal("sigusr1"), SIGUSR1);
  EXPECT_EQ(*parseSignal("9"), 9);
  EXPECT_EQ(*parseSignal("RTMIN+1"), SIGRTMIN + 1);
  EXPECT_FALSE(parseSignal("NOPE"));
  EXPECT_FALSE(parseSignal("0"));
  EXPECT_FALSE(parseSignal("99999"));
  EXPECT_FALSE(parseSignal(""));
}

}  // namespace
}  // namespace berth::oci
