#include "base/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace berth {

Result<std::string> readFileAt(int dirfd, const std::string& path) {
  UniqueFd fd(::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC));
  // The file was what the caller asked for: its absence is NotFound.
  if (!fd)
    return sysFail(errno == ENOENT ? ErrorCategory::NotFound : ErrorCategory::Internal, "open " + path);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> readFile(const std::string& path) {
  return readFileAt(AT_FDCWD, path);
}

static Result<void> writeAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("write " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<void> writeFile(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC));
  if (!fd) return sysFail("open " + path);
  ssize_t n = ::write(fd.get(), data.data(), data.size());
  if (n < 0) return sysFail("write " + path);
  return {};
}

namespace {
Result<void> writeAndRename(const std::string& path, std::string_view data, mode_t mode, bool sync) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::string tmp = path + ".tmp-XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return sysFail("create temp file for " + path);
  Defer cleanup([&] { ::unlink(tmp.c_str()); });
  TRYV(writeAll(fd.get(), data, tmp));
  if (::fchmod(fd.get(), mode) < 0) return sysFail("chmod " + tmp);
  if (sync && ::fsync(fd.get()) < 0) return sysFail("fsync " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) < 0) return sysFail("rename " + tmp + " to " + path);
  cleanup.dismiss();
  if (!sync) return {};
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return {};
}
}  // namespace

Result<void> writeFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  return writeAndRename(path, data, mode, true);
}

Result<void> replaceFile(const std::string& path, std::string_view data, mode_t mode) {
  return writeAndRename(path, data, mode, false);
}

Result<void> mkdirAll(const std::string& path, mode_t mode) {
  if (path.empty()) return {};
  // Fast path: the parent usually exists already (one syscall instead of one per component).
  if (::mkdir(path.c_str(), mode) == 0) return {};
  if (errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
  }
  std::string cur;
  for (auto& part : split(path, '/')) {
    if (part.empty()) {
      if (cur.empty()) cur = "/";
      continue;
    }
    if (!cur.empty() && cur.back() != '/') cur += '/';
    cur += part;
    if (::mkdir(cur.c_str(), mode) < 0 && errno != EEXIST) return sysFail("mkdir " + cur);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) return sysFail("stat " + path);
  if (!S_ISDIR(st.st_mode)) return fail(ErrorCategory::Conflict, path + " exists and is not a directory");
  return {};
}

Result<void> ensureDir(const std::string& path, mode_t mode) {
  TRYV(mkdirAll(path, mode));
  if (::chmod(path.c_str(), mode) < 0) return sysFail("chmod " + path);
  return {};
}

static Result<void> removeAt(int dirfd, const char* name) {
  if (::unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return {};
  if (errno != EISDIR && errno != EPERM) return sysFail(std::string("unlink ") + name);
  int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sysFail(std::string("open ") + name);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return sysFail(std::string("opendir ") + name);
  }
  Result<void> r;
  while (struct dirent* e = ::readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    r = removeAt(::dirfd(d), e->d_name);
    if (!r) break;
  }
  ::closedir(d);
  if (!r) return r;
  if (::unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return sysFail(std::string("rmdir ") + name);
  return {};
}

Result<std::vector<std::string>> dirEntries(int dirFd, const std::string& what) {
  int dup = ::openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return sysFail("opening " + what);
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    return sysFail("reading " + what);
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.emplace_back(e->d_name);
  int err = errno;
  ::closedir(d);
  if (err) return sysFail("reading " + what, err);
  return names;
}

Result<void> removeAll(const std::string& path) {
  return removeAt(AT_FDCWD, path.c_str());
}

bool pathExists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

Result<TempDir> TempDir::make(const std::string& prefix) {
  std::string tmpl = prefix + "XXXXXX";
  if (!::mkdtemp(tmpl.data())) return sysFail("mkdtemp " + tmpl);
  return TempDir(tmpl);
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)removeAll(path_);
}

std::vector<std::string> cleanComponents(std::string_view path) {
  std::vector<std::string> parts;
  for (auto& c : split(path, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  return parts;
}

std::string pathFrom(const std::vector<std::string>& components) {
  std::string out;
  for (auto& c : components) out += "/" + c;
  return out.empty() ? "/" : out;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::strchr(" \t\r\n", s[b])) ++b;
  while (e > b && std::strchr(" \t\r\n", s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

std::optional<uint64_t> parseUint(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return std::nullopt;  // overflow
    v = next;
  }
  return v;
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace berth
