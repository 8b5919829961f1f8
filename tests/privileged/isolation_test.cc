// What a container really gets: asserted from inside with the probe.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <thread>

#include "base/file.h"
#include "harness.h"
#include "sys/tty.h"

namespace berth::test {
namespace {

using nlohmann::json;

TEST(Isolation, CapabilitiesAndNoNewPrivs) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/probe", "caps"});
  auto caps = kv(b.runIt().out);
  // Default spec: CAP_AUDIT_WRITE(29), CAP_KILL(5), CAP_NET_BIND_SERVICE(10).
  EXPECT_EQ(caps["CapEff"], "0000000020000420");
  EXPECT_EQ(caps["CapBnd"], "0000000020000420");
  // Ambient needs permitted+inheritable; the default spec has no inheritable set (runc behaves the same).
  EXPECT_EQ(caps["CapAmb"], "0000000000000000");
  EXPECT_EQ(caps["NoNewPrivs"], "1");
  b.config["process"]["capabilities"] = {{"bounding", {"CAP_SYS_ADMIN", "CAP_CHOWN"}},
                                         {"effective", {"CAP_CHOWN"}},
                                         {"permitted", {"CAP_CHOWN"}}};
  b.config["process"]["noNewPrivileges"] = false;
  caps = kv(b.runIt().out);
  // uid 0 regains its bounding set at execve (kernel rule for root); a non-root user keeps only ambient.
  EXPECT_EQ(caps["CapEff"], "0000000000200001");
  EXPECT_EQ(caps["CapBnd"], "0000000000200001");
  EXPECT_EQ(caps["CapAmb"], "0000000000000000");
  EXPECT_EQ(caps["NoNewPrivs"], "0");
  b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  b.config["process"]["capabilities"] = {{"bounding", {"CAP_NET_RAW", "CAP_CHOWN"}},
                                         {"effective", {"CAP_NET_RAW"}},
                                         {"permitted", {"CAP_NET_RAW"}},
                                         {"inheritable", {"CAP_NET_RAW"}},
                                         {"ambient", {"CAP_NET_RAW"}}};
  caps = kv(b.runIt().out);
  EXPECT_EQ(caps["CapEff"], "0000000000002000");
  EXPECT_EQ(caps["CapAmb"], "0000000000002000");
  EXPECT_EQ(caps["CapBnd"], "0000000000002001");
}

TEST(Isolation, UserGroupsUmaskCwdEnv) {
  REQUIRE_ROOT();
  Bundle b;
  b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1001}, {"additionalGids", {5, 6}}, {"umask", 077}};
  b.config["process"]["cwd"] = "/tmp";
  b.config["process"]["env"] = {"PATH=/bin", "HELLO=world"};
  b.args({"probe", "id"});
  auto id = kv(b.runIt().out);
  EXPECT_EQ(id["uid"], "1000");
  EXPECT_EQ(id["gid"], "1001");
  EXPECT_EQ(id["groups"], "5,6");
  EXPECT_EQ(id["umask"], "077");
  b.args({"probe", "cwd"});
  EXPECT_EQ(kv(b.runIt().out)["cwd"], "/tmp");
  b.args({"probe", "env"});
  auto env = b.runIt().out;
  EXPECT_NE(env.find("HELLO=world"), std::string::npos);
}

