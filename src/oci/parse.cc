#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/json_bounded.h"
#include "oci/config.h"
#include "sys/caps.h"

namespace berth::oci {

using nlohmann::json;

namespace {

// Walks a JSON document keeping the path, so every error names where it is ("linux.namespaces[2].type").
struct Ctx {
  Result<void> err(const std::string& path, const std::string& what) const {
    return invalid("config.json: " + path + ": " + what);
  }
};
const Ctx ctx;

std::string join(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}
std::string idx(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

Result<void> wantObject(const json& j, const std::string& path) {
  if (!j.is_object()) return ctx.err(path, "must be an object");
  return {};
}

Result<void> getString(const json& obj, const char* key, const std::string& path, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) return ctx.err(join(path, key), "must be a string");
  out = it->get<std::string>();
  return {};
}

Result<void> getBool(const json& obj, const char* key, const std::string& path, bool& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_boolean()) return ctx.err(join(path, key), "must be a boolean");
  out = it->get<bool>();
  return {};
}

template <typename T>
Result<void> getInt(const json& obj, const char* key, const std::string& path, std::optional<T>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_number_integer()) return ctx.err(join(path, key), "must be an integer");
  if constexpr (std::is_unsigned_v<T>) {
    if (it->is_number_unsigned()) {
      auto v = it->get<uint64_t>();
      if (v > std::numeric_limits<T>::max()) return ctx.err(join(path, key), "is out of range");
      out = static_cast<T>(v);
      return {};
    }
    auto v = it->get<int64_t>();
    if (v < 0) return ctx.err(join(path, key), "must not be negative");
    if (static_cast<uint64_t>(v) > std::numeric_limits<T>::max())
      return ctx.err(join(path, key), "is out of range");
    out = static_cast<T>(v);
  } else {
    if (it->is_number_unsigned() &&
        it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      return ctx.err(join(path, key), "is out of range");
    auto v = it->get<int64_t>();
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
      return ctx.err(join(path, key), "is out of range");
    out = static_cast<T>(v);
  }
  return {};
}

template <typename T>
Result<void> getIntReq(const json& obj, const char* key, const std::string& path, T& out) {
  std::optional<T> v;
  TRYV(getInt(obj, key, path, v));
  if (!v) return ctx.err(join(path, key), "is required");
  out = *v;
  return {};
}

Result<void> getStrings(const json& obj, const char* key, const std::string& path,
                        std::vector<std::string>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_array()) return ctx.err(join(path, key), "must be an array of strings");
  out.clear();
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) return ctx.err(idx(join(path, key), i), "must be a string");
    out.push_back((*it)[i].get<std::string>());
  }
  return {};
}

Result<void> getStringMap(const json& obj, const char* key, const std::string& path,
                          std::map<std::string, std::string>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_object()) return ctx.err(join(path, key), "must be an object of strings");
  for (auto& [k, v] : it->items()) {
    if (!v.is_string()) return ctx.err(join(join(path, key), k), "must be a string");
    out[k] = v.get<std::string>();
  }
  return {};
}

// Iterates an optional array of objects.
template <typename F>
Result<void> eachObject(const json& obj, const char* key, const std::string& path, F&& f) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_array()) return ctx.err(join(path, key), "must be an array");
  for (size_t i = 0; i < it->size(); ++i) {
    std::string p = idx(join(path, key), i);
    TRYV(wantObject((*it)[i], p));
    TRYV(f((*it)[i], p));
  }
  return {};
}

const json* child(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<uint64_t> parseCapList(const json& obj, const char* key, const std::string& path) {
  std::vector<std::string> names;
  TRYV(getStrings(obj, key, path, names));
  uint64_t mask = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    auto c = sys::caps::fromName(names[i]);
    if (!c)
      return std::unexpected(
          Error(ErrorCategory::InvalidArgument,
                "config.json: " + idx(join(path, key), i) + ": unknown capability \"" + names[i] + "\""));
    if (*c <= sys::caps::lastCap()) mask |= (1ULL << *c);
  }
  return mask;
}

Result<void> parseIdMappings(const json& obj, const char* key, const std::string& path,
                             std::vector<IdMapping>& out) {
  return eachObject(obj, key, path, [&](const json& m, const std::string& p) -> Result<void> {
    IdMapping im;
    TRYV(getIntReq(m, "containerID", p, im.containerId));
    TRYV(getIntReq(m, "hostID", p, im.hostId));
    TRYV(getIntReq(m, "size", p, im.size));
    out.push_back(im);
    return {};
  });
}

