#include "engine/rules.h"

#include <time.h>

#include <algorithm>

namespace berth::engine {

namespace {

// Seconds since the epoch of an RFC 3339 time (its fraction ignored); nullopt when it is none.
std::optional<int64_t> unixSeconds(const std::string& t) {
  struct tm tm {};
  if (!strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

RestartDecision decideRestart(const spec::RestartPolicy& policy, const ExitFacts& f, int64_t lastBackoffMs) {
  RestartDecision d;
  d.backoffMs = lastBackoffMs;
  const std::string& name = policy.name;
  if (name == "always")
    d.restart = f.daemonStart || !f.manuallyStopped;
  else if (name == "unless-stopped")
    d.restart = !f.manuallyStopped;
  else if (name == "on-failure")
    d.restart = !f.daemonStart && !f.manuallyStopped && f.exitCode != 0 &&
                (policy.maximumRetryCount <= 0 || f.restartCount < policy.maximumRetryCount);
  if (!d.restart) return d;
  // A start time that does not parse counts as now (a run of no length).
  auto started = unixSeconds(f.startedAt), finished = unixSeconds(f.finishedAt);
  bool ranLong = started && finished && *finished - *started >= 10;
  int64_t last = ranLong || f.daemonStart ? 0 : lastBackoffMs;
  d.backoffMs = last == 0 ? 100 : std::min<int64_t>(last * 2, 60000);
  d.delayMs = f.daemonStart ? 0 : d.backoffMs;
  return d;
}

Result<WaitCondition> parseWaitCondition(std::string_view name) {
  if (name.empty() || name == "not-running") return WaitCondition::NotRunning;
  if (name == "next-exit") return WaitCondition::NextExit;
  if (name == "removed") return WaitCondition::Removed;
  return invalid("invalid condition: \"" + std::string(name) + "\"");
}

std::optional<int> waitOutcome(WaitCondition c, const WaitView& v) {
  if (!v.status) return v.removedExit.value_or(0);  // removed: every condition holds
  switch (c) {
    case WaitCondition::Removed:
      return std::nullopt;
    case WaitCondition::NextExit:
      if (v.exits != v.since) return v.exitCode;
      return std::nullopt;
    case WaitCondition::NotRunning: {
      Status s = *v.status;
      bool running = hasProcess(s) || s == Status::Starting || s == Status::Restarting;
      if (!running) return v.exitCode;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace berth::engine
