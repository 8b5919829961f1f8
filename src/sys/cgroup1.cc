// cgroup v1: one directory per controller hierarchy.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <map>

#include "base/clock.h"
#include "base/fd.h"
#include "base/file.h"
#include "sys/cgroup.h"

namespace berth::sys::cgroup {
namespace {

constexpr std::string_view kStaged = ".staged-";

std::string parentOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string devRule(const DeviceRule& r) {
  auto num = [](int64_t v) { return v < 0 ? std::string("*") : std::to_string(v); };
  return std::string(1, r.type) + " " + num(r.major) + ":" + num(r.minor) + " " + r.access;
}

class V1 final : public Manager {
 public:
  V1(const Layout& l, std::string path) : path_(std::move(path)) {
    for (auto& c : l.v1) {
      if (startsWith(c.controller, "name=")) continue;  // named hierarchies carry no resources
      dirs_[c.controller] = c.mountPoint + path_;
    }
  }
  int version() const override { return 1; }
  const std::string& path() const override { return path_; }

  Result<void> create() override {
    for (auto& [ctrl, dir] : dirs_) {
      if (ctrl == "cpuset") {
        TRYV(createCpuset(dir));
        continue;
      }
      TRYV(mkdirAll(dir, 0755));
    }
    return {};
  }

  Result<void> addProcess(pid_t pid) override {
    std::string p = std::to_string(pid);
    for (auto& [ctrl, dir] : dirs_) TRYV_CTX(writeFile(dir + "/cgroup.procs", p), "joining cgroup " + dir);
    return {};
  }

  Result<void> setResources(const Resources& r) override {
    if (auto d = dir("devices"); !d.empty() && !r.devices.empty()) {
      for (auto& rule : r.devices)
        TRYV(writeFile(d + (rule.allow ? "/devices.allow" : "/devices.deny"), devRule(rule)));
    }
    if (auto d = dir("memory"); !d.empty()) {
      auto& m = r.memory;
      if (m.limit || m.swap) {
        std::string lim = std::to_string(m.limit.value_or(-1));
        std::string sw = m.swap ? std::to_string(*m.swap) : "";
        // memsw must stay >= limit: pick the write order that keeps it so.
        auto a = writeFile(d + "/memory.limit_in_bytes", lim);
        if (!sw.empty() && pathExists(d + "/memory.memsw.limit_in_bytes")) {
          TRYV(writeFile(d + "/memory.memsw.limit_in_bytes", sw));
          if (!a) a = writeFile(d + "/memory.limit_in_bytes", lim);
        }
        if (!a) return std::unexpected(a.error());
      }
      if (m.reservation) TRYV(writeFile(d + "/memory.soft_limit_in_bytes", std::to_string(*m.reservation)));
      if (m.swappiness && *m.swappiness <= 100)
        TRYV(writeFile(d + "/memory.swappiness", std::to_string(*m.swappiness)));
      if (m.disableOOMKiller && *m.disableOOMKiller) TRYV(writeFile(d + "/memory.oom_control", "1"));
    }
    if (auto d = dir("cpu"); !d.empty()) {
      auto& c = r.cpu;
      if (c.shares && *c.shares) TRYV(writeFile(d + "/cpu.shares", std::to_string(*c.shares)));
      if (c.period && *c.period) TRYV(writeFile(d + "/cpu.cfs_period_us", std::to_string(*c.period)));
      if (c.quota && *c.quota) TRYV(writeFile(d + "/cpu.cfs_quota_us", std::to_string(*c.quota)));
      if (c.realtimePeriod && *c.realtimePeriod)
        TRYV(writeFile(d + "/cpu.rt_period_us", std::to_string(*c.realtimePeriod)));
      if (c.realtimeRuntime && *c.realtimeRuntime)
        TRYV(writeFile(d + "/cpu.rt_runtime_us", std::to_string(*c.realtimeRuntime)));
    }
    if (auto d = dir("cpuset"); !d.empty()) {
      if (r.cpu.cpus) TRYV(writeFile(d + "/cpuset.cpus", *r.cpu.cpus));
      if (r.cpu.mems) TRYV(writeFile(d + "/cpuset.mems", *r.cpu.mems));
    }
    if (auto d = dir("pids"); !d.empty() && r.pidsLimit) {
      TRYV(writeFile(d + "/pids.max", *r.pidsLimit > 0 ? std::to_string(*r.pidsLimit) : "max"));
    }
    if (auto d = dir("blkio"); !d.empty()) {
      auto& b = r.blockIO;
      auto need = [&](const std::string& file) -> Result<std::string> {
        std::string f = d + "/" + file;
        if (!pathExists(f))
          return fail(ErrorCategory::Unavailable, "blkio: " + file + " is not available on this host");
        return f;
      };
      if (b.weight && *b.weight) {  // 0 means unset (docker sends it)
        TRY(auto f, need("blkio.weight"));
        TRYV(writeFile(f, std::to_string(*b.weight)));
      }
      if (b.leafWeight && *b.leafWeight) {
        TRY(auto f, need("blkio.leaf_weight"));
        TRYV(writeFile(f, std::to_string(*b.leafWeight)));
      }
      for (auto& w : b.weightDevice) {
        std::string dev = std::to_string(w.major) + ":" + std::to_string(w.minor) + " ";
        if (w.weight && *w.weight) {
          TRY(auto f, need("blkio.weight_device"));
          TRYV(writeFile(f, dev + std::to_string(*w.weight)));
        }
      }
      auto throttle = [&](const char* file, const std::vector<ThrottleDevice>& v) -> Result<void> {
        for (auto& t : v) {
          TRY(auto f, need(file));
          TRYV(writeFile(
              f, std::to_string(t.major) + ":" + std::to_string(t.minor) + " " + std::to_string(t.rate)));
        }
        return {};
      };
      TRYV(throttle("blkio.throttle.read_bps_device", b.throttleReadBps));
      TRYV(throttle("blkio.throttle.write_bps_device", b.throttleWriteBps));
      TRYV(throttle("blkio.throttle.read_iops_device", b.throttleReadIops));
      TRYV(throttle("blkio.throttle.write_iops_device", b.throttleWriteIops));
    }
    if (!r.hugepageLimits.empty()) {
      auto d = dir("hugetlb");
      if (d.empty()) return fail(ErrorCategory::Unavailable, "hugepage limits need the hugetlb controller");
      for (auto& h : r.hugepageLimits)
        TRYV(writeFile(d + "/hugetlb." + h.pageSize + ".limit_in_bytes", std::to_string(h.limit)));
    }
    if (!r.unified.empty())
      return invalid("linux.resources.unified needs cgroup v2, but this host uses cgroup v1");
    return {};
  }

