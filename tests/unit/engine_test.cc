// The shim's json-file writer (what `docker logs` and berthd read) and the engine's signal names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/log.h"
#include "engine/engine.h"
#include "json_log.h"

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
