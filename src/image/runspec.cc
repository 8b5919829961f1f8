#include "image/runspec.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/file.h"
#include "base/openat2.h"
#include "sys/caps.h"
#include "sys/seccomp.h"

namespace berth::image {
namespace {

using nlohmann::json;

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// A file of the container's root, resolved inside it (a symlinked /etc/passwd cannot point at the host's).
std::string readInRoot(const std::string& rootfs, const char* path) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return {};
  UniqueFd fd(openInRoot(root.get(), path, O_RDONLY));
  if (!fd) return {};
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && out.size() < (4 << 20))
    out.append(buf, static_cast<size_t>(n));
  return out;
}

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0, gid = 0;
  std::string home;
};

std::vector<std::vector<std::string>> colonLines(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  for (auto& line : split(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    out.push_back(split(line, ':'));
  }
  return out;
}

struct ResolvedUser {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;
  std::string home = "/";
};

Result<ResolvedUser> resolveUser(const std::string& spec, const std::string& rootfs) {
  ResolvedUser u;
  std::string user = spec, group;
  if (auto c = spec.find(':'); c != std::string::npos) user = spec.substr(0, c), group = spec.substr(c + 1);
  auto passwd = colonLines(readInRoot(rootfs, "/etc/passwd"));
  auto groups = colonLines(readInRoot(rootfs, "/etc/group"));
  std::string userName;
  bool found = false;
  if (user.empty()) user = "0";
  if (auto n = parseUint(user)) {
    if (*n > 0xfffffffeULL) return invalid("user " + user + " is out of range");
    u.uid = static_cast<uint32_t>(*n);
    for (auto& p : passwd)
      if (p.size() >= 6 && p[2] == user) {
        u.gid = static_cast<uint32_t>(parseUint(p[3]).value_or(0));
        u.home = p[5];
        userName = p[0];
        found = true;
        break;
      }
  } else {
    for (auto& p : passwd)
      if (p.size() >= 6 && p[0] == user) {
        u.uid = static_cast<uint32_t>(parseUint(p[2]).value_or(0));
        u.gid = static_cast<uint32_t>(parseUint(p[3]).value_or(0));
        u.home = p[5];
        userName = user;
        found = true;
        break;
      }
    if (!found)
      return fail(ErrorCategory::InvalidArgument,
                  "unable to find user " + user + ": no matching entries in passwd file");
  }
  if (!found && u.uid == 0) u.home = "/root";
  if (!group.empty()) {
    if (auto n = parseUint(group)) {
      u.gid = static_cast<uint32_t>(*n);
    } else {
      bool g = false;
      for (auto& e : groups)
        if (e.size() >= 3 && e[0] == group) {
          u.gid = static_cast<uint32_t>(parseUint(e[2]).value_or(0));
          g = true;
        }
      if (!g) return invalid("unable to find group " + group + ": no matching entries in group file");
    }
  }
  // Supplementary groups: the primary group and the groups that list the user by name (as docker).
  u.groups.push_back(u.gid);
  if (!userName.empty())
    for (auto& e : groups) {
      if (e.size() < 4) continue;
      for (auto& m : split(e[3], ','))
        if (m == userName) {
          uint32_t gid = static_cast<uint32_t>(parseUint(e[2]).value_or(0));
          if (std::find(u.groups.begin(), u.groups.end(), gid) == u.groups.end()) u.groups.push_back(gid);
        }
    }
  return u;
}

std::string capName(std::string c) {
  for (auto& ch : c) ch = static_cast<char>(toupper(ch));
  return c.starts_with("CAP_") ? c : "CAP_" + c;
}

// This process's bounding set (a daemon's never grows; read once rather than with 41 prctl calls per
// container).
const std::vector<std::string>& heldCapabilities() {
  static const std::vector<std::string> held = sys::caps::boundingNames();
  return held;
}

Result<std::vector<std::string>> capabilities(const RunOptions& o) {
  std::vector<std::string> all;
  for (auto& c : sys::caps::allNames()) all.push_back(c);
  const std::vector<std::string>& held = heldCapabilities();
  std::vector<std::string> caps = o.privileged ? held : defaultCapabilities();
  for (auto& a : o.capAdd) {
    std::string c = capName(a);
    if (c == "CAP_ALL") {
      caps = held;
      continue;
    }
    if (std::find(all.begin(), all.end(), c) == all.end())
      return invalid("unknown capability: \"" + a + "\"");
    if (std::find(caps.begin(), caps.end(), c) == caps.end()) caps.push_back(c);
  }
  for (auto& d : o.capDrop) {
    std::string c = capName(d);
    if (c == "CAP_ALL") {
      caps.clear();
      continue;
    }
    if (std::find(all.begin(), all.end(), c) == all.end())
      return invalid("unknown capability: \"" + d + "\"");
    caps.erase(std::remove(caps.begin(), caps.end(), c), caps.end());
  }
  return caps;
}

json seccompJson(const sys::seccomp::Profile& p) {
  json rules = json::array();
  for (auto& r : p.syscalls) {
    json jr = {{"names", r.names}, {"action", r.action}};
    if (r.errnoRet) jr["errnoRet"] = *r.errnoRet;
    if (!r.args.empty()) {
      jr["args"] = json::array();
      for (auto& a : r.args)
        jr["args"].push_back(
            {{"index", a.index}, {"value", a.value}, {"valueTwo", a.valueTwo}, {"op", a.op}});
    }
    rules.push_back(jr);
  }
  json s = {{"defaultAction", p.defaultAction}, {"syscalls", rules}};
  if (p.defaultErrnoRet) s["defaultErrnoRet"] = *p.defaultErrnoRet;
  return s;
}

// docker's default profile for a capability set as OCI JSON text, made once per set: building and
// printing its ~350 syscall names was half of the time of making a container's config.
std::string defaultSeccompText(const std::vector<std::string>& caps) {
  static std::mutex m;
  static std::map<std::string, std::string> cache;
  std::string key;
  for (auto& c : caps) key += c + ",";
  std::lock_guard lock(m);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 16) cache.clear();
  return cache[key] = seccompJson(sys::seccomp::defaultProfile(caps)).dump();
}

