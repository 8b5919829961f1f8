// The engine's stateless rules: restart policies and backoff, wait conditions.
#include "engine/rules.h"

#include <gtest/gtest.h>

namespace berth::engine {
namespace {

spec::RestartPolicy policy(std::string name, int max = 0) {
  spec::RestartPolicy p;
  p.name = std::move(name);
  p.maximumRetryCount = max;
  return p;
}

ExitFacts exitAfter(int seconds, int code = 1) {
  ExitFacts f;
  f.exitCode = code;
  f.startedAt = "2026-12-03T10:00:00.123456789Z";
  f.finishedAt = "2026-12-03T10:00:" + std::string(seconds < 10 ? "0" : "") + std::to_string(seconds) + ".5Z";
  return f;
}

TEST(RestartPolicy, WhoRestarts) {
  ExitFacts f = exitAfter(1);
  EXPECT_FALSE(decideRestart(policy(""), f, 0).restart);
  EXPECT_FALSE(decideRestart(policy("no"), f, 0).restart);
  EXPECT_TRUE(decideRestart(policy("always"), f, 0).restart);
  EXPECT_TRUE(decideRestart(policy("unless-stopped"), f, 0).restart);
  EXPECT_TRUE(decideRestart(policy("on-failure"), f, 0).restart);
  // A clean exit: on-failure leaves it.
  ExitFacts ok = exitAfter(1, 0);
  EXPECT_FALSE(decideRestart(policy("on-failure"), ok, 0).restart);
  EXPECT_TRUE(decideRestart(policy("always"), ok, 0).restart);
  // Stopped by a user: nobody restarts it, except always at the daemon's start.
  ExitFacts stopped = exitAfter(1, 137);
  stopped.manuallyStopped = true;
  EXPECT_FALSE(decideRestart(policy("always"), stopped, 0).restart);
  EXPECT_FALSE(decideRestart(policy("unless-stopped"), stopped, 0).restart);
  EXPECT_FALSE(decideRestart(policy("on-failure"), stopped, 0).restart);
  stopped.daemonStart = true;
  EXPECT_TRUE(decideRestart(policy("always"), stopped, 0).restart);
  EXPECT_FALSE(decideRestart(policy("unless-stopped"), stopped, 0).restart);
  // on-failure: never at the daemon's start; MaximumRetryCount bounds it (0: no bound).
  ExitFacts atStart = exitAfter(1);
  atStart.daemonStart = true;
  EXPECT_FALSE(decideRestart(policy("on-failure"), atStart, 0).restart);
  ExitFacts third = exitAfter(1);
  third.restartCount = 2;
  EXPECT_TRUE(decideRestart(policy("on-failure", 3), third, 0).restart);
  third.restartCount = 3;
  EXPECT_FALSE(decideRestart(policy("on-failure", 3), third, 0).restart);
  EXPECT_TRUE(decideRestart(policy("on-failure", 0), third, 0).restart);
}

TEST(RestartPolicy, Backoff) {
  ExitFacts quick = exitAfter(1);
  auto p = policy("always");
  int64_t backoff = 0;
  std::vector<int64_t> delays;
  for (int i = 0; i < 12; ++i) {
    auto d = decideRestart(p, quick, backoff);
    ASSERT_TRUE(d.restart);
    delays.push_back(d.delayMs);
    backoff = d.backoffMs;
  }
  EXPECT_EQ(delays[0], 100);
  EXPECT_EQ(delays[1], 200);
  EXPECT_EQ(delays[2], 400);
  EXPECT_EQ(delays[9], 51200);
  EXPECT_EQ(delays[10], 60000);  // at most a minute
  EXPECT_EQ(delays[11], 60000);
  // A run of 10 s or more starts over.
  auto d = decideRestart(p, exitAfter(10), backoff);
  EXPECT_EQ(d.delayMs, 100);
  EXPECT_EQ(d.backoffMs, 100);
  EXPECT_EQ(decideRestart(p, exitAfter(9), 400).delayMs, 800);
  // At the daemon's start: at once, and the backoff starts over.
  ExitFacts atStart = exitAfter(1);
  atStart.daemonStart = true;
  d = decideRestart(p, atStart, 60000);
  EXPECT_EQ(d.delayMs, 0);
  EXPECT_EQ(d.backoffMs, 100);
  // No decision keeps the backoff as it was.
  EXPECT_EQ(decideRestart(policy("no"), quick, 800).backoffMs, 800);
  // Times that do not parse: a run of no length.
  ExitFacts odd = quick;
  odd.startedAt = "0001-01-01T00:00:00Z";
  odd.finishedAt = "garbage";
  EXPECT_EQ(decideRestart(p, odd, 100).delayMs, 200);
}

TEST(Wait, Conditions) {
  EXPECT_EQ(*parseWaitCondition(""), WaitCondition::NotRunning);
  EXPECT_EQ(*parseWaitCondition("not-running"), WaitCondition::NotRunning);
  EXPECT_EQ(*parseWaitCondition("next-exit"), WaitCondition::NextExit);
  EXPECT_EQ(*parseWaitCondition("removed"), WaitCondition::Removed);
  auto bad = parseWaitCondition("gone");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "invalid condition: \"gone\"");
  EXPECT_EQ(bad.error().category(), ErrorCategory::InvalidArgument);

  WaitView v;
  v.exitCode = 3;
  for (Status s : {Status::Created, Status::Exited, Status::Dead, Status::Removing}) {
    v.status = s;
    EXPECT_EQ(waitOutcome(WaitCondition::NotRunning, v), 3) << statusName(s);
    EXPECT_EQ(waitOutcome(WaitCondition::NextExit, v), std::nullopt);
    EXPECT_EQ(waitOutcome(WaitCondition::Removed, v), std::nullopt);
  }
  for (Status s : {Status::Starting, Status::Running, Status::Paused, Status::Restarting}) {
    v.status = s;
    EXPECT_EQ(waitOutcome(WaitCondition::NotRunning, v), std::nullopt) << statusName(s);
  }
  // next-exit: an exit since the wait began, whatever the status is now (a restart may have followed).
  v.status = Status::Running;
  v.since = 4, v.exits = 5;
  EXPECT_EQ(waitOutcome(WaitCondition::NextExit, v), 3);
  // Removed: every condition holds, with the last exit code when it is known.
  v.status.reset();
  EXPECT_EQ(waitOutcome(WaitCondition::Removed, v), 0);
  v.removedExit = 137;
  EXPECT_EQ(waitOutcome(WaitCondition::Removed, v), 137);
  EXPECT_EQ(waitOutcome(WaitCondition::NotRunning, v), 137);
  EXPECT_EQ(waitOutcome(WaitCondition::NextExit, v), 137);
}

TEST(Status, NamesRoundTrip) {
  for (Status s : {Status::Created, Status::Starting, Status::Running, Status::Paused, Status::Restarting,
                   Status::Removing, Status::Exited, Status::Dead})
    EXPECT_EQ(parseStatus(statusName(s)), s);
  EXPECT_EQ(publicStatus(Status::Starting), "created");
  EXPECT_EQ(publicStatus(Status::Running), "running");
  EXPECT_EQ(parseStatus("up"), std::nullopt);
}

}  // namespace
}  // namespace berth::engine
