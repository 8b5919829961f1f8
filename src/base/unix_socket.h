// Unix stream sockets by path, also for paths longer than sun_path (108 bytes): those are reached through
// /proc/self/fd/<directory fd>/<name>, so a deep state directory still works.
#pragma once

#include <string>

#include "base/error.h"
#include "base/fd.h"

namespace berth {

Result<UniqueFd> connectUnixSocket(const std::string& path);
// Binds (replacing a stale socket file) and listens; `mode` is applied to the socket file.
Result<UniqueFd> listenUnixSocket(const std::string& path, unsigned mode, int backlog = 128);

}  // namespace berth
