// Engine: health checks (HEALTHCHECK in the image, --health-* on the container). A thread per running
// container with a check runs the probe as an exec (through the shim, like docker exec), keeps the last five
// results in State.Health, turns the status starting → healthy / unhealthy by docker's rules (failures in
// the start period do not count; `Retries` consecutive failures make it unhealthy), emits
// "health_status: …" events on changes, and restarts the container when it turns unhealthy and it asked
// for that (HostConfig.RestartOnUnhealthy, or the label berth.restart-on-unhealthy=true for clients that
// cannot send the field, such as the docker CLI).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "base/fd.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/internal.h"

namespace berth::engine {

using nlohmann::json;

namespace {

constexpr int64_t kSecond = 1000000000LL;
constexpr size_t kMaxOutput = 4096;  // docker keeps this much of a probe's output
constexpr size_t kMaxLog = 5;

std::string secondsText(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace

std::optional<HealthProbe> healthProbeOf(const spec::Config& config) {
  if (!config.healthcheck) return std::nullopt;
  const spec::HealthConfig& h = *config.healthcheck;
  const auto& test = h.test;
  if (test.empty() || test[0] == "NONE") return std::nullopt;
  HealthProbe p;
  if (test[0] == "CMD-SHELL") {
    std::string script;
    for (size_t i = 1; i < test.size(); ++i) script += (i > 1 ? " " : "") + test[i];
    p.cmd = {"/bin/sh", "-c", script};
  } else if (test[0] == "CMD") {
    p.cmd.assign(test.begin() + 1, test.end());
  } else {
    p.cmd = test;  // docker takes a bare list as CMD
  }
  if (p.cmd.empty()) return std::nullopt;
  auto ns = [](int64_t v, int64_t dflt) { return v > 0 ? v : dflt; };
  p.intervalNs = ns(h.interval, 30 * kSecond);
  p.timeoutNs = ns(h.timeout, 30 * kSecond);
  p.startPeriodNs = ns(h.startPeriod, 0);
  p.startIntervalNs = ns(h.startInterval, 5 * kSecond);
  p.retries = h.retries > 0 ? h.retries : 3;
  return p;
}

// Called with the lock held when a container (re)starts or is found running at daemon start.
void Engine::startHealthLocked(const std::string& id) {
  auto& c = containers_.at(id);
  auto probe = healthProbeOf(c.config);
  std::shared_ptr<Task> task = taskLocked(id);
  uint64_t gen = ++task->healthGen;
  if (!probe) {
    c.state.health = nullptr;
    return;
  }
  if (!c.state.health.is_object() || c.state.status != Status::Running)
    c.state.health = {{"Status", "starting"}, {"FailingStreak", 0}, {"Log", json::array()}};
  ++monitorsRunning_;
  std::thread([this, id, task, gen, p = *probe] { healthLoop(id, task, gen, p); }).detach();
}

void Engine::healthLoop(std::string id, std::shared_ptr<Task> task, uint64_t gen, HealthProbe p) {
  using namespace std::chrono;
  auto started = steady_clock::now();
  auto current = [&] {
    auto it = containers_.find(id);
    return !stopping_ && task->healthGen == gen && it != containers_.end() &&
           hasProcess(it->second.state.status);
  };
  for (;;) {
    bool inStart = steady_clock::now() - started < nanoseconds(p.startPeriodNs);
    int64_t waitNs = inStart ? std::min(p.startIntervalNs, p.intervalNs) : p.intervalNs;
    {
      std::unique_lock lock(m_);
      changed_.wait_for(lock, nanoseconds(waitNs), [&] { return !current(); });
      if (!current()) break;
      if (containers_.at(id).state.status == Status::Paused) continue;  // docker skips probes while paused
    }
    HealthResult r = runProbe(id, p);
    bool restart = false;
    {
      std::unique_lock lock(m_);
      if (!current()) break;
      Container& c = containers_.at(id);
      json& h = c.state.health;
      if (!h.is_object()) h = {{"Status", "starting"}, {"FailingStreak", 0}, {"Log", json::array()}};
      json& logs = h["Log"];
      logs.push_back({{"Start", r.start}, {"End", r.end}, {"ExitCode", r.exitCode}, {"Output", r.output}});
      while (logs.size() > kMaxLog) logs.erase(logs.begin());
      std::string before = h.value("Status", "starting");
      bool stillStarting = steady_clock::now() - started < nanoseconds(p.startPeriodNs);
      if (r.exitCode == 0) {
        h["Status"] = "healthy";
        h["FailingStreak"] = 0;
      } else if (!(stillStarting && before == "starting")) {
        int streak = h.value("FailingStreak", 0) + 1;
        h["FailingStreak"] = streak;
        if (streak >= p.retries) h["Status"] = "unhealthy";
      }
      std::string after = h["Status"];
      (void)save(c, db::Sync::Relaxed);
      if (after != before) {
        emitLocked("container", "health_status: " + after, id);
        auto label = c.config.labels.find("berth.restart-on-unhealthy");
        bool wanted = c.hostConfig.restartOnUnhealthy ||
                      (label != c.config.labels.end() && (label->second == "true" || label->second == "1"));
        restart = after == "unhealthy" && wanted;
      }
    }
    if (restart) {
      log::info("container " + id + " is unhealthy: restarting it (restart-on-unhealthy)");
      // restart() stops this container (ending this loop's generation) and starts a new one.
      {
        std::lock_guard lock(m_);
        ++monitorsRunning_;
      }
      std::thread([this, id] {
        (void)this->restart(id, std::nullopt);
        std::lock_guard lock(m_);
        --monitorsRunning_;
        changed_.notify_all();
      }).detach();
      break;
    }
  }
  std::lock_guard lock(m_);
  --monitorsRunning_;
  changed_.notify_all();
}

HealthResult Engine::runProbe(const std::string& id, const HealthProbe& p) {
  HealthResult r;
  r.start = log::nowRfc3339();
  auto finish = [&](int code, std::string out) {
    r.exitCode = code;
    r.output = std::move(out);
    r.end = log::nowRfc3339();
    return r;
  };
  spec::ExecConfig probe;
  probe.cmd = p.cmd;
  probe.attachStdout = probe.attachStderr = true;
  auto execId = execCreate(id, probe);
  if (!execId) return finish(-1, execId.error().message());
  auto ex = execBegin(*execId, {});
  if (!ex) return finish(-1, ex.error().message());
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) return finish(-1, "socketpair failed");
  UniqueFd ours(sp[0]), theirs(sp[1]);
  Result<void> ran;
  std::thread runner([&] {
    ran = execRun(*execId, theirs.get(), {});
    ::shutdown(theirs.get(), SHUT_RDWR);
  });
  // Output arrives in docker's frames (8-byte header, then the bytes); keep the first 4 KiB of the bytes.
  std::string raw, out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(p.timeoutNs);
  bool timedOut = false;
  char buf[8192];
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    int wait = timedOut ? 1000 : static_cast<int>(std::clamp<int64_t>(left.count(), 0, 100));
    struct pollfd pfd {
      ours.get(), POLLIN, 0
    };
    int n = ::poll(&pfd, 1, wait);
    if (n > 0) {
      ssize_t got = ::recv(ours.get(), buf, sizeof buf, 0);
      if (got <= 0) break;
      raw.append(buf, static_cast<size_t>(got));
      while (raw.size() >= 8) {
        uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>(raw[4])) << 24) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(raw[5])) << 16) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(raw[6])) << 8) |
                       static_cast<uint32_t>(static_cast<unsigned char>(raw[7]));
        if (raw.size() < 8 + len) break;
        if (out.size() < kMaxOutput) out.append(raw, 8, std::min<size_t>(len, kMaxOutput - out.size()));
        raw.erase(0, 8 + len);
      }
      continue;
    }
    if (timedOut) break;  // killed, and still no end of stream: give up on the stream
    bool stop;
    {
      std::lock_guard lock(m_);
      stop = stopping_;
    }
    if (std::chrono::steady_clock::now() >= deadline || stop) {
      timedOut = true;
      std::lock_guard lock(m_);
      if (auto it = execs_.find(*execId); it != execs_.end() && it->second.running && it->second.pid > 0)
        ::kill(it->second.pid, SIGKILL);
    }
  }
  ours.reset();  // the relay ends if it still writes
  runner.join();
  int code = -1;
  {
    std::lock_guard lock(m_);
    if (auto it = execs_.find(*execId); it != execs_.end()) {
      if (it->second.exitCode) code = *it->second.exitCode;
      execs_.erase(it);
    }
  }
  if (timedOut) return finish(-1, "Health check exceeded timeout (" + secondsText(p.timeoutNs) + ")");
  if (!ran) return finish(code == -1 ? -1 : code, ran.error().message());
  return finish(code, out);
}

}  // namespace berth::engine
