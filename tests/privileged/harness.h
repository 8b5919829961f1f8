// Test harness for privileged tests: real bundles (busybox-static + the probe) run by the real binary.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::test {

struct Cmd {
  int code = -1;
  std::string out, err;
};

// Runs argv; feeds `in` on stdin; waits; captures output.
Cmd run(const std::vector<std::string>& argv, const std::string& in = "",
        const std::vector<std::string>& env = {});
// Parses probe "key=value" lines.
std::map<std::string, std::string> kv(const std::string& out);

#define REQUIRE_ROOT()                                                                \
  do {                                                                                \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (real namespaces and cgroups)"; \
  } while (0)

// A bundle in a temp dir with its own rootfs and a config.json to edit before use.
class Bundle {
 public:
  Bundle();
  ~Bundle();
  Bundle(const Bundle&) = delete;
  Bundle& operator=(const Bundle&) = delete;

  nlohmann::json config;
  const std::string& dir() const { return dir_; }
  std::string rootfs() const { return dir_ + "/rootfs"; }
  const std::string& id() const { return id_; }
  std::string cgroupPath() const { return "/berth-test/" + id_; }
  void args(const std::vector<std::string>& a) { config["process"]["args"] = a; }
  void write() const;

  // berth-runtime with this test's state root.
  Cmd rt(std::vector<std::string> args, const std::string& in = "",
         const std::vector<std::string>& env = {}) const;
  // write() then `run --bundle dir id`.
  Cmd runIt(const std::vector<std::string>& extra = {}) const;
  const std::string& stateRoot() const { return root_; }

 private:
  std::string dir_, id_, root_;
};

std::string runtimeBin();
std::string probeBin();

}  // namespace berth::test
