// The default seccomp profile of berth containers, equivalent to docker's (moby profiles/seccomp):
// an allowlist with EPERM for everything else, where the syscalls that reach kernel-wide state are allowed
// only to containers holding the capability that governs them.
//
// Built here rather than shipped as JSON: the allowlist is every syscall libseccomp knows for the native
// architecture minus the ones below, so the list stays complete as libseccomp learns new names, while a
// syscall newer than libseccomp stays denied (as in docker, where the list is fixed).
#include <seccomp.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "sys/seccomp.h"

namespace berth::sys::seccomp {
namespace {

struct Gate {
  const char* cap;  // allowed when the container has this capability
  std::vector<const char*> names;
};

// Denied unless the capability is held (docker's "includes": {"caps": [...]}).
const std::vector<Gate>& gates() {
  static const std::vector<Gate> g = {
      {"CAP_SYS_ADMIN", {"bpf",           "clone3",          "fanotify_init", "fsconfig",
                         "fsmount",       "fsopen",          "fspick",        "lookup_dcookie",
                         "mount",         "mount_setattr",   "move_mount",    "name_to_handle_at",
                         "open_tree",     "perf_event_open", "quotactl",      "quotactl_fd",
                         "setdomainname", "sethostname",     "setns",         "syslog",
                         "umount",        "umount2",         "unshare"}},
      {"CAP_SYS_BOOT", {"reboot"}},
      {"CAP_SYS_CHROOT", {"chroot"}},
      {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
      {"CAP_SYS_PACCT", {"acct"}},
      {"CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise"}},
      {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
      {"CAP_SYS_TIME",
       {"settimeofday", "stime", "clock_settime", "clock_settime64", "adjtimex", "clock_adjtime",
        "clock_adjtime64"}},
      {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
      {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
      {"CAP_SYSLOG", {"syslog"}},
      {"CAP_BPF", {"bpf"}},
      {"CAP_PERFMON", {"perf_event_open"}},
      {"CAP_DAC_READ_SEARCH", {"open_by_handle_at"}},
  };
  return g;
}

// Never allowed by the default profile: obsolete, or kernel-wide with no capability that makes them safe.
const std::set<std::string>& alwaysDenied() {
  static const std::set<std::string> d = {
      "add_key",
      "create_module",
      "get_kernel_syms",
      "kexec_file_load",
      "kexec_load",
      "keyctl",
      "move_pages",
      "nfsservctl",
      "query_module",
      "request_key",
      "swapon",
      "swapoff",
      "sysfs",
      "_sysctl",
      "uselib",
      "userfaultfd",
      "ustat",
      "vm86",
      "vm86old",
      "pciconfig_iobase",
      "pciconfig_read",
      "pciconfig_write",
      "afs_syscall",
      "tuxcall",
      "security",
      "getpmsg",
      "putpmsg",
      "vserver",
      "break",
      "ftime",
      "gtty",
      "lock",
      "mpx",
      "prof",
      "profil",
      "stty",
      "ulimit",
      "idle",
      "personality",
      "clone",
      "socket",
  };
  return d;
}

// ptrace and the process_vm calls: allowed to every container where the kernel is 4.8 or newer (before
// 4.8 seccomp could be bypassed with ptrace), as docker's profile has them; else only with CAP_SYS_PTRACE.
bool kernelFrom48() {
  struct utsname u {};
  if (::uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 4 || (major == 4 && minor >= 8);
}

// Asked once per process, not once per container.
bool ptraceSafeKernel() {
  static const bool safe = kernelFrom48();
  return safe;
}

}  // namespace

Profile defaultProfile(const std::vector<std::string>& caps) {
  auto has = [&](const char* c) { return std::find(caps.begin(), caps.end(), c) != caps.end(); };
  std::set<std::string> gated, granted;
  for (auto& g : gates())
    for (auto* n : g.names) {
      gated.insert(n);
      if (has(g.cap)) granted.insert(n);
    }
  for (const char* n : {"ptrace", "process_vm_readv", "process_vm_writev"}) {
    gated.insert(n);
    if (has("CAP_SYS_PTRACE") || ptraceSafeKernel()) granted.insert(n);
  }

  Profile p;
  p.defaultAction = "SCMP_ACT_ERRNO";
  p.defaultErrnoRet = EPERM;
  Rule allow;
  allow.action = "SCMP_ACT_ALLOW";
  uint32_t arch = seccomp_arch_native();
  for (int nr = 0; nr < 1024; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(arch, nr);
    if (!name) continue;
    std::string n = name;
    free(name);
    if (alwaysDenied().count(n)) continue;
    if (gated.count(n) && !granted.count(n)) continue;
    allow.names.push_back(n);
  }
  std::sort(allow.names.begin(), allow.names.end());
  allow.names.erase(std::unique(allow.names.begin(), allow.names.end()), allow.names.end());
  p.syscalls.push_back(std::move(allow));

  // personality: only the harmless personas (linux, linux32, UNAME26 variants, query).
  for (uint64_t v : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL})
    p.syscalls.push_back({{"personality"}, "SCMP_ACT_ALLOW", std::nullopt, {{0, v, 0, "SCMP_CMP_EQ"}}});
  // socket: every family but AF_VSOCK (40), which reaches the host.
  p.syscalls.push_back({{"socket"}, "SCMP_ACT_ALLOW", std::nullopt, {{0, 40, 0, "SCMP_CMP_NE"}}});
  if (has("CAP_SYS_ADMIN")) {
    p.syscalls.push_back({{"clone"}, "SCMP_ACT_ALLOW", std::nullopt, {}});
  } else {
    // clone without namespace flags; clone3 hides its flags in memory, so it reports ENOSYS and libc falls
    // back to clone, where the flags can be checked.
    constexpr uint64_t kNsFlags = 0x7E020000;  // NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
#if defined(__s390x__)
    unsigned flagsArg = 1;
#else
    unsigned flagsArg = 0;
#endif
    p.syscalls.push_back(
        {{"clone"}, "SCMP_ACT_ALLOW", std::nullopt, {{flagsArg, kNsFlags, 0, "SCMP_CMP_MASKED_EQ"}}});
    p.syscalls.push_back({{"clone3"}, "SCMP_ACT_ERRNO", ENOSYS, {}});
  }
  return p;
}

}  // namespace berth::sys::seccomp
