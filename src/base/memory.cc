#include "base/memory.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace berth {
namespace {

struct Mapping {
  uintptr_t lo = 0, hi = 0;
  bool readOnlyFile = false;  // r-xp or r--p of a file
  bool stack = false;
  bool anonymous = true;  // has copied-on-write pages (or is not known to have none)
};

// One line of /proc/self/maps (or a mapping's first line in smaps): false for the other lines.
bool parseMapping(const char* line, Mapping* m) {
  uintptr_t lo = 0, hi = 0;
  char perms[5] = {};
  unsigned long long offset = 0, inode = 0;
  unsigned devMajor = 0, devMinor = 0;
  if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s %llx %x:%x %llu", &lo, &hi, perms, &offset, &devMajor,
                  &devMinor, &inode) != 7)
    return false;
  *m = Mapping{lo, hi, inode != 0 && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p',
               std::strstr(line, "[stack]") != nullptr, true};
  return true;
}

}  // namespace

size_t releaseResidentMemory() {
  ::malloc_trim(0);
  FILE* smaps = std::fopen("/proc/self/smaps", "re");
  if (!smaps) return 0;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  // Collected first and dropped last: code that runs after the drop (scanf, stdio) would fault its pages
  // back, 64 KiB at a time (the kernel's fault-around).
  struct Range {
    uintptr_t lo, hi;
  };
  Range ranges[64];
  size_t count = 0;
  auto consider = [&](const Mapping& m) {
    if (count == sizeof ranges / sizeof ranges[0]) return;
    if (m.readOnlyFile && !m.anonymous) {
      // Program text and read-only data never written (no relocated copies): dropped from our page
      // tables, they stay in the page cache, shared; an access faults them back. (MADV_PAGEOUT would skip
      // them: other shims map the same pages.)
      ranges[count++] = {m.lo, m.hi};
    } else if (m.stack && sp > m.lo && sp < m.hi) {
      // Below the current frame (and a margin for the calls still to come) nothing lives.
      uintptr_t keep = (sp & ~(page - 1)) - 4 * page;
      if (keep > m.lo) ranges[count++] = {m.lo, keep};
    }
  };
  Mapping cur;
  bool have = false;
  char line[512];
  while (std::fgets(line, sizeof line, smaps)) {
    if (Mapping next; parseMapping(line, &next)) {
      if (have) consider(cur);
      cur = next;
      have = true;
      continue;
    }
    unsigned long long kb = 0;
    if (have && std::sscanf(line, "Anonymous: %llu kB", &kb) == 1) cur.anonymous = kb != 0;
  }
  if (have) consider(cur);
  std::fclose(smaps);
  size_t asked = 0;
  for (size_t i = 0; i < count; ++i)
    if (::madvise(reinterpret_cast<void*>(ranges[i].lo), ranges[i].hi - ranges[i].lo, MADV_DONTNEED) == 0)
      asked += ranges[i].hi - ranges[i].lo;
  return asked;
}

void mapProgramAhead() {
  FILE* maps = std::fopen("/proc/self/maps", "re");
  if (!maps) return;
  char line[512];
  while (std::fgets(line, sizeof line, maps))
    if (Mapping m; parseMapping(line, &m) && m.readOnlyFile)
      (void)::madvise(reinterpret_cast<void*>(m.lo), m.hi - m.lo, MADV_POPULATE_READ);
  std::fclose(maps);
}

}  // namespace berth
