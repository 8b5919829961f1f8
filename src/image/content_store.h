// Content-addressed blob store: <root>/blobs/sha256/<hex>. Blobs are ingested into <root>/ingest/ and renamed
// into place only after their digest (and size, when known) has been verified, so a crash mid-write never
// leaves a blob that claims a digest it does not have.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "image/digest.h"

namespace berth::image {

class ContentStore;

// One blob being written. Destroying it without commit() removes the partial file.
class BlobWriter {
 public:
  BlobWriter(BlobWriter&&) noexcept;
  BlobWriter& operator=(BlobWriter&&) = delete;
  ~BlobWriter();
  Result<void> write(const void* data, size_t len);
  uint64_t size() const { return size_; }
  // The digest of what was written (ends the hashing; write() must not follow).
  const Digest& digest();
  // Where the bytes are until commit (readable meanwhile, e.g. to unpack a layer while it reaches the disk).
  const std::string& tempPath() const { return tmp_; }
  // Verifies the expected digest/size (when given), fsyncs and moves the blob into place.
  Result<Digest> commit(const std::optional<Digest>& expected = std::nullopt,
                        std::optional<uint64_t> expectedSize = std::nullopt, bool sync = true);

 private:
  friend class ContentStore;
  BlobWriter(const ContentStore* store, std::string tmp, UniqueFd fd)
      : store_(store), tmp_(std::move(tmp)), fd_(std::move(fd)) {}
  const ContentStore* store_;
  std::string tmp_;
  UniqueFd fd_;
  Sha256 hash_;
  std::optional<Digest> digest_;
  uint64_t size_ = 0;
  bool done_ = false;
};

class ContentStore {
 public:
  // Opens (creating) a store and removes ingests left by a crash.
  static Result<ContentStore> open(std::string root);
  const std::string& root() const { return root_; }
  std::string blobPath(const Digest& d) const { return root_ + "/blobs/sha256/" + d.hex(); }

  Result<BlobWriter> writer() const;
  Result<Digest> put(std::string_view data, const std::optional<Digest>& expected = std::nullopt) const;
  // Commits many writers with one syncfs instead of one fsync each: all data is durable before any blob
  // is renamed into place. Writers whose blob exists already are dropped.
  Result<void> commitAll(std::vector<BlobWriter>& writers) const;
  bool has(const Digest& d) const;
  Result<uint64_t> size(const Digest& d) const;
  Result<std::string> read(const Digest& d, uint64_t maxSize = 64 << 20) const;
  // Re-hashes a stored blob (fsck).
  Result<void> verify(const Digest& d) const;
  Result<void> remove(const Digest& d) const;
  Result<std::vector<Digest>> list() const;

 private:
  explicit ContentStore(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

}  // namespace berth::image
