// Engine: docker exec. The process is started by the container's shim (its parent, like the container's
// init), from an OCI process spec the daemon writes next to the bundle; its stdio are relayed like attach.
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "base/file.h"
#include "base/random_id.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/shim_client.h"
#include "image/runspec.h"

namespace berth::engine {

using nlohmann::json;

namespace {

// docker's exit code for an exec that could not start: 127 when the command is not found, else 126.
int startFailureCode(const Error& e) {
  const std::string& m = e.message();
  return m.find("not found") != std::string::npos || m.find("No such file") != std::string::npos ? 127 : 126;
}

// The exec's process (exec-<id>.json in the container's run directory, for the shim): the container's
// process as the runtime runs it, changed into the exec's.
Result<image::ExecProcessOptions> writeExecProcess(const std::string& dir, const std::string& execId,
                                                   const spec::ExecConfig& cfg, unsigned rows,
                                                   unsigned cols) {
  auto spec = readFile(dir + "/config.json");
  if (!spec) return std::unexpected(spec.error().context("reading the container's spec"));
  json full = json::parse(*spec, nullptr, false);
  if (!full.is_object() || !full.contains("process"))
    return fail(ErrorCategory::Internal, "the container's spec is unreadable");
  image::ExecProcessOptions o;
  o.cmd = cfg.cmd;
  o.env = cfg.env;
  o.user = cfg.user;
  o.workdir = cfg.workingDir;
  o.tty = cfg.tty;
  o.privileged = cfg.privileged;
  o.rows = rows, o.cols = cols;
  TRY(std::string process, image::makeExecProcess(full["process"].dump(), o, dir + "/rootfs"));
  TRYV(replaceFile(dir + "/exec-" + execId + ".json", process, 0600));
  return o;
}

}  // namespace

Result<std::string> Engine::execCreate(const std::string& ref, const spec::ExecConfig& cfg) {
  const std::vector<std::string>& cmd = cfg.cmd;
  if (cmd.empty()) return invalid("No exec command specified");
  const std::string& wd = cfg.workingDir;
  if (!wd.empty() && wd[0] != '/') return invalid("the working directory '" + wd + "' is not absolute");
  std::lock_guard lock(m_);
  TRY(std::string cid, resolveId(ref));
  const Container& c = containers_.at(cid);
  if (c.state.status == Status::Paused)
    return fail(ErrorCategory::Conflict,
                "Container " + cid + " is paused, unpause the container before exec");
  if (c.state.status != Status::Running)
    return fail(ErrorCategory::Conflict, "Container " + cid + " is not running");
  Exec ex;
  ex.id = randomHexId();
  ex.containerId = cid;
  ex.config = cfg;
  if (cfg.consoleSize.size() == 2) {
    ex.rows = cfg.consoleSize[0];
    ex.cols = cfg.consoleSize[1];
  }
  // Execs of the past of this container are forgotten when there are too many (docker keeps them until
  // the container goes; a busy health check would make that unbounded).
  size_t mine = 0;
  for (auto& [id, e] : execs_) mine += e.containerId == cid;
  if (mine >= 256)
    for (auto it = execs_.begin(); it != execs_.end();)
      it = it->second.containerId == cid && it->second.exitCode ? execs_.erase(it) : std::next(it);
  execs_[ex.id] = ex;
  emitLocked("container",
             "exec_create: " +
                 [&] {
                   std::string s;
                   for (auto& a : cmd) s += (s.empty() ? "" : " ") + a;
                   return s;
                 }(),
             cid, {{"execID", ex.id}});
  return ex.id;
}

Result<Exec> Engine::execBegin(const std::string& execId, const spec::ExecStartRequest& start) {
  std::lock_guard lock(m_);
  auto it = execs_.find(execId);
  if (it == execs_.end()) return fail(ErrorCategory::NotFound, "No such exec instance: " + execId);
  Exec& ex = it->second;
  if (ex.running)
    return fail(ErrorCategory::Conflict, "Error: Exec command " + execId + " is already running");
  if (ex.started) return fail(ErrorCategory::Conflict, "Error: Exec command " + execId + " has already run");
  auto c = containers_.find(ex.containerId);
  if (c == containers_.end() || c->second.state.status != Status::Running)
    return fail(ErrorCategory::Conflict, "Container " + ex.containerId + " is not running");
  if (start.tty) ex.config.tty = *start.tty;
  if (start.consoleSize.size() == 2) ex.rows = start.consoleSize[0], ex.cols = start.consoleSize[1];
  ex.started = true;
  return ex;
}

void Engine::recordExecExit(const std::string& execId, int code) {
  std::lock_guard lock(m_);
  auto it = execs_.find(execId);
  if (it == execs_.end()) return;
  it->second.running = false;
  if (!it->second.exitCode) it->second.exitCode = code;
  std::string cid = it->second.containerId;
  emitLocked("container", "exec_die", cid, {{"execID", execId}, {"exitCode", std::to_string(code)}});
}

// The exit code, once the process ended (the shim answers at once when it already did).
void Engine::awaitExecExit(const std::string& execId, const std::string& dir) {
  int code = 128 + 9;  // the shim went with the container: its execs were killed with it
  auto fd = shimio::connect(dir + "/shim.sock");
  if (fd) {
    std::lock_guard lock(m_);
    waiterFds_.insert(fd->get());  // shut down by shutdown(), so the wait ends with the daemon
    if (stopping_) ::shutdown(fd->get(), SHUT_RDWR);
  }
  namespace proto = runtime::shim;
  if (fd && shimio::sendAll(fd->get(),
                            proto::encode(proto::Request::of(proto::Request::Kind::ExecWait, execId)) + "\n"))
    if (auto l = shimio::readLine(fd->get()))
      if (auto exit = proto::decodeExitLine(*l)) code = exit->code;
  if (fd) {
    std::lock_guard lock(m_);
    waiterFds_.erase(fd->get());
    if (stopping_) return;
  }
  recordExecExit(execId, code);
}

Result<void> Engine::execRun(const std::string& execId, int clientFd, std::string_view earlyInput) {
  std::string cid, dir;
  spec::ExecConfig cfg;
  unsigned rows = 0, cols = 0;
  {
    std::lock_guard lock(m_);
    auto it = execs_.find(execId);
    if (it == execs_.end()) return fail(ErrorCategory::NotFound, "No such exec instance: " + execId);
    cid = it->second.containerId;
    cfg = it->second.config;
    rows = it->second.rows, cols = it->second.cols;
    dir = containerDir(cid);
  }
  auto failed = [&](const Error& e) -> Result<void> {
    recordExecExit(execId, startFailureCode(e));
    return std::unexpected(e);
  };
  auto written = writeExecProcess(dir, execId, cfg, rows, cols);
  if (!written) return failed(written.error());
  const image::ExecProcessOptions& o = *written;

  bool withStdin = clientFd >= 0 && cfg.attachStdin;
  auto shim = shimio::connect(dir + "/shim.sock");
  if (!shim) return failed(shim.error().context("connecting to the container's shim"));
  namespace proto = runtime::shim;
  if (!shimio::sendAll(shim->get(), proto::encode(proto::Request::attach(withStdin, execId)) + "\n"))
    return failed(Error(ErrorCategory::Internal, "talking to the container's shim"));
  auto line = shimio::readLine(shim->get());
  if (!line) return failed(line.error());
  auto answer = proto::decodeAnswer(*line);
  if (!answer) {
    ::unlink((dir + "/exec-" + execId + ".json").c_str());
    return failed(answer.error());
  }
  {
    std::lock_guard lock(m_);
    if (auto it = execs_.find(execId); it != execs_.end()) {
      it->second.running = true;
      it->second.pid = std::atoi(answer->c_str());
    }
    emitLocked("container",
               "exec_start: " +
                   [&] {
                     std::string s;
                     for (auto& a : o.cmd) s += (s.empty() ? "" : " ") + a;
                     return s;
                   }(),
               cid, {{"execID", execId}});
  }
  auto waitExit = [this, execId, dir] { awaitExecExit(execId, dir); };
  if (clientFd < 0) {  // detached: the shim drains its output; a thread learns its end
    {
      std::lock_guard lock(m_);
      ++monitorsRunning_;
    }
    std::thread([this, waitExit] {
      waitExit();
      std::lock_guard lock(m_);
      --monitorsRunning_;
      changed_.notify_all();
    }).detach();
    return {};
  }
  if (withStdin && !earlyInput.empty()) shimio::sendAll(shim->get(), earlyInput);
  shimio::relay(shim->get(), clientFd,
                {.tty = o.tty, .stdout = cfg.attachStdout, .stderr = cfg.attachStderr, .stdin = withStdin});
  waitExit();
  return {};
}

Result<void> Engine::execResize(const std::string& execId, int rows, int cols) {
  if (rows <= 0 || cols <= 0) return invalid("invalid terminal size");
  std::string dir;
  for (int attempt = 0;; ++attempt) {
    {
      std::lock_guard lock(m_);
      auto it = execs_.find(execId);
      if (it == execs_.end()) return fail(ErrorCategory::NotFound, "No such exec instance: " + execId);
      Exec& ex = it->second;
      if (!ex.running && !ex.started) {  // not started yet: the size goes with the start
        ex.rows = static_cast<unsigned>(rows), ex.cols = static_cast<unsigned>(cols);
        return {};
      }
      if (!ex.running && ex.exitCode) return {};
      dir = containerDir(ex.containerId);
      if (!ex.running) {  // starting: the shim does not know it yet
        ex.rows = static_cast<unsigned>(rows), ex.cols = static_cast<unsigned>(cols);
        if (attempt >= 40) return {};
      }
    }
    auto fd = shimio::connect(dir + "/shim.sock");
    auto req =
        runtime::shim::Request::resize(static_cast<unsigned>(rows), static_cast<unsigned>(cols), execId);
    if (fd && shimio::sendAll(fd->get(), runtime::shim::encode(req) + "\n")) {
      auto l = shimio::readLine(fd->get());
      auto answer = l ? runtime::shim::decodeAnswer(*l) : Result<std::string>(std::unexpected(l.error()));
      if (answer) return {};
      if (l && answer.error().message().find("no such exec") == std::string::npos)
        return std::unexpected(answer.error());
    }
    if (!fd) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

Result<json> Engine::execInspect(const std::string& execId) {
  std::lock_guard lock(m_);
  auto it = execs_.find(execId);
  if (it == execs_.end()) return fail(ErrorCategory::NotFound, "No such exec instance: " + execId);
  const Exec& ex = it->second;
  const spec::ExecConfig& c = ex.config;
  const std::vector<std::string>& cmd = c.cmd;
  json pc = {{"tty", c.tty},
             {"entrypoint", cmd.empty() ? "" : cmd[0]},
             {"arguments", cmd.empty() ? std::vector<std::string>{}
                                       : std::vector<std::string>(cmd.begin() + 1, cmd.end())},
             {"privileged", c.privileged}};
  if (!c.user.empty()) pc["user"] = c.user;
  return json{{"ID", ex.id},
              {"Running", ex.running},
              {"ExitCode", ex.exitCode ? json(*ex.exitCode) : json(nullptr)},
              {"ProcessConfig", pc},
              {"OpenStdin", c.attachStdin},
              {"OpenStderr", c.attachStderr},
              {"OpenStdout", c.attachStdout},
              {"CanRemove", false},
              {"ContainerID", ex.containerId},
              {"DetachKeys", c.detachKeys},
              {"Pid", ex.running ? ex.pid : 0}};
}

}  // namespace berth::engine
