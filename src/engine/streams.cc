// Engine: the container's output as a client sees it: logs (json-file, written by the shim) and attach
// (a live relay through the shim).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

#include "base/file.h"
#include "base/log.h"
#include "base/unix_socket.h"
#include "engine/engine.h"
#include "engine/shim_client.h"
#include "runtime/shim_protocol.h"

namespace berth::engine {

using nlohmann::json;

namespace {

struct LogRecord {
  int stream = 1;
  std::string time;
  std::string text;
  int64_t ns = 0;
};

bool parseRecord(const std::string& line, LogRecord& r) {
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  r.text = j.value("log", "");
  r.stream = j.value("stream", "stdout") == "stderr" ? 2 : 1;
  r.time = j.value("time", "");
  r.ns = log::parseRfc3339Ns(r.time).value_or(0);
  return true;
}

bool wanted(const LogRecord& r, const LogOptions& o) {
  if (r.stream == 1 && !o.stdout) return false;
  if (r.stream == 2 && !o.stderr) return false;
  if (o.sinceNs && r.ns < o.sinceNs) return false;
  if (o.untilNs && r.ns > o.untilNs) return false;
  return true;
}

bool emitRecord(const LogRecord& r, const LogOptions& o, const OutputSink& sink) {
  if (o.timestamps) return sink(r.stream, r.time + " " + r.text);
  return sink(r.stream, r.text);
}

}  // namespace

Result<void> Engine::logs(const std::string& ref, const LogOptions& opts, const OutputSink& sink,
                          const std::function<bool()>& cancelled) {
  LogOptions o = opts;
  std::string id, path;
  bool tty = false;
  {
    std::lock_guard lock(m_);
    TRY(id, resolveId(ref));
    auto& c = containers_.at(id);
    tty = c.config.tty;
    if (c.hostConfig.logConfig.type == "none")
      return invalid("configured logging driver does not support reading");
    path = logPath(id);
  }
  (void)tty;
  // Rotated files first, oldest first.
  std::vector<std::string> files;
  for (int i = 64; i >= 1; --i) {
    std::string p = path + "." + std::to_string(i);
    if (::access(p.c_str(), R_OK) == 0) files.push_back(p);
  }
  std::deque<LogRecord> tail;
  auto take = [&](const LogRecord& r) -> bool {
    if (!wanted(r, o)) return true;
    if (o.tail >= 0) {
      tail.push_back(r);
      if (static_cast<int64_t>(tail.size()) > o.tail) tail.pop_front();
      return true;
    }
    return emitRecord(r, o, sink);
  };
  for (auto& f : files) {
    std::ifstream in(f);
    std::string line;
    LogRecord r;
    while (std::getline(in, line))
      if (parseRecord(line, r) && !take(r)) return {};
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string pending;
  off_t offset = 0;
  auto readNew = [&](bool& any) -> bool {
    if (!fd) return true;
    char buf[65536];
    for (;;) {
      ssize_t n = ::pread(fd.get(), buf, sizeof buf, offset);
      if (n <= 0) break;
      offset += n;
      pending.append(buf, static_cast<size_t>(n));
    }
    size_t start = 0;
    for (;;) {
      size_t nl = pending.find('\n', start);
      if (nl == std::string::npos) break;
      LogRecord r;
      if (parseRecord(pending.substr(start, nl - start), r)) {
        any = true;
        if (!take(r)) return false;
      }
      start = nl + 1;
    }
    pending.erase(0, start);
    return true;
  };
  bool any = false;
  if (!readNew(any)) return {};
  for (auto& r : tail)
    if (!emitRecord(r, o, sink)) return {};
  tail.clear();
  if (!o.follow) return {};
  o.tail = -1;  // from here on every new line goes out
  for (;;) {
    bool running;
    {
      std::lock_guard lock(m_);
      auto it = containers_.find(id);
      running = it != containers_.end() &&
                (hasProcess(it->second.state.status) || it->second.state.status == Status::Starting ||
                 it->second.state.status == Status::Restarting);
    }
    any = false;
    if (!readNew(any)) return {};
    // Rotated under us: finish the old file (done above), then continue with the new one.
    struct stat a, b;
    if (fd && ::fstat(fd.get(), &a) == 0 && ::stat(path.c_str(), &b) == 0 && (a.st_ino != b.st_ino)) {
      fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      offset = 0;
      pending.clear();
      continue;
    }
    if (!fd) fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!running && !any) return {};
    if (o.untilNs && std::chrono::system_clock::now().time_since_epoch().count() > o.untilNs) return {};
    if (cancelled && cancelled()) return {};
    if (!sink(0, {})) return {};  // a keep-alive probe: false once the client is gone
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<void> Engine::attachable(Status status, const std::string& ref) {
  if (status == Status::Paused)
    return fail(ErrorCategory::Conflict,
                "container " + ref + " is paused, unpause the container before attach");
  if (status == Status::Restarting)
    return fail(ErrorCategory::Conflict,
                "container " + ref + " is restarting, wait until the container is running");
  return {};
}

Result<void> Engine::attach(const std::string& ref, const AttachStreams& s, const Hijack& hijack,
                            bool* hijacked) {
  UniqueFd shim;
  bool tty = false;
  int clientFd = -1;
  std::string early;
  *hijacked = false;
  auto answer = [&] {
    clientFd = hijack(&early);
    *hijacked = true;
  };
  {
    std::unique_lock lock(m_);
    TRY(std::string id, resolveId(ref));
    auto status = containers_.at(id).state.status;
    tty = containers_.at(id).config.tty;
    TRYV(attachable(status, ref));
    std::shared_ptr<Task> task = taskLocked(id);
    if (!task->shimReady) {
      // As docker's daemon: an attach to a container that is not running (created, or exited: `docker
      // start -a` of a container that ran before) waits for its next start. Counted before the client
      // hears back: its start request, sent after the answer, then waits for this attach to connect.
      task->pendingAttach++;
      uint64_t failures = task->startFailures;
      lock.unlock();
      answer();
      lock.lock();
      changed_.wait(lock, [&] {
        auto it = containers_.find(id);
        if (stopping_ || task->shimReady || it == containers_.end() || task->startFailures != failures)
          return true;
        auto& st = it->second.state.status;
        return st != Status::Created && st != Status::Starting && st != Status::Exited && st != Status::Dead;
      });
      task->pendingAttach--;
      changed_.notify_all();
      if (!task->shimReady) return fail(ErrorCategory::Conflict, "the container did not start");
    }
    TRY(shim, shimio::connect(containerDir(id) + "/shim.sock"));
    std::string req = runtime::shim::encode(runtime::shim::Request::attach(s.stdin)) + "\n";
    if (!shimio::sendAll(shim.get(), req)) return sysFail("talking to the shim");
    char ok[3];
    if (!shimio::recvAll(shim.get(), ok, 3) || std::memcmp(ok, "ok\n", 3) != 0)
      return fail("the shim refused to attach");
  }
  if (!*hijacked) answer();
  if (clientFd < 0) return {};
  if (s.stdin && !early.empty()) shimio::sendAll(shim.get(), early);
  shimio::relay(shim.get(), clientFd, {.tty = tty, .stdout = s.stdout, .stderr = s.stderr, .stdin = s.stdin});
  return {};
}

}  // namespace berth::engine
