#include "sys/ns.h"

#include <sched.h>

namespace berth::sys::ns {

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> k = {
      {CLONE_NEWUSER, "user", "user"},  {CLONE_NEWIPC, "ipc", "ipc"}, {CLONE_NEWUTS, "uts", "uts"},
      {CLONE_NEWNET, "network", "net"}, {CLONE_NEWPID, "pid", "pid"}, {CLONE_NEWCGROUP, "cgroup", "cgroup"},
      {CLONE_NEWNS, "mount", "mnt"},
  };
  return k;
}

const char* procName(int flag) {
  for (auto& k : kinds())
    if (k.flag == flag) return k.proc;
  return "?";
}

}  // namespace berth::sys::ns
