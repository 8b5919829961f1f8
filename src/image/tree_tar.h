// A tar stream of a directory tree that may be hostile (a container's filesystem, changing while it is read):
// every step opens relative to its parent directory fd with O_NOFOLLOW, so no symlink is ever followed and
// nothing outside the starting directory is read. Used by `docker cp` (GET archive) and `docker export`.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "base/error.h"

struct archive;

namespace berth::image {

class TreeTar {
 public:
  // `sink` gets the stream in pieces; false stops the writing (the client went away).
  using Sink = std::function<bool(const void* data, size_t len)>;
  explicit TreeTar(Sink sink);
  ~TreeTar();
  TreeTar(const TreeTar&) = delete;
  TreeTar& operator=(const TreeTar&) = delete;

  // Adds the entry `name` of the directory `dirFd` (a final symlink is stored as a symlink) and, for a
  // directory, everything below it; entries are named `as`, `as/child`, … ("" for a directory: its
  // children only, with their own names).
  Result<void> add(int dirFd, const std::string& name, const std::string& as);
  // Ends the archive (its trailer).
  Result<void> close();

 private:
  Result<void> ensureOpen();
  Result<void> addAt(int dirFd, const std::string& name, const std::string& as, int depth);
  Result<void> children(int dirFd, const std::string& prefix, int depth);
  Result<void> check(int r, const std::string& what);
  static long write(struct archive*, void* self, const void* buf, size_t len);

  Sink sink_;
  struct archive* a_ = nullptr;
  bool sinkFailed_ = false;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // hardlinked files already written
};

}  // namespace berth::image
