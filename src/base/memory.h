// Resident memory of long-lived, mostly idle processes (a shim per container).
#pragma once

#include <cstddef>

namespace berth {

// Gives back what an idle process holds resident but does not need between requests: free heap pages
// (malloc_trim), the stack below the current frame, and its read-only file-backed pages (program text and
// constants: they stay in the page cache, shared, and fault back in when used). Returns the bytes of the
// mappings it asked the kernel to reclaim. Allocates a little (reads /proc/self/maps).
size_t releaseResidentMemory();

// The opposite, for a process made ahead of need (a waiting shim): maps the program's read-only file pages
// into its page tables now (MADV_POPULATE_READ), so that its first request does not fault them in one
// fault-around at a time. They are shared with every other process of the program.
void mapProgramAhead();

}  // namespace berth