struct RlimitName {
  const char* name;
  int resource;
};
constexpr RlimitName kRlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

Result<void> parseProcessInto(const json& j, const std::string& path, Process& p) {
  TRYV(wantObject(j, path));
  TRYV(getBool(j, "terminal", path, p.terminal));
  if (auto* cs = child(j, "consoleSize")) {
    TRYV(wantObject(*cs, join(path, "consoleSize")));
    TRYV(getIntReq(*cs, "height", join(path, "consoleSize"), p.consoleHeight));
    TRYV(getIntReq(*cs, "width", join(path, "consoleSize"), p.consoleWidth));
  }
  if (auto* u = child(j, "user")) {
    std::string up = join(path, "user");
    TRYV(wantObject(*u, up));
    std::optional<uint32_t> uid, gid, umask;
    TRYV(getInt(*u, "uid", up, uid));
    TRYV(getInt(*u, "gid", up, gid));
    TRYV(getInt(*u, "umask", up, umask));
    p.user.uid = uid.value_or(0);
    p.user.gid = gid.value_or(0);
    if (umask) p.user.umask = static_cast<mode_t>(*umask & 07777);
    if (auto* ag = child(*u, "additionalGids")) {
      if (!ag->is_array()) return ctx.err(join(up, "additionalGids"), "must be an array");
      for (size_t i = 0; i < ag->size(); ++i) {
        if (!(*ag)[i].is_number_unsigned())
          return ctx.err(idx(join(up, "additionalGids"), i), "must be a gid");
        p.user.additionalGids.push_back((*ag)[i].get<gid_t>());
      }
    }
    std::string username;
    TRYV(getString(*u, "username", up, username));  // Windows only; ignored
  }
  TRYV(getStrings(j, "args", path, p.args));
  std::string cmdline;
  TRYV(getString(j, "commandLine", path, cmdline));
  TRYV(getStrings(j, "env", path, p.env));
  TRYV(getString(j, "cwd", path, p.cwd));
  if (p.cwd.empty()) p.cwd = "/";
  if (p.cwd[0] != '/') return ctx.err(join(path, "cwd"), "must be an absolute path, got \"" + p.cwd + "\"");
  if (auto* c = child(j, "capabilities")) {
    std::string cp = join(path, "capabilities");
    TRYV(wantObject(*c, cp));
    Capabilities caps;
    TRY(caps.bounding, parseCapList(*c, "bounding", cp));
    TRY(caps.effective, parseCapList(*c, "effective", cp));
    TRY(caps.inheritable, parseCapList(*c, "inheritable", cp));
    TRY(caps.permitted, parseCapList(*c, "permitted", cp));
    TRY(caps.ambient, parseCapList(*c, "ambient", cp));
    p.capabilities = caps;
  }
  TRYV(eachObject(j, "rlimits", path, [&](const json& r, const std::string& rp) -> Result<void> {
    std::string type;
    TRYV(getString(r, "type", rp, type));
    Rlimit rl;
    bool found = false;
    for (auto& n : kRlimits)
      if (type == n.name) rl.resource = n.resource, found = true;
    if (!found) return ctx.err(join(rp, "type"), "unknown rlimit \"" + type + "\"");
    TRYV(getIntReq(r, "soft", rp, rl.soft));
    TRYV(getIntReq(r, "hard", rp, rl.hard));
    if (rl.soft > rl.hard) return ctx.err(rp, "soft limit is above the hard limit");
    p.rlimits.push_back(rl);
    return {};
  }));
  TRYV(getBool(j, "noNewPrivileges", path, p.noNewPrivileges));
  std::optional<int> oom;
  TRYV(getInt(j, "oomScoreAdj", path, oom));
  if (oom && (*oom < -1000 || *oom > 1000))
    return ctx.err(join(path, "oomScoreAdj"), "must be in -1000..1000");
  p.oomScoreAdj = oom;
  TRYV(getString(j, "apparmorProfile", path, p.apparmorProfile));
  TRYV(getString(j, "selinuxLabel", path, p.selinuxLabel));
  if (auto* io = child(j, "ioPriority")) {
    std::string iop = join(path, "ioPriority");
    TRYV(wantObject(*io, iop));
    std::string cls;
    TRYV(getString(*io, "class", iop, cls));
    if (cls == "IOPRIO_CLASS_RT")
      p.ioPriorityClass = 1;
    else if (cls == "IOPRIO_CLASS_BE")
      p.ioPriorityClass = 2;
    else if (cls == "IOPRIO_CLASS_IDLE")
      p.ioPriorityClass = 3;
    else
      return ctx.err(join(iop, "class"), "unknown class \"" + cls + "\"");
    std::optional<int> prio;
    TRYV(getInt(*io, "priority", iop, prio));
    p.ioPriority = prio.value_or(0);
  }
  if (child(j, "scheduler")) return ctx.err(join(path, "scheduler"), "is not supported by berth-runtime");
  if (child(j, "execCPUAffinity"))
    return ctx.err(join(path, "execCPUAffinity"), "is not supported by berth-runtime");
  return {};
}