// Stands in the config for the profile's text until the config is printed.
constexpr const char* kSeccompPlaceholder = "berth:default-seccomp-profile";

// KEY=VALUE into an environment: replaces KEY's entry (when `override`) or appends.
void setEnvIn(std::vector<std::string>& env, const std::string& kv, bool override) {
  std::string key = kv.substr(0, kv.find('='));
  for (auto& e : env)
    if (e.substr(0, e.find('=')) == key) {
      if (override) e = kv;
      return;
    }
  env.push_back(kv);
}

// The machine's architecture as docker's profiles name it in includes/excludes.arches.
std::string goArch() {
  struct utsname u;
  if (::uname(&u) != 0) return "";
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "i686" || m == "i386") return "386";
  return m;
}

std::pair<int, int> kernelVersion() {
  struct utsname u;
  if (::uname(&u) != 0) return {0, 0};
  int a = 0, b = 0;
  std::sscanf(u.release, "%d.%d", &a, &b);
  return {a, b};
}

// A docker-format seccomp profile (what `--security-opt seccomp=FILE` sends: the file's JSON) as OCI
// linux.seccomp: archMap picks this machine's architectures, rules apply when their includes hold
// (capabilities the container has, this architecture, a minimum kernel) and their excludes do not.
Result<json> dockerSeccompProfile(const std::string& text, const std::vector<std::string>& caps) {
  json j = json::parse(text, nullptr, false);
  auto bad = [](const std::string& where, const std::string& what) {
    return invalid("seccomp profile: " + where + " " + what);
  };
  if (!j.is_object()) return bad("", "is not a JSON object");
  if (!j.contains("defaultAction") || !j["defaultAction"].is_string())
    return bad("defaultAction", "is required");
  json out = {{"defaultAction", j["defaultAction"]}, {"syscalls", json::array()}};
  if (j.contains("defaultErrnoRet")) {
    if (!j["defaultErrnoRet"].is_number_unsigned()) return bad("defaultErrnoRet", "must be a number");
    out["defaultErrnoRet"] = j["defaultErrnoRet"];
  }
  std::string arch = goArch();
  static const std::map<std::string, std::string> scmpArch = {
      {"amd64", "SCMP_ARCH_X86_64"}, {"arm64", "SCMP_ARCH_AARCH64"}, {"386", "SCMP_ARCH_X86"}};
  json arches = json::array();
  if (j.contains("archMap") && j["archMap"].is_array()) {
    std::string mine = scmpArch.count(arch) ? scmpArch.at(arch) : "";
    for (auto& m : j["archMap"])
      if (m.is_object() && m.value("architecture", "") == mine) {
        arches.push_back(mine);
        if (m.contains("subArchitectures") && m["subArchitectures"].is_array())
          for (auto& sa : m["subArchitectures"]) arches.push_back(sa);
      }
  } else if (j.contains("architectures") && j["architectures"].is_array()) {
    arches = j["architectures"];
  }
  if (!arches.empty()) out["architectures"] = arches;
  auto kernel = kernelVersion();
  auto has = [&](const std::string& c) { return std::find(caps.begin(), caps.end(), c) != caps.end(); };
  const json& rules = j.value("syscalls", json::array());
  if (!rules.is_array()) return bad("syscalls", "must be an array");
  for (size_t i = 0; i < rules.size(); ++i) {
    const json& r = rules[i];
    std::string where = "syscalls[" + std::to_string(i) + "]";
    if (!r.is_object()) return bad(where, "must be an object");
    json names = r.contains("names") ? r["names"] : json::array();
    if (r.contains("name") && r["name"].is_string()) names.push_back(r["name"]);
    if (!names.is_array() || names.empty()) return bad(where + ".names", "must list syscalls");
    for (auto& n : names)
      if (!n.is_string()) return bad(where + ".names", "must be strings");
    if (!r.contains("action") || !r["action"].is_string()) return bad(where + ".action", "is required");
    bool applies = true;
    if (auto inc = r.find("includes"); inc != r.end() && inc->is_object()) {
      for (auto& c : inc->value("caps", json::array()))
        if (c.is_string() && !has(c.get<std::string>())) applies = false;
      if (auto a = inc->find("arches"); a != inc->end() && a->is_array() && !a->empty() &&
                                        std::find(a->begin(), a->end(), json(arch)) == a->end())
        applies = false;
      if (auto mk = inc->find("minKernel"); mk != inc->end() && mk->is_string()) {
        int x = 0, y = 0;
        std::sscanf(mk->get<std::string>().c_str(), "%d.%d", &x, &y);
        if (kernel < std::pair{x, y}) applies = false;
      }
    }
    if (auto exc = r.find("excludes"); exc != r.end() && exc->is_object()) {
      for (auto& c : exc->value("caps", json::array()))
        if (c.is_string() && has(c.get<std::string>())) applies = false;
      if (auto a = exc->find("arches");
          a != exc->end() && a->is_array() && std::find(a->begin(), a->end(), json(arch)) != a->end())
        applies = false;
    }
    if (!applies) continue;
    json rule = {{"names", names}, {"action", r["action"]}};
    if (r.contains("errnoRet") && !r["errnoRet"].is_null()) rule["errnoRet"] = r["errnoRet"];
    if (r.contains("args") && r["args"].is_array() && !r["args"].empty()) rule["args"] = r["args"];
    out["syscalls"].push_back(rule);
  }
  return out;
}

