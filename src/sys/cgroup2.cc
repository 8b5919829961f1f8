// cgroup v2: one unified hierarchy; controllers enabled down the tree through cgroup.subtree_control.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <set>

#include "base/clock.h"
#include "base/file.h"
#include "sys/cgroup.h"
#include "sys/devices_bpf.h"

namespace berth::sys::cgroup {
namespace {

std::string maxOr(int64_t v) {
  return v < 0 ? "max" : std::to_string(v);
}

class V2 final : public Manager {
 public:
  V2(std::string root, std::string path)
      : root_(std::move(root)), path_(std::move(path)), dir_(root_ + path_) {}
  int version() const override { return 2; }
  const std::string& path() const override { return path_; }

  Result<void> create() override {
    TRYV(mkdirAll(dir_, 0755));
    return {};
  }

  Result<void> addProcess(pid_t pid) override {
    return writeFile(dir_ + "/cgroup.procs", std::to_string(pid));
  }

  Result<void> setResources(const Resources& r) override {
    std::set<std::string> need;
    auto& m = r.memory;
    auto& c = r.cpu;
    if (m.limit || m.swap || m.reservation) need.insert("memory");
    if ((c.shares && *c.shares) || (c.quota && *c.quota) || (c.period && *c.period) || c.idle)
      need.insert("cpu");
    if (c.cpus || c.mems) need.insert("cpuset");
    if (r.pidsLimit) need.insert("pids");
    if ((r.blockIO.weight && *r.blockIO.weight) || !r.blockIO.weightDevice.empty() ||
        !r.blockIO.throttleReadBps.empty() || !r.blockIO.throttleWriteBps.empty() ||
        !r.blockIO.throttleReadIops.empty() || !r.blockIO.throttleWriteIops.empty())
      need.insert("io");
    if (!r.hugepageLimits.empty()) need.insert("hugetlb");
    for (auto& [k, v] : r.unified) {
      auto dot = k.find('.');
      if (dot != std::string::npos && k.substr(0, dot) != "cgroup") need.insert(k.substr(0, dot));
    }
    TRYV(enableControllers(need));

    if (m.limit) TRYV(writeFile(dir_ + "/memory.max", maxOr(*m.limit)));
    if (m.reservation) TRYV(writeFile(dir_ + "/memory.low", maxOr(*m.reservation)));
    if (m.swap) {
      // OCI's swap is memory+swap (v1 memsw); v2 wants swap alone.
      std::string v = "max";
      if (*m.swap >= 0) {
        int64_t lim = m.limit.value_or(-1);
        if (lim < 0) return invalid("memory.swap needs memory.limit on cgroup v2");
        if (*m.swap < lim) return invalid("memory.swap must not be below memory.limit");
        v = std::to_string(*m.swap - lim);
      }
      if (pathExists(dir_ + "/memory.swap.max")) TRYV(writeFile(dir_ + "/memory.swap.max", v));
    }
    if (m.disableOOMKiller && *m.disableOOMKiller)
      return invalid("memory.disableOOMKiller is not available on cgroup v2");
    if (c.shares && *c.shares) {
      uint64_t w = 1 + ((*c.shares - 2) * 9999) / 262142;
      TRYV(writeFile(dir_ + "/cpu.weight", std::to_string(w)));
    }
    if ((c.quota && *c.quota) || (c.period && *c.period)) {
      std::string quota = (c.quota && *c.quota > 0) ? std::to_string(*c.quota) : "max";
      std::string v = quota;
      if (c.period && *c.period) v += " " + std::to_string(*c.period);
      TRYV(writeFile(dir_ + "/cpu.max", v));
    }
    if (c.idle) TRYV(writeFile(dir_ + "/cpu.idle", std::to_string(*c.idle)));
    if (c.cpus) TRYV(writeFile(dir_ + "/cpuset.cpus", *c.cpus));
    if (c.mems) TRYV(writeFile(dir_ + "/cpuset.mems", *c.mems));
    if (r.pidsLimit)
      TRYV(writeFile(dir_ + "/pids.max", *r.pidsLimit > 0 ? std::to_string(*r.pidsLimit) : "max"));
    auto& b = r.blockIO;
    if (b.weight && *b.weight) {
      uint64_t w = 1 + (static_cast<uint64_t>(*b.weight) - 10) * 9999 / 990;
      TRYV(writeFile(dir_ + "/io.weight", "default " + std::to_string(w)));
    }
    auto ioMax = [&](const char* key, const std::vector<ThrottleDevice>& v) -> Result<void> {
      for (auto& t : v)
        TRYV(writeFile(dir_ + "/io.max", std::to_string(t.major) + ":" + std::to_string(t.minor) + " " + key +
                                             "=" + std::to_string(t.rate)));
      return {};
    };
    TRYV(ioMax("rbps", b.throttleReadBps));
    TRYV(ioMax("wbps", b.throttleWriteBps));
    TRYV(ioMax("riops", b.throttleReadIops));
    TRYV(ioMax("wiops", b.throttleWriteIops));
    for (auto& h : r.hugepageLimits)
      TRYV(writeFile(dir_ + "/hugetlb." + h.pageSize + ".max", std::to_string(h.limit)));
    for (auto& [k, v] : r.unified) TRYV_CTX(writeFile(dir_ + "/" + k, v), "linux.resources.unified." + k);
    if (!r.devices.empty()) {
      UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd) return sysFail("open " + dir_);
      TRYV(devices_bpf::attach(fd.get(), r.devices));
    }
    return {};
  }

