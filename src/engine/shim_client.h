// The daemon's side of the shim protocol (src/runtime/shim_protocol.h): connecting, lines, and the relay
// between a hijacked client connection and an attach/exec stream of the shim. Internal to the engine.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "base/fd.h"

namespace berth::engine::shimio {

Result<UniqueFd> connect(const std::string& socketPath);
bool sendAll(int fd, std::string_view s);
bool recvAll(int fd, char* p, size_t n);
// One line (up to '\n'); reads byte by byte so nothing after the line is consumed.
Result<std::string> readLine(int fd);

struct RelayOptions {
  bool tty = false;  // raw output to the client (no frame headers)
  bool stdout = true, stderr = true;
  bool stdin = false;  // client bytes go to the shim; the client's half-close is passed on
};
// Copies the shim's framed output to the client (framed, or raw with a TTY) and the client's input to the
// shim, until the shim ends the stream or the client goes.
void relay(int shimFd, int clientFd, const RelayOptions& o);

}  // namespace berth::engine::shimio