Result<void> parseDeviceRule(const json& d, const std::string& p, DeviceRule& r) {
  TRYV(getBool(d, "allow", p, r.allow));
  std::string type = "a";
  TRYV(getString(d, "type", p, type));
  if (type.empty()) type = "a";
  if (type != "a" && type != "c" && type != "b") return ctx.err(join(p, "type"), "must be a, b or c");
  r.type = type[0];
  std::optional<int64_t> maj, min;
  TRYV(getInt(d, "major", p, maj));
  TRYV(getInt(d, "minor", p, min));
  r.major = maj.value_or(-1);
  r.minor = min.value_or(-1);
  TRYV(getString(d, "access", p, r.access));
  if (r.access.empty()) r.access = "rwm";
  for (char c : r.access)
    if (c != 'r' && c != 'w' && c != 'm') return ctx.err(join(p, "access"), "may only hold r, w and m");
  return {};
}

Result<void> parseResourcesInto(const json& j, const std::string& path, Resources& r) {
  TRYV(wantObject(j, path));
  TRYV(eachObject(j, "devices", path, [&](const json& d, const std::string& p) -> Result<void> {
    DeviceRule rule;
    TRYV(parseDeviceRule(d, p, rule));
    r.devices.push_back(rule);
    return {};
  }));
  if (auto* m = child(j, "memory")) {
    std::string mp = join(path, "memory");
    TRYV(wantObject(*m, mp));
    TRYV(getInt(*m, "limit", mp, r.memory.limit));
    TRYV(getInt(*m, "reservation", mp, r.memory.reservation));
    TRYV(getInt(*m, "swap", mp, r.memory.swap));
    TRYV(getInt(*m, "kernel", mp, r.memory.kernel));
    TRYV(getInt(*m, "kernelTCP", mp, r.memory.kernelTCP));
    TRYV(getInt(*m, "swappiness", mp, r.memory.swappiness));
    if (auto* d = child(*m, "disableOOMKiller")) {
      if (!d->is_boolean()) return ctx.err(join(mp, "disableOOMKiller"), "must be a boolean");
      r.memory.disableOOMKiller = d->get<bool>();
    }
    if (r.memory.swappiness && *r.memory.swappiness > 100 && *r.memory.swappiness != UINT64_MAX)
      return ctx.err(join(mp, "swappiness"), "must be in 0..100");
  }
  if (auto* c = child(j, "cpu")) {
    std::string cp = join(path, "cpu");
    TRYV(wantObject(*c, cp));
    TRYV(getInt(*c, "shares", cp, r.cpu.shares));
    TRYV(getInt(*c, "quota", cp, r.cpu.quota));
    TRYV(getInt(*c, "burst", cp, r.cpu.burst));
    TRYV(getInt(*c, "period", cp, r.cpu.period));
    TRYV(getInt(*c, "realtimeRuntime", cp, r.cpu.realtimeRuntime));
    TRYV(getInt(*c, "realtimePeriod", cp, r.cpu.realtimePeriod));
    TRYV(getInt(*c, "idle", cp, r.cpu.idle));
    std::string s;
    if (c->contains("cpus")) {
      TRYV(getString(*c, "cpus", cp, s));
      if (!s.empty()) r.cpu.cpus = s;
    }
    if (c->contains("mems")) {
      s.clear();
      TRYV(getString(*c, "mems", cp, s));
      if (!s.empty()) r.cpu.mems = s;
    }
  }
  if (auto* p = child(j, "pids")) {
    TRYV(wantObject(*p, join(path, "pids")));
    TRYV(getInt(*p, "limit", join(path, "pids"), r.pidsLimit));
  }
  if (auto* b = child(j, "blockIO")) {
    std::string bp = join(path, "blockIO");
    TRYV(wantObject(*b, bp));
    TRYV(getInt(*b, "weight", bp, r.blockIO.weight));
    TRYV(getInt(*b, "leafWeight", bp, r.blockIO.leafWeight));
    TRYV(eachObject(*b, "weightDevice", bp, [&](const json& d, const std::string& p) -> Result<void> {
      WeightDevice w;
      TRYV(getIntReq(d, "major", p, w.major));
      TRYV(getIntReq(d, "minor", p, w.minor));
      TRYV(getInt(d, "weight", p, w.weight));
      TRYV(getInt(d, "leafWeight", p, w.leafWeight));
      r.blockIO.weightDevice.push_back(w);
      return {};
    }));
    auto throttle = [&](const char* key, std::vector<ThrottleDevice>& out) {
      return eachObject(*b, key, bp, [&](const json& d, const std::string& p) -> Result<void> {
        ThrottleDevice t;
        TRYV(getIntReq(d, "major", p, t.major));
        TRYV(getIntReq(d, "minor", p, t.minor));
        TRYV(getIntReq(d, "rate", p, t.rate));
        out.push_back(t);
        return {};
      });
    };
    TRYV(throttle("throttleReadBpsDevice", r.blockIO.throttleReadBps));
    TRYV(throttle("throttleWriteBpsDevice", r.blockIO.throttleWriteBps));
    TRYV(throttle("throttleReadIOPSDevice", r.blockIO.throttleReadIops));
    TRYV(throttle("throttleWriteIOPSDevice", r.blockIO.throttleWriteIops));
  }
  TRYV(eachObject(j, "hugepageLimits", path, [&](const json& h, const std::string& p) -> Result<void> {
    Resources::HugepageLimit hl;
    TRYV(getString(h, "pageSize", p, hl.pageSize));
    TRYV(getIntReq(h, "limit", p, hl.limit));
    r.hugepageLimits.push_back(hl);
    return {};
  }));
  TRYV(getStringMap(j, "unified", path, r.unified));
  for (auto& [k, v] : r.unified)
    if (k.find('/') != std::string::npos || k == "." || k == "..")
      return ctx.err(join(join(path, "unified"), k), "is not a cgroup file name");
  if (child(j, "rdma")) return ctx.err(join(path, "rdma"), "is not supported by berth-runtime");
  // network (classID, priorities) is v1 net_cls/net_prio: absent on most hosts; accepted and ignored.
  return {};
}

