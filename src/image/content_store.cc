#include "image/content_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "base/file.h"

namespace berth::image {

BlobWriter::BlobWriter(BlobWriter&& o) noexcept
    : store_(o.store_),
      tmp_(std::move(o.tmp_)),
      fd_(std::move(o.fd_)),
      hash_(std::move(o.hash_)),
      digest_(std::move(o.digest_)),
      size_(o.size_),
      done_(o.done_) {
  o.done_ = true;
}

BlobWriter::~BlobWriter() {
  if (!done_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

Result<void> BlobWriter::write(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  size_t left = len;
  while (left) {
    ssize_t n = ::write(fd_.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("writing blob " + tmp_);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  hash_.update(data, len);
  size_ += len;
  return {};
}

const Digest& BlobWriter::digest() {
  if (!digest_) digest_ = hash_.finish();
  return *digest_;
}

Result<Digest> BlobWriter::commit(const std::optional<Digest>& expected, std::optional<uint64_t> expectedSize,
                                  bool sync) {
  Digest got = digest();
  if (expectedSize && *expectedSize != size_)
    return invalid("blob size mismatch: expected " + std::to_string(*expectedSize) + " bytes, got " +
                   std::to_string(size_));
  if (expected && !(*expected == got))
    return invalid("blob digest mismatch: expected " + expected->str() + ", got " + got.str());
  if (sync && ::fsync(fd_.get()) < 0) return sysFail("fsync " + tmp_);
  fd_.reset();
  std::string dest = store_->blobPath(got);
  if (::rename(tmp_.c_str(), dest.c_str()) < 0) return sysFail("moving blob into " + dest);
  done_ = true;
  if (sync) {
    UniqueFd dir(::open((store_->root() + "/blobs/sha256").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir) ::fsync(dir.get());
  }
  return got;
}

Result<void> ContentStore::commitAll(std::vector<BlobWriter>& writers) const {
  UniqueFd dir(::open((root_ + "/blobs/sha256").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return sysFail("opening " + root_ + "/blobs/sha256");
  if (::syncfs(dir.get()) < 0) return sysFail("syncing the content store");
  for (auto& w : writers) {
    if (w.done_) continue;
    if (has(w.digest())) {
      w.fd_.reset();
      continue;  // the destructor removes the duplicate
    }
    TRYV(w.commit(std::nullopt, std::nullopt, /*sync=*/false));
  }
  if (::fsync(dir.get()) < 0) return sysFail("syncing " + root_ + "/blobs/sha256");
  return {};
}

Result<ContentStore> ContentStore::open(std::string root) {
  TRYV(mkdirAll(root + "/blobs/sha256", 0700));
  TRYV(mkdirAll(root + "/ingest", 0700));
  // Partial ingests from a crash are garbage by construction.
  if (DIR* d = ::opendir((root + "/ingest").c_str())) {
    while (struct dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ::unlink((root + "/ingest/" + e->d_name).c_str());
    ::closedir(d);
  }
  return ContentStore(std::move(root));
}

Result<BlobWriter> ContentStore::writer() const {
  std::string tmp = root_ + "/ingest/blob-XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return sysFail("creating " + tmp);
  return BlobWriter(this, tmp, std::move(fd));
}

Result<Digest> ContentStore::put(std::string_view data, const std::optional<Digest>& expected) const {
  TRY(BlobWriter w, writer());
  TRYV(w.write(data.data(), data.size()));
  return w.commit(expected, data.size());
}

bool ContentStore::has(const Digest& d) const {
  return pathExists(blobPath(d));
}

Result<uint64_t> ContentStore::size(const Digest& d) const {
  struct stat st;
  if (::stat(blobPath(d).c_str(), &st) < 0) {
    if (errno == ENOENT) return fail(ErrorCategory::NotFound, "blob " + d.str() + " not found");
    return sysFail("stat " + blobPath(d));
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<std::string> ContentStore::read(const Digest& d, uint64_t maxSize) const {
  TRY(uint64_t sz, size(d));
  if (sz > maxSize)
    return invalid("blob " + d.str() + " is " + std::to_string(sz) + " bytes, more than " +
                   std::to_string(maxSize) + " allowed here");
  return readFile(blobPath(d));
}

Result<void> ContentStore::verify(const Digest& d) const {
  UniqueFd fd(::open(blobPath(d).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sysFail("open " + blobPath(d));
  Sha256 h;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) return sysFail("read " + blobPath(d));
    if (n == 0) break;
    h.update(buf, static_cast<size_t>(n));
  }
  Digest got = h.finish();
  if (!(got == d)) return fail("blob " + d.str() + " is corrupt: its content hashes to " + got.str());
  return {};
}

Result<void> ContentStore::remove(const Digest& d) const {
  if (::unlink(blobPath(d).c_str()) < 0 && errno != ENOENT) return sysFail("removing " + blobPath(d));
  return {};
}

Result<std::vector<Digest>> ContentStore::list() const {
  std::vector<Digest> out;
  DIR* d = ::opendir((root_ + "/blobs/sha256").c_str());
  if (!d) return sysFail("opendir " + root_ + "/blobs/sha256");
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (auto dg = Digest::parse(std::string("sha256:") + e->d_name)) out.push_back(*dg);
  }
  ::closedir(d);
  return out;
}

}  // namespace berth::image
