// The shim protocol's lines: what the daemon encodes the shim decodes, and the answers back.
#include <gtest/gtest.h>

#include <tuple>

#include "runtime/shim_protocol.h"

namespace berth::runtime::shim {
namespace {

using Kind = Request::Kind;

TEST(ShimProtocol, RequestsRoundTrip) {
  std::string id(64, 'a');
  for (const Request& r :
       {Request::of(Kind::Wait), Request::of(Kind::State), Request::of(Kind::Pause),
        Request::of(Kind::Resume), Request::of(Kind::CloseStdin), Request::kill(15), Request::kill(9, true),
        Request::resize(24, 80), Request::attach(true), Request::attach(false), Request::attach(true, id),
        Request::of(Kind::ExecWait, id), Request::of(Kind::ExecState, id), Request::resize(50, 132, id)}) {
    std::string line = encode(r);
    auto back = decodeRequest(line);
    ASSERT_TRUE(back) << line << ": " << back.error().message();
    EXPECT_EQ(encode(*back), line);
    EXPECT_EQ(back->kind, r.kind);
    EXPECT_EQ(back->execId, r.execId);
  }
  EXPECT_EQ(encode(Request::kill(9, true)), "kill 9 all");
  EXPECT_EQ(encode(Request::attach(true, "ab12")), "exec ab12 1");
  EXPECT_EQ(encode(Request::resize(1, 2, "ab")), "exec-resize ab 1 2");
}

TEST(ShimProtocol, BadRequestsAreRefused) {
  const std::string longLine(70, 'x');  // (outlives the loop: a temporary in the list would not)
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "", "bogus", "kill", "kill x", "kill 9 some", "kill 99", "resize 1", "resize a b", "exec ../x 1",
           "exec AB 1", "exec ab 2", "exec-wait", "wait now", "attach 2", "exec-resize ab 1",
           std::string_view(longLine)}) {
    auto r = decodeRequest(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().category(), ErrorCategory::InvalidArgument);
    EXPECT_TRUE(r.error().message().starts_with("unknown request: ")) << r.error().message();
  }
  EXPECT_FALSE(decodeRequest("exec " + std::string(65, 'a') + " 0"));
}

TEST(ShimProtocol, ExitsAndStates) {
  Exit e;
  e.code = 137, e.oom = true, e.finishedAt = "2026-12-03T10:00:00.123456789Z";
  EXPECT_EQ(encode(e), "137 1 2026-12-03T10:00:00.123456789Z");
  auto back = decodeExitLine(exitLine(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(std::tie(back->code, back->oom, back->finishedAt), std::tie(e.code, e.oom, e.finishedAt));
  auto file = decodeExit("0 0 2026-12-03T10:00:00Z\n");  // the exit file's line
  ASSERT_TRUE(file);
  EXPECT_EQ(file->finishedAt, "2026-12-03T10:00:00Z");
  EXPECT_EQ(decodeExitLine(exitLine(execExit(126)))->code, 126);
  EXPECT_FALSE(decodeExit("x 0 t"));
  EXPECT_FALSE(decodeExit("0 2 t"));
  EXPECT_FALSE(decodeExitLine("err gone"));
  EXPECT_EQ(decodeExitLine("err gone").error().message(), "gone");

  State running;
  running.running = true, running.pid = 42;
  EXPECT_EQ(encode(running), "running 42");
  EXPECT_EQ(decodeState("running 42")->pid, 42);
  State exited;
  exited.exit = e;
  auto st = decodeState(encode(exited));
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->running);
  EXPECT_EQ(st->exit.code, 137);
  EXPECT_FALSE(decodeState("running x"));
  EXPECT_FALSE(decodeState("running 0"));
}

TEST(ShimProtocol, Answers) {
  EXPECT_EQ(okLine(), "ok");
  EXPECT_EQ(okLine("123"), "ok 123");
  EXPECT_EQ(errLine("two\nlines"), "err two lines");
  EXPECT_EQ(*decodeAnswer("ok"), "");
  EXPECT_EQ(*decodeAnswer("ok 123"), "123");
  auto err = decodeAnswer("err no such exec: ab");
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().message(), "no such exec: ab");
  EXPECT_FALSE(decodeAnswer("garbage"));
}

TEST(ShimProtocol, UpdateProcessesStats) {
  auto up = Request::update(R"({"memory":{"limit":67108864},"pids":{"limit":50}})");
  EXPECT_EQ(encode(up), R"(update {"memory":{"limit":67108864},"pids":{"limit":50}})");
  auto back = decodeRequest(encode(up));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, Request::Kind::Update);
  EXPECT_EQ(back->resources, up.resources);
  EXPECT_FALSE(decodeRequest("update"));
  EXPECT_FALSE(decodeRequest("update []"));
  EXPECT_FALSE(decodeRequest("update {"));
  EXPECT_FALSE(decodeRequest("update {\"a\":1} x"));
  EXPECT_FALSE(decodeRequest("update {" + std::string(kMaxRequest, ' ') + "}"));
  EXPECT_EQ(decodeRequest("processes")->kind, Request::Kind::Processes);
  EXPECT_EQ(decodeRequest("stats")->kind, Request::Kind::Stats);
  EXPECT_FALSE(decodeRequest("stats now"));

  EXPECT_EQ(encodePids({1, 42, 300}), "1 42 300");
  EXPECT_EQ(*decodePids("1 42 300"), (std::vector<int>{1, 42, 300}));
  EXPECT_TRUE(decodePids("")->empty());
  EXPECT_FALSE(decodePids("1 x"));
  EXPECT_FALSE(decodePids("0"));

  sys::cgroup::Stats s;
  s.cpuUsageNs = 123456789, s.memoryUsage = 4096, s.memoryLimit = 1ULL << 40, s.pidsCurrent = 3;
  s.pidsLimit = 50, s.oomKills = 1;
  auto d = decodeStats(encode(s));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->cpuUsageNs, 123456789u);
  EXPECT_EQ(d->memoryUsage, 4096u);
  EXPECT_EQ(d->memoryLimit, 1ULL << 40);
  EXPECT_EQ(d->pidsCurrent, 3u);
  EXPECT_EQ(d->pidsLimit, 50u);
  EXPECT_EQ(d->oomKills, 1u);
  EXPECT_EQ(decodeStats("cpu=5 future-counter=7")->cpuUsageNs, 5u);  // a newer shim's extra keys
  EXPECT_FALSE(decodeStats("cpu=x"));
  EXPECT_FALSE(decodeStats("cpu"));
}

}  // namespace
}  // namespace berth::runtime::shim
