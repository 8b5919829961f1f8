#include "sys/cgroup.h"

#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>

#include "base/clock.h"
#include "base/file.h"

namespace berth::sys::cgroup {

namespace {
Result<Layout> detectUncached() {
  Layout l;
  struct statfs fs;
  if (::statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
    l.version = 2;
    l.unifiedRoot = "/sys/fs/cgroup";
    return l;
  }
  TRY(std::string mi, readFile("/proc/self/mountinfo"));
  for (auto& line : split(mi, '\n')) {
    // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    auto left = split(line.substr(0, dash), ' ');
    auto right = split(line.substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    const std::string& mp = left[4];
    if (right[0] == "cgroup2") {
      if (l.unifiedRoot.empty()) l.unifiedRoot = mp;
      continue;
    }
    if (right[0] != "cgroup") continue;
    for (auto& opt : split(right[2], ',')) {
      if (opt == "rw" || opt == "ro" || opt == "relatime" || opt == "noexec" || opt == "nosuid" ||
          opt == "nodev" || opt == "clone_children" || opt == "noprefix" ||
          startsWith(opt, "release_agent") || opt == "xattr")
        continue;
      l.v1.push_back({opt, mp});
    }
  }
  if (l.v1.empty()) {
    if (l.unifiedRoot.empty()) return fail(ErrorCategory::Unavailable, "no cgroup hierarchy is mounted");
    l.version = 2;
  }
  return l;
}
}  // namespace

Result<Layout> detect() {
  // Hierarchies are mounted once at boot: one look per process (a shim looks at create and at exit).
  static std::mutex m;
  static std::optional<Layout> cached;
  std::lock_guard lock(m);
  if (cached) return *cached;
  TRY(Layout l, detectUncached());
  cached = l;
  return l;
}

Result<std::unique_ptr<Manager>> open(const std::string& rawPath, Layout* layout) {
  TRY(std::string path, normalisePath(rawPath));
  if (const char* forced = std::getenv("BERTH_CGROUP_V2_ROOT"); forced && *forced)
    return makeV2(forced, path);
  TRY(Layout l, detect());
  if (layout) *layout = l;
  if (l.version == 2) return makeV2(l.unifiedRoot, path);
  return makeV1(l, path);
}

Result<std::string> normalisePath(const std::string& path) {
  if (path.find(':') != std::string::npos)
    return invalid("cgroupsPath \"" + path +
                   "\" is a systemd slice path; berth-runtime manages cgroupfs paths only");
  std::string out;
  for (auto& part : split(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return invalid("cgroupsPath \"" + path + "\" must not contain \"..\"");
    out += "/" + part;
  }
  if (out.empty()) return invalid("cgroupsPath \"" + path + "\" names the root cgroup");
  return out;
}

Result<uint64_t> readUint(const std::string& file) {
  TRY(std::string s, readFile(file));
  s = trim(s);
  if (s == "max") return UINT64_MAX;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno || end == s.c_str()) return invalid(file + ": not a number: \"" + s + "\"");
  return static_cast<uint64_t>(v);
}

Result<std::vector<pid_t>> readPids(const std::string& file) {
  TRY(std::string s, readFile(file));
  std::vector<pid_t> out;
  for (auto& line : split(s, '\n'))
    if (!line.empty()) out.push_back(static_cast<pid_t>(std::atoi(line.c_str())));
  return out;
}

Result<void> removeDir(const std::string& dir) {
  for (int i = 0; i < 50; ++i) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY) return sysFail("removing cgroup " + dir);
    sleepNs(2 * 1000 * 1000);
  }
  return sysFail("removing cgroup " + dir + " (still has processes)", EBUSY);
}

}  // namespace berth::sys::cgroup
