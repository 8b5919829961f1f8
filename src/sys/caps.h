// Capabilities: names parsed with libcap in the parent; the child applies bitmasks with raw syscalls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::sys::caps {

struct Sets {
  uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

Result<int> fromName(std::string_view name);  // "CAP_SYS_ADMIN" or "SYS_ADMIN"
std::string toName(int cap);                  // "CAP_SYS_ADMIN"
int lastCap();                                // highest capability the kernel knows
std::vector<std::string> allNames();
// The capabilities in this process's bounding set: what a "privileged" container can really get (a host
// or an outer container may hold fewer than the kernel knows).
std::vector<std::string> boundingNames();

// Child side (no allocation). Drops from the bounding set every capability not in `bounding`.
int dropBounding(uint64_t bounding);
// Sets effective/permitted/inheritable, then raises ambient. Returns 0 or -errno.
int apply(const Sets& sets);

}  // namespace berth::sys::caps
