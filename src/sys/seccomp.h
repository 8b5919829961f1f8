// Seccomp: profiles compiled to BPF with libseccomp in the parent; the child only installs the program.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace berth::sys::seccomp {

struct Arg {
  unsigned index = 0;
  uint64_t value = 0, valueTwo = 0;
  std::string op;  // SCMP_CMP_*
};
struct Rule {
  std::vector<std::string> names;
  std::string action;  // SCMP_ACT_*
  std::optional<unsigned> errnoRet;
  std::vector<Arg> args;
};
struct Profile {
  std::string defaultAction;
  std::optional<unsigned> defaultErrnoRet;
  std::vector<std::string> architectures;
  std::vector<std::string> flags;
  std::string listenerPath;
  std::vector<Rule> syscalls;
};

// A compiled filter, ready for the seccomp(2) call.
struct Program {
  std::vector<sock_filter> filter;
  unsigned flags = 0;  // SECCOMP_FILTER_FLAG_*
  sock_fprog fprog() const {
    return sock_fprog{static_cast<unsigned short>(filter.size()), const_cast<sock_filter*>(filter.data())};
  }
};

Result<Program> compile(const Profile& profile);
// compile() through a cache of programs in `dir` (one file per profile, keyed by the whole profile and
// checked against it on every hit): every container of an engine has the same few profiles, and compiling
// docker's default one costs about a millisecond.
Result<Program> compileCached(const Profile& profile, const std::string& dir);
// docker's default profile for a container with these capabilities ("CAP_…" names); seccomp_default.cc.
Profile defaultProfile(const std::vector<std::string>& capabilities);
// Child side, async-signal-safe: installs the program; returns 0 or -errno.
int install(const sock_fprog& prog, unsigned flags);

// For `features`.
std::vector<std::string> knownActions();
std::vector<std::string> knownOperators();
std::vector<std::string> knownArchitectures();
std::vector<std::string> knownFlags();

}  // namespace berth::sys::seccomp
