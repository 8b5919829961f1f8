// CVE-2019-5736 defence: make sure the running binary cannot be written through /proc/<pid>/exe.
#pragma once

namespace berth {

// If /proc/self/exe is writable, re-executes this program from a detached read-only bind mount of itself
// (or, where mounts are not allowed, from a sealed memfd copy). Returns only when already protected or
// when neither works (then the caller goes on unprotected, and a warning says so).
void ensureReadOnlySelf(char** argv, char** envp);

}  // namespace berth