Result<json> rlimit(const std::string& spec) {
  static const std::map<std::string, std::string> names = {
      {"core", "RLIMIT_CORE"},         {"cpu", "RLIMIT_CPU"},
      {"data", "RLIMIT_DATA"},         {"fsize", "RLIMIT_FSIZE"},
      {"locks", "RLIMIT_LOCKS"},       {"memlock", "RLIMIT_MEMLOCK"},
      {"msgqueue", "RLIMIT_MSGQUEUE"}, {"nice", "RLIMIT_NICE"},
      {"nofile", "RLIMIT_NOFILE"},     {"nproc", "RLIMIT_NPROC"},
      {"rss", "RLIMIT_RSS"},           {"rtprio", "RLIMIT_RTPRIO"},
      {"rttime", "RLIMIT_RTTIME"},     {"sigpending", "RLIMIT_SIGPENDING"},
      {"stack", "RLIMIT_STACK"}};
  auto eq = spec.find('=');
  if (eq == std::string::npos)
    return invalid("invalid ulimit argument: " + spec + " (expected name=soft[:hard])");
  auto it = names.find(spec.substr(0, eq));
  if (it == names.end()) return invalid("invalid ulimit type: " + spec.substr(0, eq));
  std::string v = spec.substr(eq + 1);
  std::string soft = v.substr(0, v.find(':')),
              hard = v.find(':') == std::string::npos ? soft : v.substr(v.find(':') + 1);
  auto num = [&](const std::string& s) -> std::optional<uint64_t> {
    if (s == "-1" || s == "unlimited") return RLIM_INFINITY;
    return parseUint(s);
  };
  auto s = num(soft), h = num(hard);
  if (!s || !h) return invalid("invalid ulimit argument: " + spec);
  if (*s > *h) return invalid("ulimit soft limit must be less than or equal to hard limit: " + spec);
  return json{{"type", it->second}, {"soft", *s}, {"hard", *h}};
}

}  // namespace

