// The engine's rules through its own code paths, with a fake host (no mounts, in-process shims that speak
// berth-shim's protocol: fake_task_host.h) and a real image service on vfs in a temporary directory:
// create's validation, starts, exits and OOM kills, stop's signals, restart policies and their backoff, the
// wait conditions, what a removal takes away, and a daemon restart with containers running or ended.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../common/tar_builder.h"
#include "base/file.h"
#include "engine/engine.h"
#include "fake_task_host.h"
#include "gtest/gtest.h"

using namespace berth;
using namespace berth::engine;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

bool exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

// Polls `cond` every 5 ms for up to 5 s.
bool eventually(const std::function<bool()>& cond) {
  auto until = steady_clock::now() + std::chrono::seconds(5);
  while (!cond()) {
    if (steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

class EngineRules : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/berth-engine-XXXXXX";
    ASSERT_NE(::mkdtemp(t), nullptr);
    dir_ = t;
    host_ = std::make_shared<test::FakeHostState>();
    reopen();
    std::string tar = dir_ + "/image.tar";
    ASSERT_TRUE(
        writeFileAtomic(tar, test::TarBuilder().dir("data").file("data/seed", "from the image").finish()));
    int fd = ::open(tar.c_str(), O_RDONLY | O_CLOEXEC);
    image::ImportOptions o;
    o.reference = "img:v1";
    o.changes = {"CMD [\"/bin/app\"]"};
    auto id = engine_->images().import(fd, o);
    ::close(fd);
    ASSERT_TRUE(id) << id.error().message();
  }
  void TearDown() override {
    engine_.reset();
    host_.reset();  // its shims go (their containers "killed")
    std::system(("rm -rf " + dir_).c_str());
  }

  // A daemon restart: the engine goes (its containers keep running in their shims) and comes back.
  void reopen() {
    engine_.reset();
    EngineOptions o;
    o.dataRoot = dir_ + "/data";
    o.runRoot = dir_ + "/run";
    o.driver = "vfs";
    o.shimPath = "/usr/libexec/berth/berth-shim";  // never run: the fake host's shims serve instead
    o.netnsPool = 0;
    o.shimPool = 0;
    o.bridge = "bt" + std::to_string(::getpid() % 100000);
    auto e = Engine::open(o, std::make_unique<test::FakeHost>(host_));
    ASSERT_TRUE(e) << e.error().message();
    engine_ = std::move(*e);
  }

  // POST /containers/create with docker's body (NetworkMode none unless it says otherwise: no kernel).
  Result<std::string> create(json body, const std::string& name = "") {
    if (!body.contains("Image")) body["Image"] = "img:v1";
    if (!body["HostConfig"].contains("NetworkMode")) body["HostConfig"]["NetworkMode"] = "none";
    TRY(spec::CreateRequest req, spec::decodeCreate(body));
    return engine_->create(name, std::move(req), nullptr);
  }
  std::string run(json body = json::object(), const std::string& name = "") {
    auto id = create(std::move(body), name);
    EXPECT_TRUE(id) << id.error().message();
    if (!id) return "";
    auto r = engine_->start(*id);
    EXPECT_TRUE(r) << r.error().message();
    return *id;
  }
  Container get(const std::string& id) {
    auto c = engine_->get(id);
    EXPECT_TRUE(c) << c.error().message();
    return c ? *c : Container{};
  }
  std::shared_ptr<test::FakeShim> shim(const std::string& id) { return host_->shim(id); }
  Result<int> wait(const std::string& id, const std::string& condition = "",
                   std::optional<uint64_t> since = std::nullopt) {
    return engine_->wait(
        id, condition, [] { return false; }, since);
  }
  std::string runDir(const std::string& id) { return dir_ + "/run/containers/" + id; }
  bool layerExists(const std::string& id) {
    auto snaps = engine_->images().snapshotter().list();
    EXPECT_TRUE(snaps);
    for (auto& s : *snaps)
      if (s.key == "container-" + id) return true;
    return false;
  }
  size_t mounted() {
    std::lock_guard lock(host_->mu);
    return host_->mounted.size();
  }

  std::string dir_;
  std::shared_ptr<test::FakeHostState> host_;
  std::unique_ptr<Engine> engine_;
};

// docker's 400s at create, with its words; nothing is left of a refused create (no record, no writable
// layer, no anonymous volume).
TEST_F(EngineRules, CreateRefusesWhatDockerRefusesAndLeavesNothing) {
  struct Case {
    json body;
    ErrorCategory category;
    std::string message;
  };
  std::vector<Case> cases = {
      {{{"HostConfig", {{"CapAdd", {"NOSUCH"}}}}},
       ErrorCategory::InvalidArgument,
       "unknown capability: \"CAP_NOSUCH\""},
      {{{"HostConfig", {{"SecurityOpt", {"bogus"}}}}},
       ErrorCategory::InvalidArgument,
       "invalid --security-opt 1: \"bogus\""},
      {{{"HostConfig", {{"Memory", 1 << 20}}}},
       ErrorCategory::InvalidArgument,
       "Minimum memory limit allowed is 6MB"},
      {{{"HostConfig", {{"Memory", "abc"}}}}, ErrorCategory::InvalidArgument, "Memory"},
      {{{"HostConfig", {{"RestartPolicy", {{"Name", "sometimes"}}}}}},
       ErrorCategory::InvalidArgument,
       "unknown policy 'sometimes'"},
      {{{"HostConfig", {{"LogConfig", {{"Type", "nosuch"}}}}}},
       ErrorCategory::InvalidArgument,
       "plugin \"nosuch\" not found"},
      {{{"HostConfig", {{"Tmpfs", {{"/", ""}}}}}},
       ErrorCategory::InvalidArgument,
       "destination can't be '/'"},
      {{{"HostConfig", {{"Tmpfs", {{"tmp", ""}}}}}},
       ErrorCategory::InvalidArgument,
       "mount path must be absolute"},
      {{{"Env", {"=foo"}}}, ErrorCategory::InvalidArgument, "invalid environment variable: =foo"},
      {{{"HostConfig", {{"AutoRemove", true}, {"RestartPolicy", {{"Name", "always"}}}}}},
       ErrorCategory::InvalidArgument,
       "can't create 'AutoRemove' container with restart policy"},
      {{{"Volumes", {{"/data", json::object()}}}, {"HostConfig", {{"VolumesFrom", {"missing"}}}}},
       ErrorCategory::InvalidArgument,  // docker's 400, not a 404
       "No such container: missing"},
      {{{"Image", "nosuch:v1"}}, ErrorCategory::NotFound, "No such image: nosuch:v1"},
  };
  for (auto& c : cases) {
    auto id = create(c.body);
    ASSERT_FALSE(id) << c.body.dump();
    EXPECT_EQ(id.error().category(), c.category) << c.body.dump() << ": " << id.error().message();
    EXPECT_NE(id.error().message().find(c.message), std::string::npos)
        << c.body.dump() << ": " << id.error().message();
  }
  ListOptions everything;
  everything.all = true;
  auto all = engine_->list(everything);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  auto snaps = engine_->images().snapshotter().list();
  ASSERT_TRUE(snaps);
  for (auto& s : *snaps) EXPECT_FALSE(s.key.starts_with("container-")) << s.key;
  auto volumes = engine_->volumeList({});
  ASSERT_TRUE(volumes);
  EXPECT_TRUE((*volumes)["Volumes"].empty()) << volumes->dump();
  // A string where docker takes a list of strings (Go's StrSlice) is that one item, and is kept.
  auto dropAll = create({{"HostConfig", {{"CapDrop", "ALL"}}}});
  ASSERT_TRUE(dropAll) << dropAll.error().message();
  EXPECT_EQ(get(*dropAll).hostConfig.capDrop, std::vector<std::string>{"ALL"});
  ASSERT_TRUE(engine_->remove(*dropAll, false));
  // A name taken is a Conflict; an invalid name is docker's 400.
  ASSERT_TRUE(create(json::object(), "web"));
  EXPECT_EQ(create(json::object(), "web").error().category(), ErrorCategory::Conflict);
  EXPECT_EQ(create(json::object(), "-bad").error().category(), ErrorCategory::InvalidArgument);
}

// A start gives the shim berth-shim's command line (parsed by berth-shim's own parser) and records the
// pid it reports; an exit is recorded with its code, an OOM kill as docker shows it, and the container's
// root is unmounted and its run directory removed once it ended.
TEST_F(EngineRules, StartRecordsThePidAndExitsWithTheirCodeAndOom) {
  std::string id = run(json{{"Tty", true}});
  Container c = get(id);
  EXPECT_EQ(c.state.status, Status::Running);
  auto s = shim(id);
  ASSERT_TRUE(s);
  EXPECT_EQ(c.state.pid, s->pid());
  EXPECT_TRUE(s->args().tty);
  EXPECT_EQ(s->args().bundle, runDir(id));
  EXPECT_TRUE(exists(runDir(id) + "/config.json"));
  EXPECT_EQ(mounted(), 1u);
  EXPECT_TRUE(c.hasBeenStarted);
  EXPECT_EQ(engine_->start(id).error().category(), ErrorCategory::NotModified);  // docker's 304

  s->exit(3);
  auto code = wait(id);
  ASSERT_TRUE(code) << code.error().message();
  EXPECT_EQ(*code, 3);
  c = get(id);
  EXPECT_EQ(c.state.status, Status::Exited);
  EXPECT_EQ(c.state.exitCode, 3);
  EXPECT_FALSE(c.state.oomKilled);
  EXPECT_NE(c.state.finishedAt, "0001-01-01T00:00:00Z");
  EXPECT_TRUE(eventually([&] { return !exists(runDir(id)) && mounted() == 0; }));

  ASSERT_TRUE(engine_->start(id));
  s = shim(id);
  s->exit(137, true);
  code = wait(id);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 137);
  c = get(id);
  EXPECT_TRUE(c.state.oomKilled);
  EXPECT_EQ(c.state.exitCode, 137);
  EXPECT_EQ(engine_->inspectJson(c)["State"]["OOMKilled"], true);
}

