// The shim's json-file writer (what `docker logs` and berthd read) and the engine's signal names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "engine/engine.h"
#include "engine/fd_pool.h"
#include "shim/json_log.h"

namespace {

std::vector<nlohmann::json> records(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/berth-log-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
};

}  // namespace

TEST(JsonLog, EscapesAsGoAndReplacesInvalidUtf8) {
  std::string out;
  berth::log::appendJsonString(out, std::string("a\"b\\c\n\t\x01<&>\xc3\xa9\xff\xe2\x82", 16));
  EXPECT_EQ(out, "a\\\"b\\\\c\\n\\t\\u0001\\u003c\\u0026\\u003e\xc3\xa9\\ufffd\\ufffd\\ufffd");
  auto parsed = nlohmann::json::parse("\"" + out + "\"");  // every record parses
  EXPECT_EQ(parsed.get<std::string>().substr(0, 5), "a\"b\\c");
}

TEST(JsonLog, LinesPartialsAndStreams) {
  TempDir d;
  std::string path = d.path + "/c-json.log";
  berth::shim::JsonLog log(path, -1, 1);
  ASSERT_TRUE(log.open());
  log.write(1, "one\ntw", 6);
  log.write(2, "err\n", 4);
  log.write(1, "o\nthree", 7);
  log.flush();
  auto r = records(path);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0]["log"], "one\n");
  EXPECT_EQ(r[0]["stream"], "stdout");
  EXPECT_EQ(r[1]["log"], "err\n");
  EXPECT_EQ(r[1]["stream"], "stderr");
  EXPECT_EQ(r[2]["log"], "two\n");
  EXPECT_EQ(r[3]["log"], "three");  // a partial line at exit is kept
  EXPECT_TRUE(r[0]["time"].get<std::string>().ends_with("Z"));
}

TEST(JsonLog, LongLinesAreSplitAt16KiB) {
  TempDir d;
  std::string path = d.path + "/c-json.log";
  berth::shim::JsonLog log(path, -1, 1);
  ASSERT_TRUE(log.open());
  std::string big(40000, 'x');
  log.write(1, big.data(), big.size());
  log.write(1, "\n", 1);
  auto r = records(path);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0]["log"].get<std::string>().size(), 16384u);
  EXPECT_EQ(r[2]["log"].get<std::string>().size(), 40000u - 2 * 16384u + 1);
}

TEST(JsonLog, RotatesBySizeKeepingMaxFiles) {
  TempDir d;
  std::string path = d.path + "/c-json.log";
  berth::shim::JsonLog log(path, 1000, 3);
  ASSERT_TRUE(log.open());
  for (int i = 0; i < 100; ++i) {
    std::string line = "line " + std::to_string(i) + "\n";
    log.write(1, line.data(), line.size());
  }
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  EXPECT_EQ(::access((path + ".1").c_str(), F_OK), 0);
  EXPECT_EQ(::access((path + ".2").c_str(), F_OK), 0);
  EXPECT_NE(::access((path + ".3").c_str(), F_OK), 0);
  auto cur = records(path), prev = records(path + ".1");
  ASSERT_FALSE(cur.empty());
  EXPECT_EQ(cur.back()["log"], "line 99\n");
  // The files continue each other.
  std::string lastPrev = prev.back()["log"], firstCur = cur.front()["log"];
  EXPECT_EQ(std::stoi(lastPrev.substr(5)) + 1, std::stoi(firstCur.substr(5)));
}

TEST(Signals, DockerNamesAndNumbers) {
  using berth::engine::parseSignal;
  EXPECT_EQ(parseSignal("SIGTERM"), 15);
  EXPECT_EQ(parseSignal("term"), 15);
  EXPECT_EQ(parseSignal("KILL"), 9);
  EXPECT_EQ(parseSignal("9"), 9);
  EXPECT_EQ(parseSignal("SIGRTMIN+3"), 37);
  EXPECT_FALSE(parseSignal("SIGNOPE"));
  EXPECT_FALSE(parseSignal("0"));
  EXPECT_FALSE(parseSignal("65"));
  EXPECT_FALSE(parseSignal(""));
}

namespace {

using berth::engine::MountPoint;
using nlohmann::json;

TEST(Mounts, BindsAsDockerParsesThem) {
  auto m = berth::engine::parseBind("data:/var/lib/x/:ro,nocopy");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->type, "volume");
  EXPECT_EQ(m->name, "data");
  EXPECT_EQ(m->destination, "/var/lib/x");
  EXPECT_FALSE(m->rw);
  EXPECT_FALSE(m->copyData);
  auto b = berth::engine::parseBind("/host//dir/../d:/in:rshared");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->type, "bind");
  EXPECT_EQ(b->source, "/host/d");
  EXPECT_EQ(b->propagation, "rshared");
  EXPECT_TRUE(b->createSource);
  auto anon = berth::engine::parseBind("/only");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->type, "volume");
  EXPECT_TRUE(anon->name.empty());
  for (const char* bad : {"", "a:b:c:d", "/x:rw", "v:rel", "v:/", "v:/x:ro,rw", "v:/x:bogus", "/h:/x:nocopy",
                          "v:/x:rshared", "a b:/x", "../x:/y"})
    EXPECT_FALSE(berth::engine::parseBind(bad)) << bad;
}

