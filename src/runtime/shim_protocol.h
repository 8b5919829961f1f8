// The conversation between berthd and a berth-shim, over the shim's unix socket (one request per connection).
//
// The daemon connects and sends one line; the shim answers one line ("ok …" or "err <message>"), except:
//   attach <stdin 0|1>   "ok", then the connection is a stream: output in docker's multiplexed frames
//                        (8-byte header: stream 1|2, 0, 0, 0, size big-endian; stream 1 only with a TTY),
//                        bytes sent to the shim go to the container's stdin (stdin 1). A half-close of the
//                        connection closes the container's stdin when the shim runs with --stdin-once.
//                        The shim closes the stream after the container's last output.
//   wait                 answers "exit <code> <oom 0|1> <finished-at RFC 3339>" once the container exited.
//   exec <id> <stdin 0|1>
//                        runs <bundle>/exec-<id>.json (an OCI process, written by the daemon, removed by the
//                        shim) in the container: "ok <pid>", then the connection is the process's stream,
//                        as with attach; the shim ends it once the process exited and its output drained.
//   exec-wait <id>       answers "exit <code>" once exec <id> ended (at once when it already did).
// Other requests: kill <signal> [all], resize <rows> <cols>, pause, resume, state (answers
// "running <pid>" or "exited <code> <oom> <finished-at>"), exec-state <id> ("running <pid>" or
// "exited <code>"), exec-resize <id> <rows> <cols>, update <OCI LinuxResources as one line of JSON>,
// processes ("ok <pid> <pid> …": the processes of the container's cgroup), stats ("ok <Usage>": its
// cgroup's counters, see encode(Usage)). Execs still running when the container's init exits die
// with its pid namespace (reported as 137).
//
// When the container exits the shim records "<code> <oom> <finished-at>\n" in its exit file (atomically),
// removes the runtime's state and cgroup, answers its waiters and exits; a daemon that was down meanwhile
// reads the exit file when it comes back.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "sys/cgroup.h"

namespace berth::runtime::shim {

// One request line (the daemon encodes, the shim decodes).
struct Request {
  enum class Kind {
    Attach,
    Wait,
    State,
    Kill,
    Resize,
    Pause,
    Resume,
    CloseStdin,
    Exec,
    ExecState,
    ExecWait,
    ExecResize,
    Update,
    Processes,
    Stats
  };
  Kind kind = Kind::State;
  bool stdin = false;           // attach, exec: the client sends input
  int signal = 0;               // kill
  bool all = false;             // kill: every process in the container's cgroup
  unsigned rows = 0, cols = 0;  // resize, exec-resize
  std::string execId;           // exec, exec-state, exec-wait, exec-resize: lower-case hex, at most 64
  std::string resources;        // update: a JSON object on one line (the shim parses it as OCI's)

  static Request of(Kind k, std::string exec = {}) {
    Request r;
    r.kind = k;
    r.execId = std::move(exec);
    return r;
  }
  static Request kill(int sig, bool all = false) {
    Request r = of(Kind::Kill);
    r.signal = sig, r.all = all;
    return r;
  }
  static Request resize(unsigned rows, unsigned cols, std::string exec = {}) {
    Kind k = exec.empty() ? Kind::Resize : Kind::ExecResize;  // (before the move below)
    Request r = of(k, std::move(exec));
    r.rows = rows, r.cols = cols;
    return r;
  }
  static Request update(std::string resourcesJson) {
    Request r = of(Kind::Update);
    r.resources = std::move(resourcesJson);
    return r;
  }
  static Request attach(bool withStdin, std::string exec = {}) {
    Kind k = exec.empty() ? Kind::Attach : Kind::Exec;
    Request r = of(k, std::move(exec));
    r.stdin = withStdin;
    return r;
  }
};
std::string encode(const Request& r);  // without the newline
// InvalidArgument "unknown request: <line>" for anything else.
Result<Request> decodeRequest(std::string_view line);

// How a process ended: the init's (wait's answer, state's, the exit file: "<code> <oom 0|1> <finished-at>")
// or an exec's ("<code>").
struct Exit {
  int code = 0;
  bool oom = false;
  std::string finishedAt;  // RFC 3339; empty for an exec
};
std::string encode(const Exit& e);
Result<Exit> decodeExit(std::string_view text);
inline Exit execExit(int code) {
  Exit e;
  e.code = code;
  return e;
}

// The answers: "ok", "ok <value>", "err <message>" (a message on one line).
std::string okLine(std::string_view value = {});
std::string errLine(std::string_view message);
// The value of an "ok" answer (may be empty); an "err" answer (or anything else) is an Internal error with
// its message.
Result<std::string> decodeAnswer(std::string_view line);
// wait and exec-wait: "exit <Exit>".
std::string exitLine(const Exit& e);
Result<Exit> decodeExitLine(std::string_view line);
// state and exec-state: "running <pid>" or "exited <Exit>".
struct State {
  bool running = false;
  int pid = 0;
  Exit exit;
};
std::string encode(const State& s);
Result<State> decodeState(std::string_view line);

// processes' answer: the pids, space-separated.
std::string encodePids(const std::vector<int>& pids);
Result<std::vector<int>> decodePids(std::string_view value);
// stats' answer: a cgroup's counters, "<key>=<n>" space-separated (unknown keys ignored: a newer shim may
// send more).
std::string encode(const sys::cgroup::Stats& s);
Result<sys::cgroup::Stats> decodeStats(std::string_view value);

// The longest request line a shim takes (an update's resources included).
inline constexpr size_t kMaxRequest = 64 * 1024;

inline constexpr unsigned char kStdout = 1;
inline constexpr unsigned char kStderr = 2;
inline constexpr int kFrameHeader = 8;

// Ready line written by the shim on its --ready fd (or its standby socket) once the container exists, and
// with --start <attaches> runs: "ok <pid>\n" or "err <message>\n". A started container's output waits for
// that many attach requests (at most 1 s).

}  // namespace berth::runtime::shim