// docker stop: the stop signal, then SIGKILL once the timeout is over; the exit is 128 + the signal that
// ended it, and a stop by a user is one the restart policy leaves alone.
TEST_F(EngineRules, StopSignalsThenKillsAndPoliciesLeaveItStopped) {
  std::string id = run(json{{"HostConfig", {{"RestartPolicy", {{"Name", "always"}}}}}});
  ASSERT_TRUE(engine_->stop(id, 5));
  EXPECT_EQ(shim(id)->signals(), std::vector<int>{SIGTERM});
  Container c = get(id);
  EXPECT_EQ(c.state.status, Status::Exited);
  EXPECT_EQ(c.state.exitCode, 143);
  EXPECT_TRUE(c.manuallyStopped);
  std::this_thread::sleep_for(milliseconds(300));  // past the first backoff (100 ms)
  EXPECT_EQ(get(id).state.status, Status::Exited);
  EXPECT_EQ(host_->starts, 1);

  std::string stubborn = run(json{{"StopSignal", "SIGUSR1"}});
  shim(stubborn)->ignore(SIGUSR1);
  auto before = steady_clock::now();
  ASSERT_TRUE(engine_->stop(stubborn, 1));
  EXPECT_GE(steady_clock::now() - before, milliseconds(900));
  EXPECT_EQ(shim(stubborn)->signals(), (std::vector<int>{SIGUSR1, SIGKILL}));
  EXPECT_EQ(get(stubborn).state.exitCode, 137);
  // Stopping a stopped container is docker's 304; kill of one is a Conflict.
  EXPECT_EQ(engine_->stop(stubborn, 1).error().category(), ErrorCategory::NotModified);
  EXPECT_EQ(engine_->kill(stubborn, "").error().category(), ErrorCategory::Conflict);
}

