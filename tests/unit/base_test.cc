#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>

#include "base/fd.h"
#include "base/file.h"
#include "base/log.h"
#include "base/memory.h"
#include "base/trash.h"
#include "runtime/state.h"
#include "sys/devices_bpf.h"
#include "sys/seccomp.h"

namespace berth {
namespace {

TEST(File, AtomicWriteAndRemoveAll) {
  auto dir = TempDir::make();
  ASSERT_TRUE(dir);
  std::string f = dir->path() + "/a/b/c.json";
  ASSERT_TRUE(mkdirAll(dir->path() + "/a/b"));
  ASSERT_TRUE(writeFileAtomic(f, "{}", 0600));
  EXPECT_EQ(*readFile(f), "{}");
  ASSERT_TRUE(writeFileAtomic(f, "{\"x\":1}"));
  EXPECT_EQ(*readFile(f), "{\"x\":1}");
  symlink("/etc", (dir->path() + "/a/link").c_str());
  ASSERT_TRUE(removeAll(dir->path() + "/a"));
  EXPECT_FALSE(pathExists(dir->path() + "/a"));
  EXPECT_TRUE(pathExists("/etc/passwd")) << "removeAll must not follow symlinks";
  EXPECT_TRUE(removeAll(dir->path() + "/missing"));
  auto err = readFile(dir->path() + "/missing");
  EXPECT_EQ(err.error().category(), ErrorCategory::NotFound);
}

TEST(Strings, ParseUint) {
  EXPECT_EQ(*parseUint("0"), 0u);
  EXPECT_EQ(*parseUint("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parseUint("18446744073709551616"));
  EXPECT_FALSE(parseUint(""));
  EXPECT_FALSE(parseUint("-1"));
  EXPECT_FALSE(parseUint("12a"));
  EXPECT_FALSE(parseUint(" 1"));
}

TEST(Strings, SplitTrim) {
  EXPECT_EQ(split("a,b,,c", ',').size(), 4u);
  EXPECT_EQ(trim("  x y \n"), "x y");
  EXPECT_EQ(log::jsonEscape("a\"b\n"), "a\\\"b\\n");
}

TEST(State, IdsAndJson) {
  EXPECT_TRUE(runtime::validateId("abc-DEF_1.2+3"));
  EXPECT_FALSE(runtime::validateId(""));
  EXPECT_FALSE(runtime::validateId(".."));
  EXPECT_FALSE(runtime::validateId("a/b"));
  EXPECT_FALSE(runtime::validateId("a b"));
  runtime::State s;
  s.id = "x";
  s.pid = 42;
  s.bundle = "/b";
  auto j = runtime::stateJson(s, runtime::Status::Stopped, false);
  EXPECT_NE(j.find("\"pid\":0"), std::string::npos) << j;
  EXPECT_NE(j.find("\"status\":\"stopped\""), std::string::npos);
}

TEST(State, StoreClaimSaveLoad) {
  auto dir = TempDir::make();
  runtime::StateStore store(dir->path() + "/root");
  ASSERT_TRUE(store.claim("c1"));
  EXPECT_EQ(store.claim("c1").error().category(), ErrorCategory::Conflict);
  runtime::State s;
  s.id = "c1";
  s.pid = 1;
  s.annotations["k"] = "v";
  ASSERT_TRUE(store.save(s));
  auto l = store.load("c1");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->annotations["k"], "v");
  EXPECT_EQ(store.list()->size(), 1u);
  EXPECT_EQ(store.load("nope").error().category(), ErrorCategory::NotFound);
  (void)writeFileAtomic(store.dir("c1") + "/state.json", "{garbage");
  EXPECT_FALSE(store.load("c1"));
  (void)writeFileAtomic(store.dir("c1") + "/state.json", R"({"id":"c1","pid":"not a number"})");
  auto typed = store.load("c1");
  ASSERT_FALSE(typed);
  EXPECT_NE(typed.error().message().find("is corrupt"), std::string::npos);
}

TEST(Seccomp, CompilesToBpf) {
  sys::seccomp::Profile p;
  p.defaultAction = "SCMP_ACT_ERRNO";
  p.syscalls.push_back({{"read", "write", "no_such_syscall"}, "SCMP_ACT_ALLOW", {}, {}});
  auto prog = sys::seccomp::compile(p);
  ASSERT_TRUE(prog) << prog.error().message();
  EXPECT_GT(prog->filter.size(), 4u);
  p.defaultAction = "SCMP_ACT_NOTIFY";
  EXPECT_NE(sys::seccomp::compile(p).error().message().find("not supported"), std::string::npos);
  p.defaultAction = "SCMP_ACT_ALLOW";
  p.syscalls[0].args.push_back({0, 1, 0, "SCMP_CMP_BOGUS"});
  p.syscalls[0].action = "SCMP_ACT_ERRNO";
  EXPECT_FALSE(sys::seccomp::compile(p));
}

TEST(Seccomp, CacheReturnsTheSameProgramAndSurvivesCorruption) {
  char tmpl[] = "/tmp/berth-seccache-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  std::string dir = std::string(tmpl) + "/cache";
  sys::seccomp::Profile p;
  p.defaultAction = "SCMP_ACT_ERRNO";
  p.syscalls.push_back({{"read", "write"}, "SCMP_ACT_ALLOW", {}, {}});
  auto fresh = sys::seccomp::compile(p);
  auto first = sys::seccomp::compileCached(p, dir);
  auto second = sys::seccomp::compileCached(p, dir);  // from the file
  ASSERT_TRUE(fresh && first && second);
  auto listDir = [](const std::string& d) {
    UniqueFd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return dirEntries(fd.get(), d);
  };
  auto same = [](const sys::seccomp::Program& a, const sys::seccomp::Program& b) {
    return a.flags == b.flags && a.filter.size() == b.filter.size() &&
           std::memcmp(a.filter.data(), b.filter.data(), a.filter.size() * sizeof(sock_filter)) == 0;
  };
  EXPECT_TRUE(same(*fresh, *second));
  auto files = listDir(dir);
  ASSERT_TRUE(files);
  ASSERT_EQ(files->size(), 1u);
  // Another profile gets its own entry; a damaged entry is recompiled, not used.
  p.syscalls[0].names.push_back("close");
  auto other = sys::seccomp::compileCached(p, dir);
  ASSERT_TRUE(other);
  EXPECT_FALSE(same(*other, *fresh));
  EXPECT_EQ(listDir(dir)->size(), 2u);
  p.syscalls[0].names.pop_back();
  (void)writeFileAtomic(dir + "/" + files->front(), "BSECCMP1garbage");
  auto again = sys::seccomp::compileCached(p, dir);
  ASSERT_TRUE(again);
  EXPECT_TRUE(same(*fresh, *again));
  (void)removeAll(tmpl);
}

TEST(DevicesBpf, ProgramShape) {
  std::vector<sys::DeviceRule> rules = {{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}};
  auto prog = sys::devices_bpf::compile(rules);
  // 6 prologue + allow c 1:3 (type, major, minor, mov, exit = 5) + deny-all (2), which ends the program.
  EXPECT_EQ(prog.size(), 13u);
  EXPECT_EQ(prog.back().code, BPF_JMP | BPF_EXIT);
}

TEST(Trash, DiscardsAtOnceAndDeletesInTheBackground) {
  auto tmp = *TempDir::make("/tmp/berth-trash-");
  std::string t = tmp.path() + "/trash";
  ASSERT_TRUE(mkdirAll(t + "/left-by-a-crash/sub"));  // an earlier process's unfinished work
  auto trash = Trash::open(t);
  ASSERT_TRUE(trash) << trash.error().message();
  std::string victim = tmp.path() + "/victim";
  ASSERT_TRUE(mkdirAll(victim + "/a/b/c"));
  ASSERT_TRUE(writeFileAtomic(victim + "/a/b/c/f", "data"));
  ASSERT_TRUE(::symlink("/", (victim + "/a/root").c_str()) == 0);
  ASSERT_TRUE((*trash)->discard(victim));
  EXPECT_FALSE(pathExists(victim)) << "gone from its place when discard returns";
  EXPECT_TRUE((*trash)->discard(tmp.path() + "/never-was")) << "a missing path is not an error";
  (*trash)->drain();
  UniqueFd fd(::open(t.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto left = dirEntries(fd.get(), t);
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty()) << "both the discarded tree and the leftover are deleted";
  EXPECT_TRUE(pathExists("/etc/passwd")) << "symlinks are removed, not followed";
}

int releaseProbe(int x) {  // code that runs after its pages were dropped faults them back
  return x * 3 + 1;
}

TEST(Memory, ReleaseDropsReadOnlyPagesAndTheProcessGoesOn) {
  std::vector<char> big(1 << 20, 'x');  // heap pages to trim once freed
  big.clear();
  big.shrink_to_fit();
  size_t asked = releaseResidentMemory();
  EXPECT_GT(asked, 0u) << "the test binary's own text at least";
  EXPECT_EQ(releaseProbe(4), 13);
  auto again = readFile("/proc/self/status");
  ASSERT_TRUE(again);
  EXPECT_NE(again->find("VmRSS:"), std::string::npos);
  std::string s = "still works after the release";
  EXPECT_EQ(s.substr(0, 5), "still");
}

}  // namespace
}  // namespace berth