TEST(Isolation, NamespacesAndHostname) {
  REQUIRE_ROOT();
  Bundle b;
  b.config["hostname"] = "berth-test-host";
  b.config["domainname"] = "example.test";
  b.args({"/bin/probe", "hostname"});
  auto h = kv(b.runIt().out);
  EXPECT_EQ(h["hostname"], "berth-test-host");
  EXPECT_EQ(h["domainname"], "example.test");
  b.args({"/bin/probe", "ns"});
  auto inside = kv(b.runIt().out);
  auto host = kv(run({probeBin(), "ns"}).out);
  for (auto n : {"pid", "mnt", "net", "ipc", "uts", "cgroup"}) EXPECT_NE(inside[n], host[n]) << n;
  EXPECT_EQ(inside["user"], host["user"]);
  // pid 1 inside.
  b.args({"/bin/sh", "-c", "echo $$"});
  EXPECT_EQ(b.runIt().out, "1\n");
  // A new network namespace has its loopback device up (IFF_UP | IFF_LOOPBACK), as with runc and crun.
  b.args({"/bin/sh", "-c", "cat /sys/class/net/lo/flags"});
  EXPECT_EQ(b.runIt().out, "0x9\n");
  // Joining a namespace by path: the host's network namespace.
  auto& ns = b.config["linux"]["namespaces"];
  for (auto& n : ns)
    if (n["type"] == "network") n["path"] = "/proc/self/ns/net";
  b.args({"/bin/probe", "ns"});
  auto joined = kv(b.runIt().out);
  EXPECT_EQ(joined["net"], host["net"]);
}

TEST(Isolation, UserNamespaceWithMappings) {
  REQUIRE_ROOT();
  Bundle b;
  b.config["linux"]["namespaces"].push_back({{"type", "user"}});
  b.config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  b.config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  // sysfs and cgroup v1 need the init user namespace: bind the host's, as rootless specs do.
  json mounts = json::array();
  for (auto& m : b.config["mounts"]) {
    if (m["destination"] == "/sys/fs/cgroup") continue;
    mounts.push_back(m);
  }
  b.config["mounts"] = mounts;
  chmod(b.dir().c_str(), 0755);  // the mapped root must be able to reach its rootfs
  chown(b.rootfs().c_str(), 100000, 100000);
  b.args({"/bin/probe", "id"});
  auto r = b.runIt();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(kv(r.out)["uid"], "0");
  b.args({"/bin/cat", "/proc/self/uid_map"});
  auto map = b.runIt().out;
  EXPECT_NE(map.find("100000"), std::string::npos) << map;
}

TEST(Isolation, MountsMasksAndReadonly) {
  REQUIRE_ROOT();
  Bundle b;
  mkdir((b.dir() + "/shared").c_str(), 0755);
  (void)writeFileAtomic(b.dir() + "/shared/hello", "from host");
  b.config["mounts"].push_back({{"destination", "/data"},
                                {"type", "bind"},
                                {"source", b.dir() + "/shared"},
                                {"options", {"rbind", "ro"}}});
  b.config["mounts"].push_back({{"destination", "/scratch"},
                                {"type", "tmpfs"},
                                {"source", "tmpfs"},
                                {"options", {"nosuid", "size=1m"}}});
  b.config["root"]["readonly"] = true;
  b.args({"/bin/sh", "-c",
          "cat /data/hello; echo; touch /data/x 2>/dev/null && echo data-writable; "
          "touch /scratch/x && echo scratch-ok; touch /newfile 2>/dev/null && echo root-writable; "
          "cat /proc/kcore 2>&1 | wc -c; ls /sys/firmware | wc -l; "
          "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo procsys-writable; exit 0"});
  auto r = b.runIt();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("from host"), std::string::npos);
  EXPECT_EQ(r.out.find("data-writable"), std::string::npos);
  EXPECT_NE(r.out.find("scratch-ok"), std::string::npos);
  EXPECT_EQ(r.out.find("root-writable"), std::string::npos);
  EXPECT_EQ(r.out.find("procsys-writable"), std::string::npos);
  b.args({"/bin/probe", "stat", "/proc/keys"});
  auto keys = kv(b.runIt().out);
  EXPECT_EQ(keys["type"], "char") << "masked by /dev/null";
}