// on-failure:2 restarts a failing container twice, 100 ms then 200 ms after its exits (docker's backoff),
// and leaves it exited after the third failure; a zero exit is no failure. always restarts any exit.
TEST_F(EngineRules, RestartPoliciesAndBackoff) {
  std::string id =
      run(json{{"HostConfig", {{"RestartPolicy", {{"Name", "on-failure"}, {"MaximumRetryCount", 2}}}}}});
  std::vector<milliseconds> delays;
  for (int round = 0; round < 2; ++round) {
    auto s = shim(id);
    auto exited = steady_clock::now();
    s->exit(1);
    ASSERT_TRUE(eventually([&] { return shim(id) != s && get(id).state.status == Status::Running; }))
        << "round " << round << ": " << statusName(get(id).state.status);
    delays.push_back(std::chrono::duration_cast<milliseconds>(steady_clock::now() - exited));
    EXPECT_EQ(get(id).restartCount, round + 1);
  }
  EXPECT_GE(delays[0], milliseconds(90));
  EXPECT_GE(delays[1], milliseconds(190));
  shim(id)->exit(1);
  ASSERT_TRUE(wait(id));
  std::this_thread::sleep_for(milliseconds(500));
  Container c = get(id);
  EXPECT_EQ(c.state.status, Status::Exited);
  EXPECT_EQ(c.restartCount, 2);
  EXPECT_EQ(host_->starts, 3);

  std::string ok = run(json{{"HostConfig", {{"RestartPolicy", {{"Name", "on-failure"}}}}}});
  shim(ok)->exit(0);
  ASSERT_TRUE(wait(ok));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(get(ok).state.status, Status::Exited);

  std::string always = run(json{{"HostConfig", {{"RestartPolicy", {{"Name", "always"}}}}}});
  auto first = shim(always);
  first->exit(0);
  EXPECT_TRUE(
      eventually([&] { return shim(always) != first && get(always).state.status == Status::Running; }));
  EXPECT_EQ(get(always).restartCount, 1);
}