Result<void> parseSeccomp(const json& j, const std::string& path, Seccomp& s) {
  TRYV(wantObject(j, path));
  TRYV(getString(j, "defaultAction", path, s.defaultAction));
  if (s.defaultAction.empty()) return ctx.err(join(path, "defaultAction"), "is required");
  std::optional<unsigned> er;
  TRYV(getInt(j, "defaultErrnoRet", path, er));
  s.defaultErrnoRet = er;
  TRYV(getStrings(j, "architectures", path, s.architectures));
  TRYV(getStrings(j, "flags", path, s.flags));
  TRYV(getString(j, "listenerPath", path, s.listenerPath));
  TRYV(eachObject(j, "syscalls", path, [&](const json& sc, const std::string& p) -> Result<void> {
    SeccompRule rule;
    TRYV(getStrings(sc, "names", p, rule.names));
    TRYV(getString(sc, "action", p, rule.action));
    if (rule.action.empty()) return ctx.err(join(p, "action"), "is required");
    std::optional<unsigned> e;
    TRYV(getInt(sc, "errnoRet", p, e));
    rule.errnoRet = e;
    TRYV(eachObject(sc, "args", p, [&](const json& a, const std::string& ap) -> Result<void> {
      SeccompArg arg;
      TRYV(getIntReq(a, "index", ap, arg.index));
      std::optional<uint64_t> v, v2;
      TRYV(getInt(a, "value", ap, v));
      TRYV(getInt(a, "valueTwo", ap, v2));
      arg.value = v.value_or(0);
      arg.valueTwo = v2.value_or(0);
      TRYV(getString(a, "op", ap, arg.op));
      if (arg.index > 5) return ctx.err(join(ap, "index"), "must be 0..5");
      rule.args.push_back(arg);
      return {};
    }));
    s.syscalls.push_back(std::move(rule));
    return {};
  }));
  return {};
}

