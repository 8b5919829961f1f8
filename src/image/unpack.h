// Layer unpack: a (gzip, zstd or plain) tar stream written into a directory in one pass, with the
// uncompressed stream's digest (the layer's DiffID) computed on the way.
//
// Layer tars are untrusted input. An entry is refused, and the unpack fails, when its path is absolute or
// contains "..", when a parent directory of the entry is a symlink (in the tar or already on disk), when a
// hardlink points outside the tree or at something that is not a regular file of it, or when sizes are
// absurd. Nothing is ever created outside the target directory: every file is made relative to a parent
// directory fd opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). On failure the caller removes the
// target (it is always a fresh or copied snapshot directory).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "image/digest.h"

struct archive;

namespace berth::image {

enum class Whiteouts {
  // Overlay layer: ".wh.x" becomes a 0/0 character device "x", ".wh..wh..opq" the trusted.overlay.opaque
  // xattr on its directory (what overlayfs reads in a lower layer).
  Overlay,
  // Applied onto a copy of the parent (vfs): ".wh.x" deletes x, ".wh..wh..opq" empties the directory of
  // everything this layer did not add.
  Apply,
  // Not a layer (`docker cp`): ".wh." names are plain files.
  None,
};

struct UnpackOptions {
  Whiteouts whiteouts = Whiteouts::Overlay;
  uint64_t maxEntrySize = 64ULL << 30;   // one file
  uint64_t maxTotalSize = 512ULL << 30;  // the whole uncompressed stream
  uint64_t maxEntries = 10'000'000;
  // Set ownership from the tar (needs root; off for rootless unpacks).
  bool chown = true;
  // docker cp's noOverwriteDirNonDir: an entry may not replace a directory by a non-directory or back.
  bool noOverwriteDirNonDir = false;
  // Compute the DiffID (off when the caller knows it already: an uncompressed blob of known digest).
  bool hash = true;
};

struct UnpackStats {
  Digest diffId;           // sha256 of the uncompressed tar stream
  uint64_t tarSize = 0;    // bytes of the uncompressed tar stream
  uint64_t entries = 0;    // tar entries
  uint64_t fileBytes = 0;  // bytes written into regular files
};

// What the first bytes of a layer stream say: its compression, and whether it starts as a tar (the "ustar"
// magic of a POSIX header). An uncompressed tar's digest is its DiffID.
enum class Compression { None, Gzip, Zstd, Xz, Bzip2 };
Compression detectCompression(const void* head, size_t len);
bool startsLikeTar(const void* head, size_t len);

// A tar entry name made relative and clean ("./a//b/" -> "a/b"); refuses absolute names and "..".
Result<std::string> cleanTarPath(const char* raw, const char* what);

// libarchive's message for its last error; it may have none (a NULL that must not reach a std::string).
std::string archiveErrorOf(struct archive* a);

// Flushes a filesystem (syncfs) on a thread of its own every few milliseconds while it lives, so that the
// disk writes what an unpack produces while the unpack goes on, on the other core; the final syncfs that
// makes a layer durable then finds little left to do.
class BackgroundFlusher {
 public:
  explicit BackgroundFlusher(const std::string& path);
  ~BackgroundFlusher();
  BackgroundFlusher(const BackgroundFlusher&) = delete;
  BackgroundFlusher& operator=(const BackgroundFlusher&) = delete;

 private:
  struct State;
  std::unique_ptr<State> st_;
};

// Reads a layer from `fd` (any compression libarchive knows: gzip, zstd, none) into `targetDir`.
Result<UnpackStats> unpackLayer(int fd, const std::string& targetDir, const UnpackOptions& opts = {});
// The same from a stream: `read` sets *buf and returns the chunk's size, 0 at the end, -1 on error.
using LayerReader = std::function<long(const void** buf)>;
Result<UnpackStats> unpackLayerFrom(const LayerReader& read, const std::string& targetDir,
                                    const UnpackOptions& opts = {});
Result<UnpackStats> unpackLayerFrom(int fd, const LayerReader* read, const std::string& targetDir,
                                    const UnpackOptions& opts);

}  // namespace berth::image
