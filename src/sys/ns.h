// Namespaces: names, /proc files, and joining by path.
#pragma once

#include <string>
#include <vector>

namespace berth::sys::ns {

struct Kind {
  int flag;          // CLONE_NEW*
  const char* oci;   // "network"
  const char* proc;  // "net" (the /proc/<pid>/ns file)
};
// In the order namespaces must be joined: user first (it decides the privileges for the rest), mount last.
const std::vector<Kind>& kinds();
const char* procName(int flag);

}  // namespace berth::sys::ns