TEST(Isolation, DevicesAndDeviceCgroup) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/probe", "stat", "/dev/null"});
  auto null = kv(b.runIt().out);
  EXPECT_EQ(null["type"], "char");
  EXPECT_EQ(null["rdev"], "1:3");
  EXPECT_EQ(null["mode"], "0666");
  b.args({"/bin/probe", "stat", "/dev/ptmx"});
  EXPECT_EQ(kv(b.runIt().out)["target"], "pts/ptmx");
  b.args({"/bin/probe", "stat", "/dev/fd"});
  EXPECT_EQ(kv(b.runIt().out)["target"], "/proc/self/fd");
  // A device node from linux.devices that the cgroup does not allow cannot be opened.
  b.config["linux"]["devices"] = {
      {{"path", "/dev/kmsg-copy"}, {"type", "c"}, {"major", 1}, {"minor", 11}, {"fileMode", 0600}}};
  b.args({"/bin/sh", "-c",
          "ls -l /dev/kmsg-copy; cat /dev/kmsg-copy > /dev/null 2>&1 && echo opened || echo denied"});
  auto r = b.runIt();
  EXPECT_NE(r.out.find("crw-------"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("denied"), std::string::npos) << r.out;
}

TEST(Isolation, SessionKeyring) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/probe", "keyring"});
  auto host = kv(run({probeBin(), "keyring"}).out)["session"];
  auto fresh = kv(b.runIt().out)["session"];
  EXPECT_NE(fresh, host) << "each container gets its own session keyring";
  auto shared = kv(b.runIt({"--no-new-keyring"}).out)["session"];
  EXPECT_EQ(shared, host);
}

TEST(Isolation, OomScoreAdjNoPivotAndPersonality) {
  REQUIRE_ROOT();
  Bundle b;
  b.config["process"]["oomScoreAdj"] = 500;
  b.args({"/bin/cat", "/proc/self/oom_score_adj"});
  EXPECT_EQ(b.runIt().out, "500\n");
  b.args({"/bin/probe", "cwd"});
  auto r = b.runIt({"--no-pivot"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(kv(r.out)["cwd"], "/");
  b.config["linux"]["personality"] = {{"domain", "LINUX32"}};
  b.args({"/bin/busybox", "uname", "-m"});
  EXPECT_EQ(b.runIt().out, "i686\n");
}

TEST(Isolation, Rlimits) {
  REQUIRE_ROOT();
  Bundle b;
  b.config["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 512}, {"hard", 1024}},
                                    {{"type", "RLIMIT_CORE"}, {"soft", 0}, {"hard", 0}}};
  b.args({"/bin/probe", "rlimits"});
  auto r = kv(b.runIt().out);
  EXPECT_EQ(r["RLIMIT_NOFILE"], "512:1024");
  EXPECT_EQ(r["RLIMIT_CORE"], "0:0");
}

TEST(Isolation, Seccomp) {
  REQUIRE_ROOT();
  Bundle b;
  b.config["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}},
      {"syscalls",
       {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 38}},
        {{"names", {"personality"}},
         {"action", "SCMP_ACT_ERRNO"},
         {"args", {{{"index", 0}, {"value", 0xffffffffu}, {"op", "SCMP_CMP_EQ"}}}}}}}};
  b.args({"/bin/probe", "syscall", "mkdir"});
  EXPECT_EQ(kv(b.runIt().out)["mkdir"], "38");
  b.args({"/bin/probe", "syscall", "personality"});
  EXPECT_EQ(kv(b.runIt().out)["personality"], "1");
  b.args({"/bin/probe", "seccomp"});
  EXPECT_EQ(kv(b.runIt().out)["Seccomp"], "2");
  b.config["linux"]["seccomp"]["defaultAction"] = "SCMP_ACT_BOGUS";
  auto bad = b.runIt();
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("linux.seccomp"), std::string::npos) << bad.err;
}

TEST(Isolation, Sysctl) {
  REQUIRE_ROOT();
  Bundle b;
  b.config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
  b.config["linux"]["readonlyPaths"] = json::array();
  b.args({"/bin/cat", "/proc/sys/net/ipv4/ip_forward"});
  EXPECT_EQ(b.runIt().out, "1\n");
}