struct NsName {
  const char* name;
  int flag;
};
constexpr NsName kNamespaces[] = {
    {"pid", CLONE_NEWPID}, {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},      {"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS}, {"user", CLONE_NEWUSER},   {"cgroup", CLONE_NEWCGROUP},
};

Result<void> parseLinux(const json& j, const std::string& path, Linux& l) {
  TRYV(wantObject(j, path));
  TRYV(eachObject(j, "namespaces", path, [&](const json& n, const std::string& p) -> Result<void> {
    std::string type;
    Namespace ns;
    TRYV(getString(n, "type", p, type));
    for (auto& k : kNamespaces)
      if (type == k.name) ns.type = k.flag;
    if (type == "time") return ctx.err(join(p, "type"), "time namespaces are not supported by berth-runtime");
    if (!ns.type) return ctx.err(join(p, "type"), "unknown namespace type \"" + type + "\"");
    if (l.hasNamespace(ns.type))
      return ctx.err(join(p, "type"), "namespace \"" + type + "\" is listed twice");
    TRYV(getString(n, "path", p, ns.path));
    if (!ns.path.empty() && ns.path[0] != '/') return ctx.err(join(p, "path"), "must be an absolute path");
    l.namespaces.push_back(ns);
    return {};
  }));
  TRYV(parseIdMappings(j, "uidMappings", path, l.uidMappings));
  TRYV(parseIdMappings(j, "gidMappings", path, l.gidMappings));
  TRYV(eachObject(j, "devices", path, [&](const json& d, const std::string& p) -> Result<void> {
    Device dev;
    std::string type;
    TRYV(getString(d, "type", p, type));
    if (type != "c" && type != "b" && type != "u" && type != "p")
      return ctx.err(join(p, "type"), "must be c, b, u or p");
    dev.type = type[0];
    TRYV(getString(d, "path", p, dev.path));
    if (dev.path.empty() || dev.path[0] != '/') return ctx.err(join(p, "path"), "must be an absolute path");
    std::optional<int64_t> maj, min;
    TRYV(getInt(d, "major", p, maj));
    TRYV(getInt(d, "minor", p, min));
    if (dev.type != 'p' && (!maj || !min)) return ctx.err(p, "major and minor are required");
    dev.major = maj.value_or(0);
    dev.minor = min.value_or(0);
    std::optional<uint32_t> mode, uid, gid;
    TRYV(getInt(d, "fileMode", p, mode));
    TRYV(getInt(d, "uid", p, uid));
    TRYV(getInt(d, "gid", p, gid));
    if (mode) dev.fileMode = static_cast<mode_t>(*mode);
    if (uid) dev.uid = *uid;
    if (gid) dev.gid = *gid;
    l.devices.push_back(dev);
    return {};
  }));
  TRYV(getString(j, "cgroupsPath", path, l.cgroupsPath));
  if (auto* r = child(j, "resources")) {
    Resources res;
    TRYV(parseResourcesInto(*r, join(path, "resources"), res));
    l.resources = std::move(res);
  }
  std::string prop;
  TRYV(getString(j, "rootfsPropagation", path, prop));
  if (!prop.empty()) {
    if (prop == "private")
      l.rootfsPropagation = MS_PRIVATE;
    else if (prop == "rprivate")
      l.rootfsPropagation = MS_PRIVATE | MS_REC;
    else if (prop == "slave")
      l.rootfsPropagation = MS_SLAVE;
    else if (prop == "rslave")
      l.rootfsPropagation = MS_SLAVE | MS_REC;
    else if (prop == "shared")
      l.rootfsPropagation = MS_SHARED;
    else if (prop == "rshared")
      l.rootfsPropagation = MS_SHARED | MS_REC;
    else if (prop == "unbindable")
      l.rootfsPropagation = MS_UNBINDABLE;
    else if (prop == "runbindable")
      l.rootfsPropagation = MS_UNBINDABLE | MS_REC;
    else
      return ctx.err(join(path, "rootfsPropagation"), "unknown propagation \"" + prop + "\"");
  }
  if (auto* s = child(j, "seccomp")) {
    Seccomp sc;
    TRYV(parseSeccomp(*s, join(path, "seccomp"), sc));
    l.seccomp = std::move(sc);
  }
  TRYV(getStringMap(j, "sysctl", path, l.sysctl));
  for (auto& [k, v] : l.sysctl)
    if (k.empty() || k.find("..") != std::string::npos || k[0] == '/' || k[0] == '.')
      return ctx.err(join(join(path, "sysctl"), k), "is not a sysctl name");
  TRYV(getStrings(j, "maskedPaths", path, l.maskedPaths));
  TRYV(getStrings(j, "readonlyPaths", path, l.readonlyPaths));
  TRYV(getString(j, "mountLabel", path, l.mountLabel));
  if (auto* p = child(j, "personality")) {
    TRYV(wantObject(*p, join(path, "personality")));
    std::string domain;
    TRYV(getString(*p, "domain", join(path, "personality"), domain));
    if (domain == "LINUX")
      l.personality = PER_LINUX;
    else if (domain == "LINUX32")
      l.personality = PER_LINUX32;
    else
      return ctx.err(join(path, "personality.domain"), "must be LINUX or LINUX32");
  }
  if (child(j, "intelRdt")) return ctx.err(join(path, "intelRdt"), "is not supported by berth-runtime");
  if (child(j, "timeOffsets")) return ctx.err(join(path, "timeOffsets"), "is not supported by berth-runtime");
  return {};
}

Result<void> parseHookList(const json& hooks, const char* key, const std::string& path,
                           std::vector<Hook>& out) {
  return eachObject(hooks, key, path, [&](const json& h, const std::string& p) -> Result<void> {
    Hook hook;
    TRYV(getString(h, "path", p, hook.path));
    if (hook.path.empty() || hook.path[0] != '/') return ctx.err(join(p, "path"), "must be an absolute path");
    TRYV(getStrings(h, "args", p, hook.args));
    TRYV(getStrings(h, "env", p, hook.env));
    std::optional<int> t;
    TRYV(getInt(h, "timeout", p, t));
    if (t && *t <= 0) return ctx.err(join(p, "timeout"), "must be positive");
    hook.timeout = t;
    out.push_back(std::move(hook));
    return {};
  });
}

Result<json> parseJson(const std::string& text, const std::string& what) {
  return parseJsonBounded(text, JsonLimits{.maxDepth = 128, .maxValues = 1'000'000, .maxBytes = 16 << 20},
                          what + ": invalid JSON");
}

}  // namespace

