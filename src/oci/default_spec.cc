#include <nlohmann/json.hpp>

#include "oci/config.h"

namespace berth::oci {

using nlohmann::ordered_json;

// runc's `spec` template: a shell in a read-only rootfs with the default mounts, masks and capabilities.
std::string defaultSpec(bool rootless, uid_t uid, gid_t gid) {
  ordered_json caps = ordered_json::array({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"});
  ordered_json spec = {
      {"ociVersion", "1.0.2-dev"},
      {"process",
       {{"terminal", true},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"sh"}},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "berth"},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"},
         {"type", "tmpfs"},
         {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"},
         {"type", "devpts"},
         {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"},
         {"type", "tmpfs"},
         {"source", "shm"},
         {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"},
         {"type", "mqueue"},
         {"source", "mqueue"},
         {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"},
         {"type", "sysfs"},
         {"source", "sysfs"},
         {"options", {"nosuid", "noexec", "nodev", "ro"}}},
        {{"destination", "/sys/fs/cgroup"},
         {"type", "cgroup"},
         {"source", "cgroup"},
         {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}}}},
      {"linux",
       {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"namespaces",
         {{{"type", "pid"}},
          {{"type", "network"}},
          {{"type", "ipc"}},
          {{"type", "uts"}},
          {{"type", "mount"}},
          {{"type", "cgroup"}}}},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
        {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
  if (rootless) {
    auto& linux = spec["linux"];
    linux.erase("resources");
    linux["uidMappings"] = {{{"containerID", 0}, {"hostID", uid}, {"size", 1}}};
    linux["gidMappings"] = {{{"containerID", 0}, {"hostID", gid}, {"size", 1}}};
    auto& ns = linux["namespaces"];
    ordered_json kept = ordered_json::array();
    for (auto& n : ns)
      if (n["type"] != "network") kept.push_back(n);
    kept.push_back({{"type", "user"}});
    ns = kept;
    auto& mounts = spec["mounts"];
    ordered_json out = ordered_json::array();
    for (auto& m : mounts) {
      if (m["destination"] == "/sys") {
        out.push_back({{"destination", "/sys"},
                       {"type", "none"},
                       {"source", "/sys"},
                       {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}});
        continue;
      }
      if (m["destination"] == "/sys/fs/cgroup") continue;
      if (m["destination"] == "/dev/pts") {
        auto opts = ordered_json::array();
        for (auto& o : m["options"])
          if (o != "gid=5") opts.push_back(o);
        m["options"] = opts;
      }
      if (m["destination"] == "/dev/mqueue") continue;
      out.push_back(m);
    }
    mounts = out;
  }
  return spec.dump(1, '\t') + "\n";
}

}  // namespace berth::oci
