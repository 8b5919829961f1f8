// The process entry point of the static berth-runtime (linked with -e berth_entry), before glibc's _start.
//
// create, run and exec must not run from the host's binary file (CVE-2019-5736): they re-execute
// themselves from a detached read-only bind mount of it (see base/self_exe.cc). Doing that here, before
// the C library initialises, saves one whole libc start-up per container: glibc's start-up probes the CPU
// with cpuid dozens of times, and on a virtual machine every cpuid traps to the hypervisor (~5 us each,
// ~0.3 ms per process start on this project's machines).
//
// This code runs with no C library: no TLS, no IFUNC-resolved functions (memcpy, strlen, ...), no errno.
// It is compiled freestanding, uses raw system calls only and falls back silently: whatever it cannot
// do, main() does again with the full implementation (including the sealed memfd fallback).
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/vfs.h>

#if defined(__x86_64__)

static long rawSyscall(long n, long a, long b, long c, long d, long e) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}

static int equal(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

// Same rule as cli::commandName(): the first argument that is not a global flag (or a flag's value).
static int needsProtection(long argc, char** argv) {
  static const char* const takesValue[] = {"--root",      "--log",      "--log-format",
                                           "--log-level", "--rootless", "--criu"};
  for (long i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (a[0] == '-') {
      for (unsigned k = 0; k < sizeof takesValue / sizeof takesValue[0]; ++k)
        if (equal(a, takesValue[k])) ++i;
      continue;
    }
    return equal(a, "create") || equal(a, "run") || equal(a, "exec");
  }
  return 0;
}

void berth_early_entry(long* sp) {
  long argc = sp[0];
  char** argv = (char**)(sp + 1);
  char** envp = argv + argc + 1;
  if (!needsProtection(argc, argv)) return;
  long self = rawSyscall(SYS_open, (long)"/proc/self/exe", O_RDONLY | O_CLOEXEC, 0, 0, 0);
  if (self < 0) return;
  struct statfs st;
  long r = rawSyscall(SYS_fstatfs, self, (long)&st, 0, 0, 0);
  long seals = rawSyscall(SYS_fcntl, self, F_GET_SEALS, 0, 0, 0);
  rawSyscall(SYS_close, self, 0, 0, 0, 0);
  if (r == 0 && (st.f_flags & ST_RDONLY)) return;  // already read-only (our re-exec, or installed so)
  if (seals >= 0 && (seals & F_SEAL_WRITE)) return;
  long tree =
      rawSyscall(SYS_open_tree, AT_FDCWD, (long)"/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC, 0, 0);
  if (tree < 0) return;
  struct mount_attr attr = {0};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID;
  if (rawSyscall(SYS_mount_setattr, tree, (long)"", AT_EMPTY_PATH, (long)&attr, sizeof attr) == 0)
    rawSyscall(SYS_execveat, tree, (long)"", (long)argv, (long)envp, AT_EMPTY_PATH);
  rawSyscall(SYS_close, tree, 0, 0, 0, 0);
}

// At entry %rsp points at argc and %rdx holds the finaliser glibc's _start registers: keep both, keep the
// stack 16-byte aligned for the call, then continue at glibc's own entry point.
__asm__(
    ".text\n"
    ".globl berth_entry\n"
    ".type berth_entry,@function\n"
    "berth_entry:\n"
    "  endbr64\n"
    "  xor %ebp, %ebp\n"
    "  mov %rsp, %rdi\n"
    "  push %rdx\n"
    "  sub $8, %rsp\n"
    "  call berth_early_entry\n"
    "  add $8, %rsp\n"
    "  pop %rdx\n"
    "  jmp _start\n"
    ".size berth_entry, .-berth_entry\n");

#endif