bool Linux::hasNamespace(int type) const {
  return findNamespace(type) != nullptr;
}
const Namespace* Linux::findNamespace(int type) const {
  for (auto& n : namespaces)
    if (n.type == type) return &n;
  return nullptr;
}

Result<void> parseMountOptions(Mount& m) {
  struct Flag {
    const char* name;
    bool clear;
    unsigned long flag;
  };
  static constexpr Flag kFlags[] = {
      {"ro", false, MS_RDONLY},
      {"rw", true, MS_RDONLY},
      {"suid", true, MS_NOSUID},
      {"nosuid", false, MS_NOSUID},
      {"dev", true, MS_NODEV},
      {"nodev", false, MS_NODEV},
      {"exec", true, MS_NOEXEC},
      {"noexec", false, MS_NOEXEC},
      {"sync", false, MS_SYNCHRONOUS},
      {"async", true, MS_SYNCHRONOUS},
      {"dirsync", false, MS_DIRSYNC},
      {"remount", false, MS_REMOUNT},
      {"mand", false, MS_MANDLOCK},
      {"nomand", true, MS_MANDLOCK},
      {"atime", true, MS_NOATIME},
      {"noatime", false, MS_NOATIME},
      {"diratime", true, MS_NODIRATIME},
      {"nodiratime", false, MS_NODIRATIME},
      {"relatime", false, MS_RELATIME},
      {"norelatime", true, MS_RELATIME},
      {"strictatime", false, MS_STRICTATIME},
      {"nostrictatime", true, MS_STRICTATIME},
      {"silent", false, MS_SILENT},
      {"loud", true, MS_SILENT},
      {"lazytime", false, MS_LAZYTIME},
      {"nolazytime", true, MS_LAZYTIME},
      {"nosymfollow", false, MS_NOSYMFOLLOW},
      {"symfollow", true, MS_NOSYMFOLLOW},
  };
  static constexpr Flag kProp[] = {
      {"private", false, MS_PRIVATE},       {"rprivate", false, MS_PRIVATE | MS_REC},
      {"shared", false, MS_SHARED},         {"rshared", false, MS_SHARED | MS_REC},
      {"slave", false, MS_SLAVE},           {"rslave", false, MS_SLAVE | MS_REC},
      {"unbindable", false, MS_UNBINDABLE}, {"runbindable", false, MS_UNBINDABLE | MS_REC},
  };
  m.flags = 0;
  m.propagation = 0;
  m.data.clear();
  m.bind = m.type == "bind";
  m.recursive = false;
  for (auto& o : m.options) {
    if (o == "bind" || o == "rbind") {
      m.bind = true;
      m.recursive = o == "rbind";
      continue;
    }
    bool known = false;
    for (auto& f : kFlags) {
      if (o == f.name) {
        known = true;
        if (f.clear)
          m.flags &= ~f.flag;
        else
          m.flags |= f.flag;
      }
    }
    for (auto& f : kProp) {
      if (o == f.name) {
        known = true;
        m.propagation = f.flag;
      }
    }
    if (known) continue;
    if (o == "idmap" || o == "ridmap" ||
        (o.size() > 1 && o[0] == 'r' &&
         (o == "rro" || o == "rrw" || o == "rnosuid" || o == "rnodev" || o == "rnoexec")))
      return invalid("mount option \"" + o + "\" is not supported by berth-runtime");
    if (o == "tmpcopyup" || o == "nocopyup" || o == "copy-symlink" || o == "z" || o == "Z") continue;
    if (!m.data.empty()) m.data += ',';
    m.data += o;
  }
  if (m.bind && m.type.empty()) m.type = "bind";
  if (m.bind && !m.data.empty()) {
    // Bind mounts take no filesystem data; docker sends e.g. "mode=755" only for tmpfs.
    return invalid("bind mount takes no filesystem option, got \"" + m.data + "\"");
  }
  return {};
}

