#include "image/tree_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/fd.h"
#include "base/file.h"

namespace berth::image {

namespace {
constexpr int kMaxDepth = 1024;
}

TreeTar::TreeTar(Sink sink) : sink_(std::move(sink)) {}

TreeTar::~TreeTar() {
  if (a_) archive_write_free(a_);
}

long TreeTar::write(struct archive*, void* self, const void* buf, size_t len) {
  auto* t = static_cast<TreeTar*>(self);
  if (t->sinkFailed_ || !t->sink_(buf, len)) {
    t->sinkFailed_ = true;
    return -1;
  }
  return static_cast<long>(len);
}

Result<void> TreeTar::check(int r, const std::string& what) {
  if (r >= ARCHIVE_WARN) return {};
  if (sinkFailed_) return fail(ErrorCategory::Unavailable, "the client went away");
  const char* e = a_ ? archive_error_string(a_) : nullptr;
  return fail(what + ": " + (e ? e : "libarchive error"));
}

Result<void> TreeTar::ensureOpen() {
  if (a_) return {};
  a_ = archive_write_new();
  if (!a_) return fail("archive_write_new failed");
  archive_write_set_format_pax_restricted(a_);
  archive_write_set_bytes_in_last_block(a_, 1);
  return check(archive_write_open(a_, this, nullptr, &TreeTar::write, nullptr), "starting the tar stream");
}

Result<void> TreeTar::add(int dirFd, const std::string& name, const std::string& as) {
  TRYV(ensureOpen());
  if (as.empty()) {
    UniqueFd dir(::openat(dirFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return sysFail("opening " + name);
    return children(dir.get(), "", 0);
  }
  return addAt(dirFd, name, as, 0);
}

Result<void> TreeTar::close() {
  TRYV(ensureOpen());
  return check(archive_write_close(a_), "ending the tar stream");
}

Result<void> TreeTar::children(int dirFd, const std::string& prefix, int depth) {
  TRY(auto names, dirEntries(dirFd, "directory " + (prefix.empty() ? "." : prefix)));
  std::sort(names.begin(), names.end());
  for (auto& n : names) TRYV(addAt(dirFd, n, prefix.empty() ? n : prefix + "/" + n, depth + 1));
  return {};
}

Result<void> TreeTar::addAt(int dirFd, const std::string& name, const std::string& as, int depth) {
  if (depth > kMaxDepth) return invalid(as + ": the directory tree is too deep");
  struct stat st;
  if (::fstatat(dirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return {};  // removed while we walked
    return sysFail("reading " + as);
  }
  if (S_ISSOCK(st.st_mode)) return {};  // tar has no sockets (docker skips them too)
  UniqueFd fd;
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
    fd.reset(::openat(dirFd, name.c_str(), flags));
    if (!fd) {
      if (errno == ENOENT) return {};
      return sysFail("opening " + as);
    }
    struct stat now;  // what we opened is what we looked at (it may have been swapped meanwhile)
    if (::fstat(fd.get(), &now) < 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev ||
        (now.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
      return {};
    st = now;
  }
  struct EntryFree {
    void operator()(archive_entry* e) const { archive_entry_free(e); }
  };
  std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
  archive_entry_copy_stat(e.get(), &st);
  archive_entry_set_pathname_utf8(e.get(), S_ISDIR(st.st_mode) ? (as + "/").c_str() : as.c_str());
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(static_cast<size_t>(std::max<off_t>(st.st_size, 255)) + 1);
    ssize_t n = ::readlinkat(dirFd, name.c_str(), target.data(), target.size() - 1);
    if (n < 0) return sysFail("reading the symlink " + as);
    target[static_cast<size_t>(n)] = 0;
    archive_entry_set_symlink_utf8(e.get(), target.data());
    archive_entry_set_size(e.get(), 0);
  }
  if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
    auto key = std::make_pair(st.st_dev, st.st_ino);
    if (auto it = links_.find(key); it != links_.end()) {
      archive_entry_set_hardlink_utf8(e.get(), it->second.c_str());
      archive_entry_set_size(e.get(), 0);
      return check(archive_write_header(a_, e.get()), "writing " + as);
    }
    links_[key] = as;
  }
  if (!S_ISREG(st.st_mode)) archive_entry_set_size(e.get(), 0);
  TRYV(check(archive_write_header(a_, e.get()), "writing " + as));
  if (S_ISDIR(st.st_mode)) return children(fd.get(), as, depth);
  if (!S_ISREG(st.st_mode)) return {};
  // The header promised st_size bytes: a file that shrinks meanwhile is padded with zeros, one that grows
  // is cut.
  std::vector<char> buf(1 << 16);
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = ::read(fd.get(), buf.data(),
                       static_cast<size_t>(std::min<off_t>(left, static_cast<off_t>(buf.size()))));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysFail("reading " + as);
    if (n == 0) {
      std::fill(buf.begin(), buf.end(), 0);
      n = static_cast<ssize_t>(std::min<off_t>(left, static_cast<off_t>(buf.size())));
    }
    if (archive_write_data(a_, buf.data(), static_cast<size_t>(n)) < 0)
      return check(ARCHIVE_FATAL, "writing " + as);
    left -= n;
  }
  return {};
}

}  // namespace berth::image
