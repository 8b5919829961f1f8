// Whole-file reads and crash-safe writes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/fd.h"

namespace berth {

Result<std::string> readFile(const std::string& path);
Result<std::string> readFileAt(int dirfd, const std::string& path);
// Writes via a temp file in the same directory, fsync, rename, fsync of the directory: for what must
// survive a power cut (the data root).
Result<void> writeFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644);
// The same rename without the fsyncs, for files made anew before every use (a container's config.json)
// and for state under /run (runtime state, pid files, exit statuses), which a reboot ends anyway:
// a killed process leaves the old or the new file; after a power loss the file may be empty, and its next
// use writes it again.
Result<void> replaceFile(const std::string& path, std::string_view data, mode_t mode = 0644);
// Plain write (for /proc and cgroup files: no temp file, one write call).
Result<void> writeFile(const std::string& path, std::string_view data);
Result<void> mkdirAll(const std::string& path, mode_t mode = 0755);
// mkdirAll, then the directory itself gets exactly `mode` (also when it existed with another): for the
// roots whose mode keeps other users out (a data root made by an older version with a wider one).
Result<void> ensureDir(const std::string& path, mode_t mode);
// Removes a tree without following symlinks; a missing path is not an error.
Result<void> removeAll(const std::string& path);
// The names in the directory open at `dirFd` (without "." and ".."), in directory order; `what` names it in
// errors.
Result<std::vector<std::string>> dirEntries(int dirFd, const std::string& what);
bool pathExists(const std::string& path);

// A temporary directory removed (recursively) on destruction.
class TempDir {
 public:
  static Result<TempDir> make(const std::string& prefix = "/tmp/berth-");
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

std::vector<std::string> split(std::string_view s, char sep);
std::string trim(std::string_view s);
// A path's components as Go's path.Clean leaves them, read from "/": no "", "." or ".." (a ".." at the
// top stays at the top). pathFrom(components) joins them back ("/" for none).
std::vector<std::string> cleanComponents(std::string_view path);
std::string pathFrom(const std::vector<std::string>& components);
bool startsWith(std::string_view s, std::string_view prefix);
// A whole decimal number (no sign, no spaces), or nullopt. Never throws.
std::optional<uint64_t> parseUint(std::string_view s);

}  // namespace berth