  Result<void> freeze(bool frozen) override {
    auto d = dir("freezer");
    if (d.empty()) return fail(ErrorCategory::Unavailable, "the freezer controller is not mounted");
    TRYV(writeFile(d + "/freezer.state", frozen ? "FROZEN" : "THAWED"));
    // Wait until the state settles.
    for (int i = 0; i < 1000; ++i) {
      TRY(std::string s, readFile(d + "/freezer.state"));
      s = trim(s);
      if (s == (frozen ? "FROZEN" : "THAWED")) return {};
      if (frozen && i % 10 == 9) TRYV(writeFile(d + "/freezer.state", "FROZEN"));
      sleepNs(1000 * 1000);
    }
    return fail("timed out waiting for the freezer");
  }

  Result<bool> isFrozen() override {
    auto d = dir("freezer");
    if (d.empty()) return false;
    TRY(std::string s, readFile(d + "/freezer.state"));
    return trim(s) == "FROZEN";
  }

  Result<std::vector<pid_t>> processes() override {
    for (auto& [ctrl, dir] : dirs_) {
      if (ctrl == "devices" || ctrl == "freezer" || ctrl == "pids" || ctrl == "memory")
        return readPids(dir + "/cgroup.procs");
    }
    if (dirs_.empty()) return std::vector<pid_t>{};
    return readPids(dirs_.begin()->second + "/cgroup.procs");
  }

  Result<Stats> stats() override {
    Stats s;
    if (auto d = dir("cpuacct"); !d.empty()) {
      if (auto v = readUint(d + "/cpuacct.usage")) s.cpuUsageNs = *v;
      if (auto st = readFile(d + "/cpuacct.stat")) {
        long tick = ::sysconf(_SC_CLK_TCK);
        for (auto& line : split(*st, '\n')) {
          auto f = split(line, ' ');
          if (f.size() != 2) continue;
          uint64_t ns = parseUint(f[1]).value_or(0) * (1000000000ULL / static_cast<uint64_t>(tick));
          if (f[0] == "user") s.cpuUserNs = ns;
          if (f[0] == "system") s.cpuSystemNs = ns;
        }
      }
    }
    if (auto d = dir("memory"); !d.empty()) {
      if (auto v = readUint(d + "/memory.usage_in_bytes")) s.memoryUsage = *v;
      if (auto v = readUint(d + "/memory.limit_in_bytes")) s.memoryLimit = *v;
      if (auto v = readUint(d + "/memory.max_usage_in_bytes")) s.memoryMaxUsage = *v;
      if (auto n = oomKills()) s.oomKills = *n;
      if (auto ms = readFile(d + "/memory.stat")) {
        for (auto& line : split(*ms, '\n'))
          if (startsWith(line, "cache ")) s.memoryCache = parseUint(line.substr(6)).value_or(0);
      }
    }
    if (auto d = dir("pids"); !d.empty()) {
      if (auto v = readUint(d + "/pids.current")) s.pidsCurrent = *v;
      if (auto v = readUint(d + "/pids.max")) s.pidsLimit = *v;
    }
    return s;
  }

  Result<uint64_t> oomKills() override {
    auto d = dir("memory");
    if (d.empty()) return 0;
    TRY(std::string oc, readFile(d + "/memory.oom_control"));
    for (auto& line : split(oc, '\n'))
      if (startsWith(line, "oom_kill ")) return parseUint(line.substr(9)).value_or(0);
    return 0;
  }