  Result<void> freeze(bool frozen) override {
    TRYV(writeFile(dir_ + "/cgroup.freeze", frozen ? "1" : "0"));
    for (int i = 0; i < 2000; ++i) {
      TRY(std::string ev, readFile(dir_ + "/cgroup.events"));
      bool isFrozen = ev.find("frozen 1") != std::string::npos;
      if (isFrozen == frozen) return {};
      sleepNs(1000 * 1000);
    }
    return fail("timed out waiting for cgroup " + dir_ + " to " + (frozen ? "freeze" : "thaw"));
  }

  Result<bool> isFrozen() override {
    TRY(std::string s, readFile(dir_ + "/cgroup.freeze"));
    return trim(s) == "1";
  }

  Result<std::vector<pid_t>> processes() override { return readPids(dir_ + "/cgroup.procs"); }

  Result<Stats> stats() override {
    Stats s;
    if (auto st = readFile(dir_ + "/cpu.stat")) {
      for (auto& line : split(*st, '\n')) {
        auto f = split(line, ' ');
        if (f.size() != 2) continue;
        uint64_t v = parseUint(f[1]).value_or(0) * 1000;
        if (f[0] == "usage_usec") s.cpuUsageNs = v;
        if (f[0] == "user_usec") s.cpuUserNs = v;
        if (f[0] == "system_usec") s.cpuSystemNs = v;
      }
    }
    if (auto v = readUint(dir_ + "/memory.current")) s.memoryUsage = *v;
    if (auto v = readUint(dir_ + "/memory.max")) s.memoryLimit = *v;
    if (auto v = readUint(dir_ + "/memory.peak")) s.memoryMaxUsage = *v;
    if (auto n = oomKills()) s.oomKills = *n;
    if (auto ms = readFile(dir_ + "/memory.stat")) {
      for (auto& line : split(*ms, '\n'))
        if (startsWith(line, "file ")) s.memoryCache = parseUint(line.substr(5)).value_or(0);
    }
    if (auto v = readUint(dir_ + "/pids.current")) s.pidsCurrent = *v;
    if (auto v = readUint(dir_ + "/pids.max")) s.pidsLimit = *v;
    return s;
  }

  Result<uint64_t> oomKills() override {
    TRY(std::string ev, readFile(dir_ + "/memory.events"));
    for (auto& line : split(ev, '\n'))
      if (startsWith(line, "oom_kill ")) return parseUint(line.substr(9)).value_or(0);
    return 0;
  }

  Result<void> killAll(int sig) override {
    if (sig == SIGKILL && pathExists(dir_ + "/cgroup.kill")) return writeFile(dir_ + "/cgroup.kill", "1");
    TRYV(freeze(true));
    TRY(auto pids, processes());
    for (pid_t p : pids) ::kill(p, sig);
    return freeze(false);
  }

  Result<void> destroy() override { return removeDir(dir_); }

  std::vector<std::string> hostDirs() const override { return {dir_}; }

 private:
  // Enables each needed controller in every ancestor's cgroup.subtree_control.
  Result<void> enableControllers(const std::set<std::string>& need) {
    if (need.empty()) return {};
    TRY(std::string avail, readFile(root_ + "/cgroup.controllers"));
    std::set<std::string> have;
    for (auto& c : split(trim(avail), ' ')) have.insert(c);
    std::string cur = root_;
    auto parts = split(path_, '/');
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      if (!parts[i].empty()) cur += "/" + parts[i];
      for (auto& c : need) {
        if (!have.count(c))
          return fail(ErrorCategory::Unavailable,
                      "cgroup v2 controller \"" + c + "\" is not available on this host");
        auto r = writeFile(cur + "/cgroup.subtree_control", "+" + c);
        if (!r) return std::unexpected(std::move(r.error()).context("enabling controller " + c));
      }
    }
    return {};
  }

  std::string root_, path_, dir_;
};

}  // namespace

std::unique_ptr<Manager> makeV2(const std::string& root, const std::string& path) {
  return std::make_unique<V2>(root, path);
}

}  // namespace berth::sys::cgroup
