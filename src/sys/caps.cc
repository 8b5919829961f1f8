#include "sys/caps.h"

#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace berth::sys::caps {

Result<int> fromName(std::string_view name) {
  std::string n(name);
  for (auto& c : n) c = static_cast<char>(::tolower(c));
  if (n.rfind("cap_", 0) != 0) n = "cap_" + n;
  cap_value_t v;
  if (cap_from_name(n.c_str(), &v) != 0) return invalid("unknown capability \"" + std::string(name) + "\"");
  return static_cast<int>(v);
}

std::string toName(int cap) {
  char* n = cap_to_name(static_cast<cap_value_t>(cap));
  if (!n) return "CAP_" + std::to_string(cap);
  std::string s(n);
  cap_free(n);
  for (auto& c : s) c = static_cast<char>(::toupper(c));
  return s;
}

int lastCap() {
  static int last = [] {
    FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "re");
    int v = CAP_LAST_CAP;
    if (f) {
      if (std::fscanf(f, "%d", &v) != 1) v = CAP_LAST_CAP;
      std::fclose(f);
    }
    return v;
  }();
  return last;
}

std::vector<std::string> allNames() {
  std::vector<std::string> out;
  for (int i = 0; i <= lastCap(); ++i) out.push_back(toName(i));
  return out;
}

std::vector<std::string> boundingNames() {
  std::vector<std::string> out;
  for (int i = 0; i <= lastCap(); ++i)
    if (::prctl(PR_CAPBSET_READ, i, 0, 0, 0) == 1) out.push_back(toName(i));
  return out;
}

int dropBounding(uint64_t bounding) {
  int last = lastCap();
  for (int i = 0; i <= last; ++i) {
    if (bounding & (1ULL << i)) continue;
    if (::prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL) return -errno;
  }
  return 0;
}

int apply(const Sets& s) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = static_cast<uint32_t>(s.effective);
  data[1].effective = static_cast<uint32_t>(s.effective >> 32);
  data[0].permitted = static_cast<uint32_t>(s.permitted);
  data[1].permitted = static_cast<uint32_t>(s.permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(s.inheritable);
  data[1].inheritable = static_cast<uint32_t>(s.inheritable >> 32);
  if (::syscall(SYS_capset, &hdr, data) < 0) return -errno;
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -errno;
  int last = lastCap();
  for (int i = 0; i <= last; ++i) {
    if (!(s.ambient & (1ULL << i))) continue;
    // A capability not in permitted+inheritable cannot be ambient: runc ignores those too.
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0 && errno != EPERM) return -errno;
  }
  return 0;
}

}  // namespace berth::sys::caps
