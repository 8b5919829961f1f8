// cgroup v2 device access control: the device rules compiled to a BPF_PROG_TYPE_CGROUP_DEVICE program.
#pragma once

#include <linux/bpf.h>

#include <vector>

#include "base/error.h"
#include "sys/resources.h"

namespace berth::sys::devices_bpf {

// Later rules take precedence over earlier ones (the v1 devices.allow/deny semantics); no match allows.
std::vector<bpf_insn> compile(const std::vector<DeviceRule>& rules);
// Loads the program and attaches it to the cgroup directory, replacing programs we attached before.
Result<void> attach(int cgroupDirFd, const std::vector<DeviceRule>& rules);

}  // namespace berth::sys::devices_bpf