Result<Process> parseProcess(const std::string& text) {
  TRY(json j, parseJson(text, "process.json"));
  Process p;
  auto r = parseProcessInto(j, "", p);
  if (!r) {
    auto msg = r.error().message();
    if (startsWith(msg, "config.json: ")) msg = "process.json: " + msg.substr(13);
    return invalid(msg);
  }
  if (p.args.empty()) return invalid("process.json: args must not be empty");
  return p;
}

Result<Resources> parseResources(const std::string& text) {
  TRY(json j, parseJson(text, "resources"));
  Resources r;
  auto res = parseResourcesInto(j, "resources", r);
  if (!res) return std::unexpected(res.error());
  return r;
}

Result<Config> parseConfig(const std::string& text, const std::string& bundleDir) {
  TRY(json j, parseJson(text, "config.json"));
  if (!j.is_object()) return invalid("config.json: the document must be an object");
  Config c;
  TRYV(getString(j, "ociVersion", "", c.ociVersion));
  if (c.ociVersion.empty()) return invalid("config.json: ociVersion: is required");
  if (!startsWith(c.ociVersion, "1."))
    return invalid("config.json: ociVersion: unsupported version \"" + c.ociVersion +
                   "\" (berth-runtime reads 1.x)");
  auto* root = child(j, "root");
  if (!root) return invalid("config.json: root: is required");
  TRYV(wantObject(*root, "root"));
  TRYV(getString(*root, "path", "root", c.rootPath));
  if (c.rootPath.empty()) return invalid("config.json: root.path: is required");
  if (c.rootPath[0] != '/') c.rootPath = bundleDir + "/" + c.rootPath;
  TRYV(getBool(*root, "readonly", "root", c.rootReadonly));
  if (auto* p = child(j, "process")) {
    Process proc;
    TRYV(parseProcessInto(*p, "process", proc));
    c.process = std::move(proc);
  }
  TRYV(getString(j, "hostname", "", c.hostname));
  TRYV(getString(j, "domainname", "", c.domainname));
  TRYV(eachObject(j, "mounts", "", [&](const json& m, const std::string& p) -> Result<void> {
    Mount mnt;
    TRYV(getString(m, "destination", p, mnt.destination));
    if (mnt.destination.empty()) return ctx.err(join(p, "destination"), "is required");
    if (mnt.destination[0] != '/') mnt.destination = "/" + mnt.destination;  // runc accepts relative
    TRYV(getString(m, "source", p, mnt.source));
    TRYV(getString(m, "type", p, mnt.type));
    TRYV(getStrings(m, "options", p, mnt.options));
    if (child(m, "uidMappings") || child(m, "gidMappings"))
      return ctx.err(p, "idmapped mounts are not supported by berth-runtime");
    auto r = parseMountOptions(mnt);
    if (!r) return ctx.err(join(p, "options"), r.error().message());
    if (mnt.bind && !mnt.source.empty() && mnt.source[0] != '/') mnt.source = bundleDir + "/" + mnt.source;
    if (mnt.bind && mnt.source.empty()) return ctx.err(join(p, "source"), "is required for a bind mount");
    if (!mnt.bind && mnt.type.empty()) return ctx.err(join(p, "type"), "is required");
    c.mounts.push_back(std::move(mnt));
    return {};
  }));
  if (auto* h = child(j, "hooks")) {
    TRYV(wantObject(*h, "hooks"));
    TRYV(parseHookList(*h, "prestart", "hooks", c.hooks.prestart));
    TRYV(parseHookList(*h, "createRuntime", "hooks", c.hooks.createRuntime));
    TRYV(parseHookList(*h, "createContainer", "hooks", c.hooks.createContainer));
    TRYV(parseHookList(*h, "startContainer", "hooks", c.hooks.startContainer));
    TRYV(parseHookList(*h, "poststart", "hooks", c.hooks.poststart));
    TRYV(parseHookList(*h, "poststop", "hooks", c.hooks.poststop));
  }
  TRYV(getStringMap(j, "annotations", "", c.annotations));
  if (auto* l = child(j, "linux")) TRYV(parseLinux(*l, "linux", c.linux));
  if (child(j, "windows") || child(j, "solaris") || child(j, "vm"))
    return invalid("config.json: only linux containers are supported");
  // Cross-field checks.
  bool userns = c.linux.hasNamespace(CLONE_NEWUSER);
  if (userns && c.linux.findNamespace(CLONE_NEWUSER)->path.empty() &&
      (c.linux.uidMappings.empty() || c.linux.gidMappings.empty()))
    return invalid(
        "config.json: linux.uidMappings/gidMappings: a new user namespace needs uid and gid mappings");
  if (!userns && (!c.linux.uidMappings.empty() || !c.linux.gidMappings.empty()))
    return invalid("config.json: linux.uidMappings: mappings are set but there is no user namespace");
  if (!c.hostname.empty() && !c.linux.hasNamespace(CLONE_NEWUTS))
    return invalid("config.json: hostname: setting the hostname needs a new uts namespace");
  if (!c.linux.sysctl.empty()) {
    for (auto& [k, v] : c.linux.sysctl) {
      if (startsWith(k, "net.") && !c.linux.hasNamespace(CLONE_NEWNET))
        return invalid("config.json: linux.sysctl." + k + ": needs a network namespace");
    }
  }
  return c;
}