  Result<void> killAll(int sig) override {
    bool canFreeze = !dir("freezer").empty();
    if (canFreeze) TRYV(freeze(true));
    TRY(auto pids, processes());
    for (pid_t p : pids) ::kill(p, sig);
    if (canFreeze) TRYV(freeze(false));
    return {};
  }

  Result<void> destroy() override {
    Result<void> first;
    for (auto& [ctrl, dir] : dirs_) {
      auto r = removeDir(dir);
      if (!r && first) first = r;
    }
    return first;
  }

  std::vector<std::string> hostDirs() const override {
    std::vector<std::string> out;
    for (auto& [c, d] : dirs_) out.push_back(d);
    return out;
  }

  Result<void> adopt(const std::string& staged) override {
    // The kernel renames a v1 cgroup within its parent only.
    if (parentOf(staged) != parentOf(path_))
      return fail(ErrorCategory::InvalidArgument,
                  "cannot adopt " + staged + " as " + path_ + ": not under the same parent cgroup");
    std::vector<std::pair<std::string, std::string>> done;  // co-mounted controllers share a directory
    for (auto& [ctrl, dir] : dirs_) {
      if (std::any_of(done.begin(), done.end(), [&](auto& d) { return d.second == dir; })) continue;
      std::string from = dir.substr(0, dir.size() - path_.size()) + staged;
      if (::rename(from.c_str(), dir.c_str()) < 0) {
        int e = errno;
        for (auto& [f, t] : done) (void)::rename(t.c_str(), f.c_str());
        return sysFail("renaming cgroup " + from + " to " + dir, e);
      }
      done.emplace_back(from, dir);
    }
    return {};
  }

 private:
  std::string dir(const std::string& ctrl) const {
    auto it = dirs_.find(ctrl);
    return it == dirs_.end() ? std::string() : it->second;
  }

  // A new cpuset cgroup starts with empty cpus/mems: copy them down from the nearest parent that has them.
  Result<void> createCpuset(const std::string& dir) {
    auto slash = dir.rfind('/');
    std::string parent = dir.substr(0, slash);
    if (!pathExists(parent)) TRYV(createCpuset(parent));
    int rc = ::mkdir(dir.c_str(), 0755);
    if (rc < 0 && errno == ENOENT) {  // the parent was removed meanwhile (an empty parent is fair game)
      TRYV(createCpuset(parent));
      rc = ::mkdir(dir.c_str(), 0755);
    }
    if (rc < 0 && errno != EEXIST) return sysFail("mkdir " + dir);
    for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
      TRY(std::string cur, readFile(dir + "/" + f));
      if (!trim(cur).empty()) continue;
      TRY(std::string p, readFile(parent + "/" + f));
      if (trim(p).empty()) {
        // The parent was just made by a concurrent create that has not filled it yet: fill it ourselves.
        TRYV(createCpuset(parent));
        TRY(p, readFile(parent + "/" + f));
      }
      TRYV(writeFile(dir + "/" + f, trim(p)));
    }
    return {};
  }

  std::string path_;
  std::map<std::string, std::string> dirs_;
};

}  // namespace

std::unique_ptr<Manager> makeV1(const Layout& layout, const std::string& path) {
  return std::make_unique<V1>(layout, path);
}

Result<std::string> stageV1(const Layout& layout, const std::string& parent) {
  if (layout.version != 1 || layout.v1.empty())
    return fail(ErrorCategory::InvalidArgument, "staged cgroups are for cgroup v1 hosts");
  TRY(std::string p, normalisePath(parent));
  std::string path = (p == "/" ? "" : p) + "/" + std::string(kStaged) + std::to_string(::getpid());
  V1 m(layout, path);
  if (auto r = m.create(); !r) {
    (void)m.destroy();
    return std::unexpected(r.error());
  }
  if (auto r = m.addProcess(::getpid()); !r) {
    unstageV1(layout, path);
    return std::unexpected(r.error());
  }
  return path;
}

void unstageV1(const Layout& layout, const std::string& staged) {
  V1 cg(layout, staged);
  auto dirs = cg.hostDirs();
  if (dirs.empty() || !pathExists(dirs.front())) return;  // adopted (renamed), or never made
  V1 back(layout, parentOf(staged));
  for (auto& d : back.hostDirs()) (void)writeFile(d + "/cgroup.procs", std::to_string(::getpid()));
  (void)cg.destroy();
}

void removeStaleStagedV1(const Layout& layout, const std::string& parent) {
  if (layout.version != 1) return;
  auto p = normalisePath(parent);
  if (!p) return;
  for (auto& dir : V1(layout, *p).hostDirs()) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto names = fd ? dirEntries(fd.get(), dir) : Result<std::vector<std::string>>{};
    if (!names) continue;
    for (auto& name : *names) {
      if (!name.starts_with(kStaged)) continue;
      pid_t pid = std::atoi(name.c_str() + kStaged.size());
      if (pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH)) continue;  // its maker still waits
      (void)::rmdir((dir + "/" + name).c_str());
    }
  }
}

}  // namespace berth::sys::cgroup
