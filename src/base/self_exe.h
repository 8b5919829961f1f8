// CVE-2019-5736 defence: make sure the running binary cannot be written through /proc/<pid>/exe.
#pragma once

namespace berth {

// If /proc/self/exe is writable, re-executes this program from a detached read-only bind mount of itself
// (or, where mounts are not allowed, from a sealed memfd copy). Returns only when already protected or
// when neither works (then the caller goes on unprotected, and a warning says so).
void ensureReadOnlySelf(char** argv, char** envp);

// An executable that cannot be written through the fd or /proc/<pid>/exe of what runs it: a detached
// read-only mount of `path` (shares the file's page cache), or a sealed memfd copy where mounts are not
// allowed; -1 when neither works. Execute it with execveat(fd, "", AT_EMPTY_PATH) or /proc/self/fd/<fd>.
int readOnlyExecutable(const char* path);

}  // namespace berth