// wait: not-running answers at once for a stopped container, next-exit waits for the exit after the
// point the client was told the wait is registered, removed for the removal (with the last exit code).
TEST_F(EngineRules, WaitConditions) {
  auto created = create(json::object());
  ASSERT_TRUE(created);
  auto code = wait(*created);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(wait(*created, "sometimes").error().category(), ErrorCategory::InvalidArgument);
  EXPECT_EQ(wait("nosuch").error().category(), ErrorCategory::NotFound);

  std::string id = run();
  uint64_t since = engine_->exitSequence(id);
  auto nextExit = std::async(std::launch::async, [&] { return wait(id, "next-exit", since); });
  auto removed = std::async(std::launch::async, [&] { return wait(id, "removed"); });
  EXPECT_EQ(nextExit.wait_for(milliseconds(100)), std::future_status::timeout);
  shim(id)->exit(7);
  auto n = nextExit.get();
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 7);
  EXPECT_EQ(removed.wait_for(milliseconds(100)), std::future_status::timeout);  // exited, not removed
  // The exit happened before this wait began, but after `since`: it counts.
  auto late = wait(id, "next-exit", since);
  ASSERT_TRUE(late);
  EXPECT_EQ(*late, 7);
  ASSERT_TRUE(engine_->remove(id, false));
  auto r = removed.get();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 7);
}

// docker rm -f -v of a running container: its process is killed, and its record, Task, writable layer,
// root mount, run directory, log directory and anonymous volume go; a named volume stays.
TEST_F(EngineRules, RemovalTakesEverythingTheContainerOwned) {
  std::string id =
      run(json{{"Volumes", {{"/data", json::object()}}}, {"HostConfig", {{"Binds", {"kept:/kept"}}}}});
  auto vols = engine_->volumeList({});
  ASSERT_TRUE(vols);
  ASSERT_EQ((*vols)["Volumes"].size(), 2u) << vols->dump();
  EXPECT_TRUE(layerExists(id));
  EXPECT_TRUE(exists(dir_ + "/data/containers/" + id));
  EXPECT_EQ(engine_->remove(id, false).error().category(), ErrorCategory::Conflict);  // running: needs -f
  auto s = shim(id);
  ASSERT_TRUE(engine_->remove(id, true, true));
  EXPECT_EQ(s->signals(), std::vector<int>{SIGKILL});
  EXPECT_TRUE(s->awaitGone());
  EXPECT_EQ(engine_->get(id).error().category(), ErrorCategory::NotFound);
  EXPECT_EQ(engine_->taskCount(), 0u);
  EXPECT_FALSE(layerExists(id));
  EXPECT_TRUE(eventually([&] { return !exists(runDir(id)) && mounted() == 0; }));
  EXPECT_FALSE(exists(dir_ + "/data/containers/" + id));
  vols = engine_->volumeList({});
  ASSERT_TRUE(vols);
  ASSERT_EQ((*vols)["Volumes"].size(), 1u) << vols->dump();
  EXPECT_EQ((*vols)["Volumes"][0]["Name"], "kept");
  EXPECT_EQ(engine_->remove(id, true).error().category(), ErrorCategory::NotFound);
}

