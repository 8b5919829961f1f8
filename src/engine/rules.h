// The engine's rules that need no state of their own: docker's restart policies and backoff, and the
// conditions of `wait`. The engine applies them under its lock; unit tests call them directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "engine/spec.h"
#include "engine/status.h"

namespace berth::engine {

// What the restart policy decides after an exit (or at the daemon's start, for a container that was
// running when the daemon went).
struct ExitFacts {
  bool manuallyStopped = false;  // docker stop / kill by a user
  int exitCode = 0;
  int restartCount = 0;
  std::string startedAt, finishedAt;  // RFC 3339, of the run that ended
  bool daemonStart = false;
};
struct RestartDecision {
  bool restart = false;
  int64_t delayMs = 0;    // before the start
  int64_t backoffMs = 0;  // the container's backoff from now on (kept for its next exit)
};
// docker's rules: always (also at the daemon's start) and unless-stopped restart unless a user stopped the
// container; on-failure restarts a non-zero exit, up to MaximumRetryCount (0: no bound), never at the
// daemon's start. The delay starts at 100 ms and doubles per restart up to 60 s; a run of 10 s or more
// (or the daemon's start) resets it; at the daemon's start the restart is immediate.
RestartDecision decideRestart(const spec::RestartPolicy& policy, const ExitFacts& f, int64_t lastBackoffMs);

enum class WaitCondition { NotRunning, NextExit, Removed };
// "" is not-running; anything else but next-exit and removed is docker's 400.
Result<WaitCondition> parseWaitCondition(std::string_view name);
// What a wait sees of its container now: nullopt while it must go on waiting, else the exit code to
// answer. `status` is empty once the container is removed (`removedExit` its last code, when known);
// `exits` counts its exits, `since` that count when the wait began.
struct WaitView {
  std::optional<Status> status;
  int exitCode = 0;
  std::optional<int> removedExit;
  uint64_t exits = 0, since = 0;
};
std::optional<int> waitOutcome(WaitCondition c, const WaitView& v);

}  // namespace berth::engine