const std::vector<std::string>& defaultCapabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE"};
  return caps;
}

std::string resourceLimitsJson(const RunOptions& o) {
  json res = json::object();
  if (o.memory) res["memory"]["limit"] = *o.memory;
  if (o.memorySwap) res["memory"]["swap"] = *o.memorySwap;
  if (o.cpuShares) res["cpu"]["shares"] = *o.cpuShares;
  if (o.cpuQuota) res["cpu"]["quota"] = *o.cpuQuota;
  if (o.cpuPeriod) res["cpu"]["period"] = *o.cpuPeriod;
  if (!o.cpusetCpus.empty()) res["cpu"]["cpus"] = o.cpusetCpus;
  if (o.pidsLimit) res["pids"]["limit"] = *o.pidsLimit;
  return res.dump();
}

Result<std::string> makeRuntimeConfig(const ImageConfig& img, const RunOptions& o,
                                      const std::string& rootfs) {
  std::string seccompText;  // docker's default profile, printed into the config at the end
  // Process: entrypoint + cmd as docker combines them.
  std::vector<std::string> args;
  if (o.entrypoint) {
    if (!o.entrypoint->empty()) args.push_back(*o.entrypoint);
    args.insert(args.end(), o.cmd.begin(), o.cmd.end());
  } else {
    args = img.config.entrypoint;
    const auto& cmd = o.cmd.empty() ? img.config.cmd : o.cmd;
    args.insert(args.end(), cmd.begin(), cmd.end());
  }
  if (args.empty()) return invalid("no command specified");
  if (!o.initPath.empty()) args.insert(args.begin(), {"/sbin/docker-init", "--"});

  std::string userSpec = o.user.empty() ? img.config.user : o.user;
  TRY(ResolvedUser user, resolveUser(userSpec, rootfs));
  std::string hostname = o.hostname.empty() ? o.id.substr(0, 12) : o.hostname;

  // Environment: image's, then ours; PATH, HOSTNAME, HOME (and TERM with a tty) as docker sets them.
  std::vector<std::string> env = img.config.env;
  auto setEnv = [&](const std::string& kv, bool override) { setEnvIn(env, kv, override); };
  for (auto& e : o.env) {
    if (e.find('=') != std::string::npos) {
      setEnv(e, true);
    } else if (const char* v = ::getenv(e.c_str())) {
      setEnv(e + "=" + v, true);
    }
  }
  setEnv(kDefaultPath, false);
  setEnv("HOSTNAME=" + hostname, true);
  if (o.tty) setEnv("TERM=xterm", false);
  setEnv("HOME=" + (user.home.empty() ? std::string("/") : user.home), false);
  // PATH first, as docker orders it.
  std::stable_partition(env.begin(), env.end(), [](const std::string& e) { return e.starts_with("PATH="); });

  TRY(auto caps, capabilities(o));
  json rlimits = json::array();
  for (auto& u : o.ulimits) {
    TRY(json r, rlimit(u));
    rlimits.push_back(r);
  }

  json process = {
      {"terminal", o.tty},
      {"user", {{"uid", user.uid}, {"gid", user.gid}}},
      {"args", args},
      {"env", env},
      {"cwd", o.workdir.empty() ? (img.config.workingDir.empty() ? "/" : img.config.workingDir) : o.workdir},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"noNewPrivileges", o.noNewPrivileges},
      {"oomScoreAdj", 0}};
  if (!user.groups.empty()) process["user"]["additionalGids"] = user.groups;
  if (!rlimits.empty()) process["rlimits"] = rlimits;

  json mounts = json::array({
      {{"destination", "/proc"},
       {"type", "proc"},
       {"source", "proc"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", o.privileged ? "rw" : "ro"}}},
      {{"destination", "/sys/fs/cgroup"},
       {"type", "cgroup"},
       {"source", "cgroup"},
       {"options", {"nosuid", "noexec", "nodev", "relatime", o.privileged ? "rw" : "ro"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=" + std::to_string(o.shmSize)}}},
  });
  if (!o.initPath.empty())
    mounts.push_back({{"destination", "/sbin/docker-init"},
                      {"type", "bind"},
                      {"source", o.initPath},
                      {"options", {"bind", "ro", "nosuid", "nodev"}}});
  for (auto& t : o.tmpfs) {
    std::string dest = t.substr(0, t.find(':'));
    if (dest.empty() || dest[0] != '/')
      return invalid("invalid --tmpfs " + t + ": the path must be absolute");
    json opts = {"nosuid", "nodev", "noexec"};
    if (t.find(':') != std::string::npos)
      for (auto& x : split(t.substr(t.find(':') + 1), ',')) opts.push_back(x);
    mounts.push_back({{"destination", dest}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", opts}});
  }
  for (auto& b : o.binds) {
    if (b.destination.empty() || b.destination[0] != '/')
      return invalid("invalid mount destination " + b.destination + ": the path must be absolute");
    if (b.tmpfs) {
      json opts = {"nosuid", "nodev", "noexec"};
      if (b.readOnly) opts.push_back("ro");
      for (auto& x : split(b.data, ','))
        if (!x.empty()) opts.push_back(x);
      mounts.push_back(
          {{"destination", b.destination}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", opts}});
      continue;
    }
    json opts = {"rbind", b.propagation.empty() ? "rprivate" : b.propagation};
    if (b.readOnly) opts.push_back("ro");
    mounts.push_back(
        {{"destination", b.destination}, {"type", "bind"}, {"source", b.source}, {"options", opts}});
  }

  json namespaces =
      json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  if (o.network != "host")
    namespaces.push_back(o.netnsPath.empty() ? json{{"type", "network"}}
                                             : json{{"type", "network"}, {"path", o.netnsPath}});
  json linux = {{"namespaces", namespaces},
                {"cgroupsPath", o.cgroupParent + "/" + o.id},
                {"resources", {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}}}};
  if (!o.privileged) {
    linux["maskedPaths"] = {"/proc/asound",
                            "/proc/acpi",
                            "/proc/kcore",
                            "/proc/keys",
                            "/proc/latency_stats",
                            "/proc/timer_list",
                            "/proc/timer_stats",
                            "/proc/sched_debug",
                            "/proc/scsi",
                            "/sys/firmware",
                            "/sys/devices/virtual/powercap"};
    linux["readonlyPaths"] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
    if (o.seccomp.empty()) {
      seccompText = defaultSeccompText(caps);
      linux["seccomp"] = kSeccompPlaceholder;
    } else if (!o.seccomp.empty() && o.seccomp[0] == '{') {
      TRY(linux["seccomp"], dockerSeccompProfile(o.seccomp, caps));
    } else if (o.seccomp != "unconfined") {
      return invalid("--security-opt seccomp=" + o.seccomp +
                     ": expected unconfined or a profile's JSON (the docker CLI sends the file's content)");
    }
  } else {
    linux["resources"]["devices"] = json::array({{{"allow", true}, {"access", "rwm"}}});
  }
  json limits = json::parse(resourceLimitsJson(o));
  for (auto& [k, v] : limits.items()) linux["resources"][k] = v;

  json annotations = json::object();
  for (auto& [k, v] : img.config.labels) annotations[k] = v;
  for (auto& [k, v] : o.labels) annotations[k] = v;
  json spec = {
      {"ociVersion", "1.0.2"}, {"process", process}, {"root", {{"path", rootfs}, {"readonly", o.readOnly}}},
      {"hostname", hostname},  {"mounts", mounts},   {"linux", linux}};
  if (!annotations.empty()) spec["annotations"] = annotations;
  std::string text = spec.dump();
  if (!seccompText.empty()) {
    // The placeholder is a string a user can write too (a label, an environment variable): spliced only
    // where it occurs once; otherwise the profile goes in as JSON (the slow way).
    std::string quoted = std::string("\"") + kSeccompPlaceholder + "\"";
    auto at = text.find(quoted);
    if (at != std::string::npos && text.find(quoted, at + 1) == std::string::npos) {
      text.replace(at, quoted.size(), seccompText);
    } else {
      spec["linux"]["seccomp"] = json::parse(seccompText);
      text = spec.dump();
    }
  }
  return text;
}

Result<std::string> makeExecProcess(const std::string& containerProcessJson, const ExecProcessOptions& o,
                                    const std::string& rootfs) {
  json p = json::parse(containerProcessJson, nullptr, false);
  if (!p.is_object()) return invalid("the container's process spec is not a JSON object");
  if (o.cmd.empty()) return invalid("No exec command specified");
  p["args"] = o.cmd;
  p["terminal"] = o.tty;
  std::vector<std::string> env;
  if (p.contains("env") && p["env"].is_array())
    for (auto& e : p["env"])
      if (e.is_string()) env.push_back(e.get<std::string>());
  auto setEnv = [&](const std::string& kv, bool override) { setEnvIn(env, kv, override); };
  for (auto& e : o.env)
    if (e.find('=') != std::string::npos) setEnv(e, true);
  if (o.tty) setEnv("TERM=xterm", false);
  if (!o.user.empty()) {
    TRY(ResolvedUser user, resolveUser(o.user, rootfs));
    p["user"] = {{"uid", user.uid}, {"gid", user.gid}};
    if (!user.groups.empty()) p["user"]["additionalGids"] = user.groups;
    setEnv("HOME=" + (user.home.empty() ? std::string("/") : user.home), true);
  }
  p["env"] = env;
  if (!o.workdir.empty()) {
    if (o.workdir[0] != '/') return invalid("the working directory '" + o.workdir + "' is not absolute");
    p["cwd"] = o.workdir;
  }
  if (o.privileged) {
    const std::vector<std::string>& all = heldCapabilities();
    p["capabilities"] = {{"bounding", all}, {"effective", all}, {"permitted", all}};
  }
  if (o.tty && o.rows && o.cols) p["consoleSize"] = {{"height", o.rows}, {"width", o.cols}};
  p.erase("apparmorProfile");
  return p.dump();
}

}  // namespace berth::image