// A new volume is seeded from the image's content at its mount point by the first start that mounts it,
// outside the engine's lock: two starts at once seed it once, and a volume that holds data is left as it is.
TEST_F(EngineRules, VolumesAreSeededFromTheImageOnce) {
  json body = {{"HostConfig", {{"Binds", {"shared:/data"}}}}};
  auto a = create(body), b = create(body);
  ASSERT_TRUE(a && b);
  auto startA = std::async(std::launch::async, [&] { return engine_->start(*a); });
  auto startB = std::async(std::launch::async, [&] { return engine_->start(*b); });
  ASSERT_TRUE(startA.get());
  ASSERT_TRUE(startB.get());
  std::string seed = dir_ + "/data/volumes/shared/_data/seed";
  auto text = readFile(seed);
  ASSERT_TRUE(text) << text.error().message();
  EXPECT_EQ(*text, "from the image");
  ASSERT_TRUE(writeFileAtomic(seed, "the container's"));
  std::string c = run(body);
  EXPECT_EQ(*readFile(seed), "the container's");
  EXPECT_EQ(engine_->volumeRemove("shared", true).error().category(), ErrorCategory::Conflict);  // in use
}

// A start that fails (the shim could not create the container) leaves it as it was, nothing mounted; an
// --rm container is removed, as docker does.
TEST_F(EngineRules, FailedStartUndoesItsSteps) {
  auto id = create(json::object());
  ASSERT_TRUE(id);
  host_->failNextStart = "the shim exited without creating the container";
  auto r = engine_->start(*id);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("without creating"), std::string::npos) << r.error().message();
  Container c = get(*id);
  EXPECT_EQ(c.state.status, Status::Created);
  EXPECT_NE(c.state.error.find("without creating"), std::string::npos);
  EXPECT_EQ(mounted(), 0u);
  ASSERT_TRUE(engine_->start(*id));  // the next one works
  EXPECT_EQ(get(*id).state.status, Status::Running);

  auto rm = create(json{{"HostConfig", {{"AutoRemove", true}}}});
  ASSERT_TRUE(rm);
  host_->failNextStart = "no";
  ASSERT_FALSE(engine_->start(*rm));
  EXPECT_EQ(engine_->get(*rm).error().category(), ErrorCategory::NotFound);
  EXPECT_FALSE(layerExists(*rm));
  EXPECT_EQ(mounted(), 1u);  // the first one's
}

// A daemon restart: a container still running in its shim is found running and monitored again; one that
// ended while the daemon was down is recorded from its shim's exit file, and restarted by `always`; an
// --rm one that ended meanwhile is removed.
TEST_F(EngineRules, DaemonRestartFindsRunningAndEndedContainers) {
  std::string running = run();
  std::string ended = run();
  std::string always = run(json{{"HostConfig", {{"RestartPolicy", {{"Name", "always"}}}}}});
  std::string autoRemoved = run(json{{"HostConfig", {{"AutoRemove", true}}}});
  engine_.reset();  // the daemon goes; the shims keep their containers
  for (auto& id : {ended, always, autoRemoved}) shim(id)->exit(5);
  for (auto& id : {ended, always, autoRemoved}) ASSERT_TRUE(shim(id)->awaitGone());
  int startsBefore = host_->starts;
  reopen();

  EXPECT_EQ(get(running).state.status, Status::Running);
  EXPECT_EQ(get(running).state.pid, shim(running)->pid());
  Container e = get(ended);
  EXPECT_EQ(e.state.status, Status::Exited);
  EXPECT_EQ(e.state.exitCode, 5);
  EXPECT_EQ(engine_->get(autoRemoved).error().category(), ErrorCategory::NotFound);
  EXPECT_FALSE(layerExists(autoRemoved));
  EXPECT_TRUE(eventually([&] { return get(always).state.status == Status::Running; }));
  EXPECT_EQ(host_->starts, startsBefore + 1);

  // The monitor of the running one is back: its exit is recorded.
  ASSERT_TRUE(eventually([&] {
    auto k = shim(running)->requests();
    return std::count(k.begin(), k.end(), runtime::shim::Request::Kind::Wait) == 2;
  }));
  shim(running)->exit(9);
  auto code = wait(running);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 9);
}

}  // namespace
