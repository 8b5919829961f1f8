#include "sys/seccomp.h"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "base/fd.h"
#include "base/file.h"

namespace berth::sys::seccomp {
namespace {

Result<uint32_t> action(const std::string& name, std::optional<unsigned> errnoRet) {
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errnoRet.value_or(EPERM));
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errnoRet.value_or(EPERM));
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY")
    return invalid("seccomp action SCMP_ACT_NOTIFY is not supported by berth-runtime yet");
  return invalid("unknown seccomp action \"" + name + "\"");
}

Result<scmp_compare> op(const std::string& name) {
  if (name == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (name == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (name == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (name == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (name == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (name == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (name == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  return invalid("unknown seccomp operator \"" + name + "\"");
}

Result<uint32_t> arch(const std::string& name) {
  std::string n = name;
  if (startsWith(n, "SCMP_ARCH_")) n = n.substr(10);
  for (auto& c : n) c = static_cast<char>(::tolower(c));
  uint32_t a = seccomp_arch_resolve_name(n.c_str());
  if (a == 0) return invalid("unknown seccomp architecture \"" + name + "\"");
  return a;
}

struct Ctx {
  scmp_filter_ctx c;
  ~Ctx() {
    if (c) seccomp_release(c);
  }
};

}  // namespace

Result<Program> compile(const Profile& profile) {
  TRY(uint32_t defAction, action(profile.defaultAction, profile.defaultErrnoRet));
  Ctx ctx{seccomp_init(defAction)};
  if (!ctx.c) return fail("seccomp: cannot initialise a filter");
  Program prog;
  for (auto& a : profile.architectures) {
    auto ar = arch(a);
    if (!ar) return std::unexpected(ar.error());
    int rc = seccomp_arch_add(ctx.c, *ar);
    if (rc < 0 && rc != -EEXIST) return sysFail("seccomp: adding architecture " + a, -rc);
  }
  for (auto& f : profile.flags) {
    if (f == "SECCOMP_FILTER_FLAG_TSYNC")
      prog.flags |= SECCOMP_FILTER_FLAG_TSYNC;
    else if (f == "SECCOMP_FILTER_FLAG_LOG")
      prog.flags |= SECCOMP_FILTER_FLAG_LOG;
    else if (f == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
      prog.flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else if (f == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
      prog.flags |= (1UL << 5);
    else
      return invalid("unknown seccomp flag \"" + f + "\"");
  }
  // Keep the no_new_privs bit under our control (the child sets it only when asked).
  seccomp_attr_set(ctx.c, SCMP_FLTATR_CTL_NNP, 0);
  for (size_t i = 0; i < profile.syscalls.size(); ++i) {
    auto& rule = profile.syscalls[i];
    auto act = action(rule.action, rule.errnoRet);
    if (!act)
      return std::unexpected(
          std::move(act.error()).context("linux.seccomp.syscalls[" + std::to_string(i) + "]"));
    if (*act == defAction) continue;  // libseccomp refuses rules equal to the default
    std::vector<scmp_arg_cmp> cmps;
    for (auto& a : rule.args) {
      TRY(scmp_compare o, op(a.op));
      cmps.push_back(scmp_arg_cmp{a.index, o, a.value, a.valueTwo});
    }
    for (auto& name : rule.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // unknown on this kernel/arch: skipped, as runc does
      int rc;
      rc = seccomp_rule_add_array(ctx.c, *act, nr, static_cast<unsigned>(cmps.size()), cmps.data());
      if (rc == -EINVAL && cmps.size() > 1) {
        // Several comparisons on the same argument need one rule each (runc's behaviour).
        for (auto& c : cmps) {
          rc = seccomp_rule_add_exact_array(ctx.c, *act, nr, 1, &c);
          if (rc < 0) break;
        }
      }
      if (rc < 0 && rc != -EEXIST) return sysFail("seccomp: adding a rule for " + name, -rc);
    }
  }
  // Export the BPF program through a memfd.
  UniqueFd mem(static_cast<int>(::memfd_create("berth-seccomp", MFD_CLOEXEC)));
  if (!mem) return sysFail("memfd_create");
  int rc = seccomp_export_bpf(ctx.c, mem.get());
  if (rc < 0) return sysFail("seccomp: exporting the filter", -rc);
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter)) return fail("seccomp: exported filter has a bad size");
  prog.filter.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(mem.get(), prog.filter.data(), static_cast<size_t>(size), 0) != size)
    return sysFail("seccomp: reading the exported filter");
  return prog;
}

int install(const sock_fprog& prog, unsigned flags) {
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0) return -errno;
  return 0;
}

std::vector<std::string> knownActions() {
  return {"SCMP_ACT_ALLOW",       "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS",
          "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",   "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"};
}
std::vector<std::string> knownOperators() {
  return {"SCMP_CMP_EQ", "SCMP_CMP_GE",        "SCMP_CMP_GT", "SCMP_CMP_LE",
          "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"};
}
std::vector<std::string> knownArchitectures() {
  return {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
}
std::vector<std::string> knownFlags() {
  return {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};
}

namespace {

// Every field of the profile, unambiguously (lengths before strings).
std::string cacheKey(const Profile& p) {
  std::string k;
  auto str = [&](const std::string& v) {
    k += std::to_string(v.size());
    k += ':';
    k += v;
  };
  auto num = [&](uint64_t v) {
    k += std::to_string(v);
    k += ',';
  };
  str(p.defaultAction);
  num(p.defaultErrnoRet ? *p.defaultErrnoRet + 1ULL : 0);
  num(p.architectures.size());
  for (auto& a : p.architectures) str(a);
  num(p.flags.size());
  for (auto& f : p.flags) str(f);
  str(p.listenerPath);
  num(p.syscalls.size());
  for (auto& r : p.syscalls) {
    num(r.names.size());
    for (auto& n : r.names) str(n);
    str(r.action);
    num(r.errnoRet ? *r.errnoRet + 1ULL : 0);
    num(r.args.size());
    for (auto& a : r.args) {
      num(a.index), num(a.value), num(a.valueTwo);
      str(a.op);
    }
  }
  return k;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

constexpr char kMagic[8] = {'B', 'S', 'E', 'C', 'C', 'M', 'P', '1'};

}  // namespace

Result<Program> compileCached(const Profile& profile, const std::string& dir) {
  if (dir.empty()) return compile(profile);
  std::string key = cacheKey(profile);
  char name[32];
  std::snprintf(name, sizeof name, "/%016llx.bpf", static_cast<unsigned long long>(fnv1a(key)));
  std::string path = dir + name;
  // File: magic, key length (u64), key, flags (u32), instruction count (u32), instructions.
  if (auto text = readFile(path); text && text->size() > sizeof kMagic + 8) {
    const std::string& t = *text;
    uint64_t klen = 0;
    std::memcpy(&klen, t.data() + sizeof kMagic, 8);
    size_t off = sizeof kMagic + 8;
    if (std::memcmp(t.data(), kMagic, sizeof kMagic) == 0 && klen == key.size() &&
        t.size() >= off + klen + 8 && t.compare(off, klen, key) == 0) {
      off += klen;
      uint32_t flags = 0, n = 0;
      std::memcpy(&flags, t.data() + off, 4);
      std::memcpy(&n, t.data() + off + 4, 4);
      off += 8;
      if (t.size() == off + size_t(n) * sizeof(sock_filter)) {
        Program p;
        p.flags = flags;
        p.filter.resize(n);
        std::memcpy(p.filter.data(), t.data() + off, size_t(n) * sizeof(sock_filter));
        return p;
      }
    }
  }
  TRY(Program p, compile(profile));
  // Best effort: a cache that cannot be written is only slower.
  std::string data(kMagic, sizeof kMagic);
  uint64_t klen = key.size();
  data.append(reinterpret_cast<const char*>(&klen), 8);
  data += key;
  uint32_t flags = p.flags, n = static_cast<uint32_t>(p.filter.size());
  data.append(reinterpret_cast<const char*>(&flags), 4);
  data.append(reinterpret_cast<const char*>(&n), 4);
  data.append(reinterpret_cast<const char*>(p.filter.data()), p.filter.size() * sizeof(sock_filter));
  ::mkdir(dir.c_str(), 0700);
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  if (UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)); fd) {
    bool ok = ::write(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size());
    fd.reset();
    if (!ok || ::rename(tmp.c_str(), path.c_str()) < 0) ::unlink(tmp.c_str());
  }
  return p;
}

}  // namespace berth::sys::seccomp
