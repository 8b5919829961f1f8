// Removal off the caller's path: a directory tree is renamed into a trash directory (one rename on the
// same filesystem) and a background thread deletes it. Removing a container's writable layer from ext4
// costs milliseconds of inode work that `docker rm` and `run --rm` need not wait for.
#pragma once

#include <sys/types.h>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/error.h"

namespace berth {

class Trash {
 public:
  // Uses (and creates) `dir`; what an earlier process left there is deleted in the background.
  static Result<std::unique_ptr<Trash>> open(const std::string& dir);
  ~Trash();
  Trash(const Trash&) = delete;
  Trash& operator=(const Trash&) = delete;

  // Moves `path` (a file or a tree) into the trash. When it cannot be renamed there (another filesystem),
  // it is removed in place. A missing path is not an error.
  Result<void> discard(const std::string& path);
  // Moves the directory `path` into the trash to be emptied rather than deleted: the worker removes what
  // its immediate subdirectories hold, resets them (mode `modes[i]`, owner root, no extended attributes)
  // and renames the skeleton to `into` (same filesystem). A new snapshot then takes a skeleton with one
  // rename instead of making directories: no inode is freed or allocated, and ext4 scans ever longer for
  // a free inode while many were freed recently.
  Result<void> recycle(const std::string& path, const std::string& into,
                       std::vector<std::pair<std::string, mode_t>> subdirs);
  // Waits until everything discarded so far is deleted (tests, shutdown).
  void drain();
  const std::string& dir() const { return dir_; }

 private:
  explicit Trash(std::string dir) : dir_(std::move(dir)) {}
  void run();

  std::string dir_;
  std::mutex m_;
  std::condition_variable cv_;
  struct Job {
    std::string name;  // inside dir_
    std::string into;  // recycle: where the emptied skeleton goes ("" to delete)
    std::vector<std::pair<std::string, mode_t>> subdirs;
  };
  void empty(const Job& j);
  Result<void> moveIn(const std::string& path, const std::string& into,
                      std::vector<std::pair<std::string, mode_t>> subdirs);
  std::deque<Job> queue_;
  bool busy_ = false, stop_ = false;
  uint64_t seq_ = 0;
  std::thread worker_;
};

}  // namespace berth
