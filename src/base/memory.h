// Resident memory of long-lived, mostly idle processes (a shim per container).
#pragma once

#include <cstddef>

namespace berth {

// Gives back what an idle process holds resident but does not need between requests: free heap pages
// (malloc_trim), the stack below the current frame, and its read-only file-backed pages (program text and
// constants: they stay in the page cache, shared, and fault back in when used). Returns the bytes of the
// mappings it asked the kernel to reclaim. Allocates a little (reads /proc/self/maps).
size_t releaseResidentMemory();

}  // namespace berth
