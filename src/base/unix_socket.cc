#include "base/unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace berth {
namespace {

// Fills `sa` for `path`; `dir` keeps the directory open while a /proc/self/fd path is in use.
Result<void> address(const std::string& path, sockaddr_un& sa, UniqueFd& dir) {
  sa = {};
  sa.sun_family = AF_UNIX;
  std::string p = path;
  if (p.size() >= sizeof sa.sun_path) {
    size_t slash = p.rfind('/');
    if (slash == std::string::npos) return invalid("socket name too long: " + path);
    dir.reset(::open(p.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return sysFail("opening the directory of " + path);
    p = "/proc/self/fd/" + std::to_string(dir.get()) + p.substr(slash);
    if (p.size() >= sizeof sa.sun_path) return invalid("socket name too long: " + path);
  }
  std::memcpy(sa.sun_path, p.c_str(), p.size() + 1);
  return {};
}

}  // namespace

Result<UniqueFd> connectUnixSocket(const std::string& path) {
  sockaddr_un sa;
  UniqueFd dir;
  TRYV(address(path, sa, dir));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sysFail("socket");
  int r;
  do r = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  while (r < 0 && errno == EINTR);
  if (r < 0) return sysFail("connecting to " + path);
  return fd;
}

Result<UniqueFd> listenUnixSocket(const std::string& path, unsigned mode, int backlog) {
  sockaddr_un sa;
  UniqueFd dir;
  TRYV(address(path, sa, dir));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sysFail("socket");
  ::unlink(sa.sun_path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return sysFail("binding " + path);
  if (::chmod(sa.sun_path, mode) < 0) return sysFail("chmod " + path);
  if (::listen(fd.get(), backlog) < 0) return sysFail("listening on " + path);
  return fd;
}

}  // namespace berth