TEST(Isolation, Hooks) {
  REQUIRE_ROOT();
  Bundle b;
  std::string out = b.dir() + "/hooks";
  mkdir(out.c_str(), 0755);
  auto hook = [&](const std::string& name) {
    return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > " + out + "/" + name}}};
  };
  b.config["hooks"] = {{"prestart", {hook("prestart")}},
                       {"createRuntime", {hook("createRuntime")}},
                       {"createContainer", {hook("createContainer")}},
                       {"poststart", {hook("poststart")}},
                       {"poststop", {hook("poststop")}}};
  b.args({"/bin/true"});
  auto r = b.runIt();
  EXPECT_EQ(r.code, 0) << r.err;
  for (auto n : {"prestart", "createRuntime", "createContainer", "poststart", "poststop"}) {
    auto st = readFile(out + "/" + n);
    ASSERT_TRUE(st.has_value()) << n;
    auto j = json::parse(*st);
    EXPECT_EQ(j["id"], b.id()) << n;
    if (std::string(n) == "poststop")
      EXPECT_EQ(j["status"], "stopped");
    else
      EXPECT_GT(j["pid"].get<int>(), 0) << n;
  }
  // A failing hook fails create, with its name in the error.
  b.config["hooks"] = {{"prestart", {{{"path", "/bin/false"}}}}};
  auto bad = b.runIt();
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("prestart hook /bin/false failed"), std::string::npos) << bad.err;
  b.config["hooks"] = {
      {"createRuntime", {{{"path", "/bin/sleep"}, {"args", {"sleep", "10"}}, {"timeout", 1}}}}};
  auto slow = b.runIt();
  EXPECT_NE(slow.err.find("timed out"), std::string::npos) << slow.err;
}

TEST(Isolation, TerminalThroughConsoleSocket) {
  REQUIRE_ROOT();
  Bundle b;
  std::string sockPath = b.dir() + "/console.sock";
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, sockPath.c_str());
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  listen(ls, 1);
  b.config["process"]["terminal"] = true;
  b.config["process"]["consoleSize"] = {{"height", 30}, {"width", 100}};
  b.args({"/bin/sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; stty size; sleep 1"});
  b.write();
  std::string got;
  std::thread reader([&] {
    int c = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    auto master = sys::tty::recvFd(c);
    close(c);
    if (!master) return;
    char buf[256];
    ssize_t n;
    while ((n = read(master->get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  });
  auto r = b.rt({"run", "-d", "--console-socket", sockPath, "--bundle", b.dir(), b.id()});
  EXPECT_EQ(r.code, 0) << r.err;
  reader.join();
  close(ls);
  EXPECT_NE(got.find("is-a-tty"), std::string::npos) << got;
  EXPECT_NE(got.find("30 100"), std::string::npos) << got;
  // Without a console socket, a detached terminal container is refused clearly.
  auto refused = b.rt({"create", "--bundle", b.dir(), b.id() + "x"});
  EXPECT_NE(refused.err.find("console-socket"), std::string::npos) << refused.err;
}

TEST(Isolation, ForegroundRunRelaysTheTerminal) {
  REQUIRE_ROOT();
  Bundle b;
  b.config["process"]["terminal"] = true;
  b.args({"/bin/sh", "-c", "test -t 1 && echo relayed-tty; exit 4"});
  auto r = b.runIt();
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_NE(r.out.find("relayed-tty"), std::string::npos) << r.out;
  b.config["process"]["terminal"] = false;
  b.args({"/bin/sh", "-c", "test -t 1 || echo no-tty"});
  EXPECT_EQ(b.runIt().out, "no-tty\n");
}

TEST(Isolation, PreserveFds) {
  REQUIRE_ROOT();
  Bundle b;
  b.args({"/bin/probe", "fds"});
  b.write();
  // Run through sh so that fd 3 is open for --preserve-fds 1.
  auto r = run({"/bin/sh", "-c",
                runtimeBin() + " --root " + b.stateRoot() + " run --preserve-fds 1 --bundle " + b.dir() +
                    " " + b.id() + " 3</etc/passwd"});
  auto fds = kv(r.out);
  EXPECT_EQ(fds["3"], "/etc/passwd") << r.out << r.err;
  EXPECT_EQ(fds.count("4"), 0u) << r.out;
}

}  // namespace
}  // namespace berth::test