// A Mounts entry as the API decodes it.
berth::Result<MountPoint> mountOf(const json& j) {
  auto req = berth::engine::spec::decodeCreate({{"HostConfig", {{"Mounts", json::array({j})}}}});
  if (!req) return std::unexpected(req.error());
  return berth::engine::parseMount(req->hostConfig.mounts.at(0));
}

TEST(Mounts, MountObjectsAndMerging) {
  auto t = mountOf(
      {{"Type", "tmpfs"}, {"Target", "/t"}, {"TmpfsOptions", {{"SizeBytes", 1048576}, {"Mode", 01770}}}});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->tmpfsOptions, "size=1048576,mode=1770");
  EXPECT_FALSE(mountOf({{"Type", "bind"}, {"Source", "/no/such/dir"}, {"Target", "/x"}}));
  EXPECT_FALSE(mountOf({{"Type", "volume"}, {"Target", "/x"}, {"BindOptions", json::object()}}));
  EXPECT_FALSE(mountOf({{"Type", "volume"}, {"Target", "/x"}, {"VolumeOptions", {{"Subpath", "../up"}}}}));
  EXPECT_FALSE(mountOf(json::array()));
  EXPECT_FALSE(mountOf({{"Type", "tmpfs"}, {"Target", "/t"}, {"TmpfsOptions", {{"SizeBytes", "1m"}}}}));

  // Binds override volumes-from at the same place; Config.Volumes and the image's VOLUMEs only fill in;
  // parents come before what is mounted below them.
  MountPoint from;
  from.type = "volume", from.name = "shared", from.destination = "/data";
  auto req =
      berth::engine::spec::decodeCreate({{"Volumes", {{"/data", json::object()}, {"/cache", json::object()}}},
                                         {"HostConfig", {{"Binds", {"/h:/data/sub", "named:/data"}}}}});
  ASSERT_TRUE(req);
  auto all =
      berth::engine::mountsOf(req->config, req->hostConfig, {from}, {"/cache", "/img/vol", "relative"});
  ASSERT_TRUE(all) << all.error().message();
  std::vector<std::string> dests;
  for (auto& m : *all) dests.push_back(m.destination + "=" + m.name);
  EXPECT_EQ(dests, (std::vector<std::string>{"/cache=", "/data=named", "/data/sub=", "/img/vol="}));
  berth::engine::spec::HostConfig twice;
  twice.binds = {"a:/x", "b:/x"};
  EXPECT_FALSE(berth::engine::mountsOf({}, twice, {}));
  EXPECT_FALSE(berth::engine::spec::decodeCreate({{"HostConfig", {{"Binds", "a:/x"}}}}));
}

TEST(Mounts, VolumeNames) {
  for (const char* ok : {"ab", "a.b-c_d", "0x"}) EXPECT_TRUE(berth::engine::validVolumeName(ok)) << ok;
  for (const char* bad : {"", "a", ".a", "-a", "a/b", "..", "a b"})
    EXPECT_FALSE(berth::engine::validVolumeName(bad)) << bad;
}

// A pool refills what a take() used once `quiet` passed without another take() or busy(), and at once
// when it ran empty or was taken from twice within 100 ms.
TEST(FdPool, RefillsWhenQuietOrAtOnceInARow) {
  using namespace std::chrono_literals;
  std::atomic<int> made = 0;
  berth::engine::FdPool pool(
      "test fds", 2,
      [&]() -> berth::Result<berth::UniqueFd> {
        ++made;
        return berth::UniqueFd(::dup(0));
      },
      600ms);
  auto waitMade = [&](int n, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (made < n && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(2ms);
    return made.load();
  };
  ASSERT_EQ(waitMade(2, 2s), 2);  // filled at its start
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(pool.take());
  std::this_thread::sleep_for(300ms);
  pool.busy();  // a start or an exit: the quiet period begins again
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(made, 2) << "refilled while not quiet";
  EXPECT_EQ(waitMade(3, 3s), 3);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms);
  // Taken twice in a row (starts in a row; here it is empty, too): refilled at once, to full.
  ASSERT_TRUE(pool.take());
  ASSERT_TRUE(pool.take());
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(waitMade(5, 2s), 5);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
}

}  // namespace
