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
// "exited <code>"), exec-resize <id> <rows> <cols>. Execs still running when the container's init exits die
// with its pid namespace (reported as 137).
//
// When the container exits the shim records "<code> <oom> <finished-at>\n" in its exit file (atomically),
// removes the runtime's state and cgroup, answers its waiters and exits; a daemon that was down meanwhile
// reads the exit file when it comes back.
#pragma once

namespace berth::runtime::shim {

inline constexpr unsigned char kStdout = 1;
inline constexpr unsigned char kStderr = 2;
inline constexpr int kFrameHeader = 8;

// Ready line written by the shim on its --ready fd (or its standby socket) once the container exists, and
// with --start <attaches> runs: "ok <pid>\n" or "err <message>\n". A started container's output waits for
// that many attach requests (at most 1 s).

}  // namespace berth::runtime::shim