Result<int> parseSignal(const std::string& s) {
  if (s.empty()) return invalid("empty signal");
  if (std::all_of(s.begin(), s.end(), ::isdigit)) {
    if (s.size() > 3) return invalid("unknown signal \"" + s + "\"");
    int n = std::stoi(s);
    if (n <= 0 || n > 64) return invalid("unknown signal \"" + s + "\"");
    return n;
  }
  std::string name = s;
  for (auto& ch : name) ch = static_cast<char>(::toupper(ch));
  if (startsWith(name, "SIG")) name = name.substr(3);
  for (int i = 1; i < 32; ++i) {
    const char* abbrev = sigabbrev_np(i);
    if (abbrev && name == abbrev) return i;
  }
  if (name == "IOT") return SIGABRT;
  if (name == "POLL") return SIGIO;
  if (startsWith(name, "RTMIN") || startsWith(name, "RTMAX")) {
    bool min = startsWith(name, "RTMIN");
    std::string rest = name.substr(5);
    int off = 0;
    if (!rest.empty()) {
      if ((rest[0] != '+' && rest[0] != '-') || rest.size() < 2 || rest.size() > 3 ||
          !std::all_of(rest.begin() + 1, rest.end(), ::isdigit))
        return invalid("unknown signal \"" + s + "\"");
      off = std::atoi(rest.c_str());
    }
    int sig = (min ? SIGRTMIN : SIGRTMAX) + off;
    if (sig < SIGRTMIN || sig > SIGRTMAX) return invalid("unknown signal \"" + s + "\"");
    return sig;
  }
  return invalid("unknown signal \"" + s + "\"");
}

}  // namespace berth::oci
