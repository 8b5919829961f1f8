// docker's checks of a container spec at create and update (moby's verifyContainerSettings and
// verifyPlatformContainerResources, in their order and words), and the values docker fills in.
#include "engine/spec_validate.h"

#include <unistd.h>

#include <cctype>
#include <set>

#include "base/file.h"
#include "base/json_bounded.h"
#include "engine/signals.h"
#include "sys/caps.h"

namespace berth::engine::spec {

namespace {

constexpr int64_t kMinMemory = 6 * 1024 * 1024;
constexpr int64_t kMillisecond = 1'000'000;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

bool isDigits(std::string_view s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

Result<void> checkHealth(const HealthConfig& h) {
  for (auto [name, v] :
       {std::pair{"Interval", h.interval}, std::pair{"Timeout", h.timeout},
        std::pair{"StartPeriod", h.startPeriod}, std::pair{"StartInterval", h.startInterval}})
    if (v != 0 && v < kMillisecond)
      return invalid(std::string(name) + " in Healthcheck cannot be less than 1ms");
  if (h.retries < 0) return invalid("Retries in Healthcheck cannot be negative");
  return {};
}

Result<void> checkCaps(const StrSlice& caps, const char* what) {
  for (auto& c : caps) {
    std::string up;
    for (char ch : c) up += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (up == "ALL") continue;
    if (!up.starts_with("CAP_")) up = "CAP_" + up;
    if (!sys::caps::fromName(up))
      return invalid(std::string("invalid ") + what + ": unknown capability: \"" + up + "\"");
  }
  return {};
}

// docker's parseSecurityOpt (at create here; docker finds these at start).
Result<void> checkSecurityOpts(const Slice<std::string>& opts) {
  for (auto& opt : opts) {
    if (opt == "no-new-privileges" || opt == "disable") continue;
    if (opt.starts_with("writable-cgroups"))  // docker's, which berth does not do: refused, not ignored
      return invalid("--security-opt " + opt + " is not supported by berth (the cgroup mount is read-only)");
    size_t sep = opt.find('=');
    if (sep == std::string::npos) sep = opt.find(':');
    if (sep == std::string::npos) return invalid("invalid --security-opt 1: \"" + opt + "\"");
    std::string key = opt.substr(0, sep), value = opt.substr(sep + 1);
    if (key == "label" || key == "apparmor")
      continue;  // no SELinux or AppArmor here: ignored, as docker does
    if (key == "no-new-privileges") {
      if (value != "true" && value != "false" && value != "1" && value != "0")
        return invalid("invalid --security-opt 2: \"" + opt + "\"");
      continue;
    }
    if (key == "seccomp") {
      if (value == "unconfined" || value == "builtin") continue;
      // The docker CLI sends the profile's content; a path is a client's mistake.
      auto profile = parseJsonBounded(value, JsonLimits{}, "profile");
      if (!profile || !profile->is_object())
        return invalid(
            "Decoding seccomp profile failed: " +
            (profile ? std::string("the profile is not a JSON object") : profile.error().message()));
      continue;
    }
    return invalid("invalid --security-opt 2: \"" + opt + "\"");
  }
  return {};
}

// docker's units.FromHumanSize: "10m", "1.5g", "100" (bytes).
bool humanSize(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return false;
  std::string unit = s.substr(i);
  if (!unit.empty() && unit[0] == ' ') unit = unit.substr(1);
  static const std::set<std::string> units = {"",   "b",   "k", "kb", "kib", "m", "mb", "mib", "g",
                                              "gb", "gib", "t", "tb", "tib", "p", "pb", "pib"};
  std::string low;
  for (char c : unit) low += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return units.count(low) > 0;
}

// A cpuset list ("0-3,5"): its members, or nothing when it is malformed.
std::optional<std::set<int>> cpuList(const std::string& s) {
  std::set<int> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t dash = part.find('-');
    std::string lo = part.substr(0, dash), hi = dash == std::string::npos ? lo : part.substr(dash + 1);
    if (!isDigits(lo) || !isDigits(hi)) return std::nullopt;
    int a = std::stoi(lo), b = std::stoi(hi);
    if (b < a || b - a > 4096) return std::nullopt;
    for (int i = a; i <= b; ++i) out.insert(i);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

Result<void> checkCpuset(const std::string& value, const std::string& online, const char* what,
                         const char* unavailable) {
  if (value.empty()) return {};
  auto want = cpuList(value);
  if (!want) return invalid("Invalid value " + value + " for cpuset " + what + ": invalid format: " + value);
  auto have = cpuList(online);
  for (int c : *want)
    if (have && !have->count(c))
      return invalid(std::string(unavailable) + " - requested " + value + ", available: " + online);
  return {};
}

std::string readTrimmed(const std::string& path, const std::string& fallback) {
  auto s = readFile(path);
  if (!s || trim(*s).empty()) return fallback;
  return trim(*s);
}

}  // namespace

Result<void> checkLogConfig(const LogConfig& lc) {
  static const std::set<std::string> dockerDrivers = {"local",   "syslog",    "journald", "gelf",
                                                      "fluentd", "awslogs",   "splunk",   "etwlogs",
                                                      "gcplogs", "logentries"};
  if (lc.type == "none") return {};
  if (lc.type != "json-file") {
    if (dockerDrivers.count(lc.type))
      return invalid("the " + lc.type + " log driver is not supported by berth (json-file and none are)");
    return invalid("error looking up logging plugin " + lc.type + ": plugin \"" + lc.type + "\" not found");
  }
  static const std::set<std::string> known = {"max-file",  "max-size", "compress",     "env",
                                              "env-regex", "labels",   "labels-regex", "tag"};
  for (auto& [k, v] : lc.config) {
    if (!known.count(k)) return invalid("unknown log opt '" + k + "' for json-file log driver");
    if (k == "max-size" && v != "-1" && !humanSize(v)) return invalid("invalid size: '" + v + "'");
    if (k == "max-file") {
      if (!isDigits(v)) return invalid("strconv.Atoi: parsing \"" + v + "\": invalid syntax");
      if (std::stoi(v) < 1) return invalid("max-file cannot be less than 1");
    }
  }
  return {};
}

HostFacts HostFacts::probe() {
  HostFacts h;
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  h.cpus = n > 0 ? static_cast<int>(n) : 1;
  h.cpusOnline = readTrimmed("/sys/devices/system/cpu/online", "0-" + std::to_string(h.cpus - 1));
  h.memsOnline = readTrimmed("/sys/devices/system/node/online", "0");
  return h;
}

const HostFacts& HostFacts::cached() {
  static const HostFacts facts = probe();
  return facts;
}

void normalizeCreate(CreateRequest& r) {
  Resources& res = r.hostConfig.resources;
  if (res.pidsLimit && *res.pidsLimit <= 0) res.pidsLimit.reset();  // docker: 0 and -1 are unlimited
  if (res.memorySwappiness == -1) res.memorySwappiness.reset();
  if (r.hostConfig.restartPolicy.name.empty()) r.hostConfig.restartPolicy.name = "no";
}

Result<void> validateRestartPolicy(const RestartPolicy& p) {
  static const std::set<std::string> names = {"", "no", "always", "on-failure", "unless-stopped"};
  if (!names.count(p.name))
    return invalid("invalid restart policy: unknown policy '" + p.name +
                   "'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
  if (p.maximumRetryCount != 0 && p.name != "on-failure")
    return invalid(
        std::string("invalid restart policy: maximum retry count can only be used with 'on-failure'") +
        (p.maximumRetryCount < 0 ? " and cannot be negative" : ""));
  if (p.maximumRetryCount < 0)
    return invalid("invalid restart policy: maximum retry count cannot be negative");
  return {};
}

Result<void> validateResources(const Resources& r, const HostFacts& host, bool update,
                               std::vector<std::string>* warnings) {
  if (r.memory != 0 && r.memory < kMinMemory) return invalid("Minimum memory limit allowed is 6MB");
  if (r.memory > 0 && r.memorySwap > 0 && r.memorySwap < r.memory)
    return invalid("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (!update && r.memory == 0 && r.memorySwap > 0)
    return invalid("You should always set the Memory limit when using Memoryswap limit, see usage");
  if (r.memorySwappiness && (*r.memorySwappiness < 0 || *r.memorySwappiness > 100))
    return invalid("Invalid value: " + std::to_string(*r.memorySwappiness) +
                   ", valid memory swappiness range is 0-100");
  if (r.memoryReservation != 0 && r.memoryReservation < kMinMemory)
    return invalid("Minimum memory reservation allowed is 6MB");
  if (r.memory > 0 && r.memoryReservation > 0 && r.memory < r.memoryReservation)
    return invalid("Minimum memory limit can not be less than memory reservation limit, see usage");
  if (r.cpuShares < 0)
    return invalid("invalid CPU shares (" + std::to_string(r.cpuShares) +
                   "): value must be a positive integer");
  if (r.nanoCpus != 0 && r.cpuPeriod != 0)
    return invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (r.nanoCpus != 0 && r.cpuQuota != 0)
    return invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (r.nanoCpus < 0 || r.nanoCpus > int64_t{host.cpus} * 1'000'000'000)
    return invalid("range of CPUs is from 0.01 to " + std::to_string(host.cpus) + ".00, as there are only " +
                   std::to_string(host.cpus) + " CPUs available");
  if (r.cpuPeriod != 0 && (r.cpuPeriod < 1000 || r.cpuPeriod > 1'000'000))
    return invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  if (r.cpuQuota > 0 && r.cpuQuota < 1000)
    return invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  TRYV(checkCpuset(r.cpusetCpus, host.cpusOnline, "cpus", "Requested CPUs are not available"));
  TRYV(checkCpuset(r.cpusetMems, host.memsOnline, "mems", "Requested memory nodes are not available"));
  if (r.blkioWeight != 0 && warnings)
    warnings->push_back(
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.");
  return {};
}

Result<void> validateCreate(const CreateRequest& r, const HostFacts& host,
                            std::vector<std::string>* warnings) {
  const Config& c = r.config;
  const HostConfig& h = r.hostConfig;
  if (!c.workingDir.empty() && c.workingDir[0] != '/')
    return invalid("the working directory '" + c.workingDir +
                   "' is invalid, it needs to be an absolute path");
  if (!c.stopSignal.empty() && !parseSignal(c.stopSignal)) return invalid("invalid signal: " + c.stopSignal);
  for (auto& e : c.env)
    if (e.empty() || e[0] == '=') return invalid("invalid environment variable: " + e);
  if (c.healthcheck) TRYV(checkHealth(*c.healthcheck));
  if (h.autoRemove && h.restartPolicy.name != "no" && !h.restartPolicy.name.empty())
    return invalid("can't create 'AutoRemove' container with restart policy");
  TRYV(validateRestartPolicy(h.restartPolicy));
  TRYV(checkCaps(h.capAdd, "CapAdd"));
  TRYV(checkCaps(h.capDrop, "CapDrop"));
  if (!h.isolation.empty() && h.isolation != "default")
    return invalid("invalid isolation (" + h.isolation + "): linux only supports 'default'");
  if (h.annotations.count(""))
    return invalid("invalid Annotations: the empty string is not permitted as an annotation key");
  if (c.hostname.size() > 64)
    return invalid("hostname \"" + c.hostname + "\" is too long (maximum 64 bytes)");
  TRYV(validateResources(h.resources, host, false, warnings));
  if (!h.ipcMode.empty() && h.ipcMode != "private" && h.ipcMode != "shareable") {
    bool known = h.ipcMode == "host" || h.ipcMode == "none" ||
                 (h.ipcMode.starts_with("container:") && h.ipcMode.size() > 10);
    if (!known) return invalid("invalid IPC mode: " + h.ipcMode);
    return invalid("IPC mode " + h.ipcMode + " is not supported by berth yet (private and shareable are)");
  }
  if (!h.pidMode.empty()) {
    bool known = h.pidMode == "host" || (h.pidMode.starts_with("container:") && h.pidMode.size() > 10);
    if (!known) return invalid("invalid PID mode: " + h.pidMode);
    return invalid("PID mode " + h.pidMode + " is not supported by berth yet");
  }
  if (h.shmSize < 0) return invalid("SHM size can not be less than 0");
  if (!h.utsMode.empty()) {
    if (h.utsMode != "host") return invalid("invalid UTS mode: " + h.utsMode);
    return invalid("UTS mode host is not supported by berth yet");
  }
  if (h.oomScoreAdj < -1000 || h.oomScoreAdj > 1000)
    return invalid("Invalid value " + std::to_string(h.oomScoreAdj) +
                   ", range for oom score adj is [-1000, 1000]");
  if (!h.runtime.empty() && h.runtime != "runc" && h.runtime != "berth")
    return invalid("unknown or invalid runtime name: " + h.runtime);
  for (auto& [dest, opts] : h.tmpfs) {
    if (dest.empty() || dest[0] != '/')
      return invalid("invalid mount path: '" + dest + "' mount path must be absolute");
    if (dest.find_first_not_of('/') == std::string::npos)
      return invalid("invalid specification: destination can't be '/'");
  }
  if (!h.cgroupnsMode.empty() && h.cgroupnsMode != "host") {
    if (h.cgroupnsMode != "private") return invalid("invalid cgroup namespace mode: " + h.cgroupnsMode);
    return invalid("cgroup namespace mode private is not supported by berth yet (host is)");
  }
  TRYV(checkLogConfig(
      LogConfig{h.logConfig.type.empty() ? "json-file" : h.logConfig.type, h.logConfig.config}));
  TRYV(checkSecurityOpts(h.securityOpt));
  return {};
}

void applyCreateDefaults(HostConfig& h) {
  Resources& res = h.resources;
  // docker's default: a memory limit without a swap limit allows as much swap again (MemorySwap = 2 x
  // Memory); -1 is unlimited swap.
  if (res.memory > 0 && res.memorySwap == 0) res.memorySwap = 2 * res.memory;
  if (h.logConfig.type.empty()) h.logConfig.type = "json-file";
  if (h.logConfig.config.isNull()) h.logConfig.config.present = true;  // docker shows {}
  if (h.shmSize == 0) h.shmSize = 64 << 20;
  if (h.ipcMode.empty()) h.ipcMode = "private";
  if (h.cgroupnsMode.empty()) h.cgroupnsMode = "host";  // berth makes no cgroup namespace
  if (h.runtime.empty()) h.runtime = "runc";
  if (h.restartPolicy.name.empty()) h.restartPolicy.name = "no";
  res.blkioWeight = 0;  // discarded with a warning (no blkio weight here)
}

}  // namespace berth::engine::spec
