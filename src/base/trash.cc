#include "base/trash.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/fd.h"
#include "base/file.h"

namespace berth {

Result<std::unique_ptr<Trash>> Trash::open(const std::string& dir) {
  TRYV(mkdirAll(dir, 0700));
  std::unique_ptr<Trash> t(new Trash(dir));
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return sysFail("opening " + dir);
  TRY(auto left, dirEntries(d.get(), dir));
  for (auto& name : left) t->queue_.push_back(Job{name, std::string(), {}});
  t->worker_ = std::thread([p = t.get()] { p->run(); });
  return t;
}

Trash::~Trash() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Result<void> Trash::discard(const std::string& path) {
  return moveIn(path, "", {});
}

Result<void> Trash::recycle(const std::string& path, const std::string& into,
                            std::vector<std::pair<std::string, mode_t>> subdirs) {
  return moveIn(path, into, std::move(subdirs));
}

Result<void> Trash::moveIn(const std::string& path, const std::string& into,
                           std::vector<std::pair<std::string, mode_t>> subdirs) {
  std::string name;
  {
    std::lock_guard lock(m_);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%d-%llu", static_cast<int>(::getpid()),
                  static_cast<unsigned long long>(++seq_));
    name = buf;
  }
  if (::rename(path.c_str(), (dir_ + "/" + name).c_str()) < 0) {
    if (errno == ENOENT) return {};
    return removeAll(path);  // EXDEV and the like: the slow way
  }
  {
    std::lock_guard lock(m_);
    queue_.push_back(Job{name, into, std::move(subdirs)});
  }
  cv_.notify_all();
  return {};
}

void Trash::empty(const Job& j) {
  std::string path = dir_ + "/" + j.name;
  auto scrub = [](const std::string& d, mode_t mode) -> bool {
    UniqueFd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return false;
    auto names = dirEntries(fd.get(), d);
    if (!names) return false;
    for (auto& n : *names)
      if (!removeAll(d + "/" + n)) return false;
    // What a container may have set on its upper directory's root: mode, owner, overlay's xattrs.
    if (::fchmod(fd.get(), mode) < 0 || ::fchown(fd.get(), 0, 0) < 0) return false;
    char list[4096];
    ssize_t len = ::flistxattr(fd.get(), list, sizeof list);
    if (len < 0) return errno == ENOTSUP;
    for (ssize_t i = 0; i < len; i += static_cast<ssize_t>(std::strlen(list + i)) + 1)
      if (::fremovexattr(fd.get(), list + i) < 0) return false;
    return true;
  };
  for (auto& [sub, mode] : j.subdirs) {
    if (!scrub(path + "/" + sub, mode)) {
      (void)removeAll(path);
      return;
    }
  }
  if (::rename(path.c_str(), j.into.c_str()) < 0) (void)removeAll(path);
}

void Trash::drain() {
  std::unique_lock lock(m_);
  cv_.wait(lock, [&] { return (queue_.empty() && !busy_) || stop_; });
}

void Trash::run() {
  // Deleting is nobody's critical path: let starting containers have the CPU first.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  std::unique_lock lock(m_);
  for (;;) {
    cv_.wait(lock, [&] { return !queue_.empty() || stop_; });
    if (stop_) return;  // what is left is deleted by the next open()
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    if (job.into.empty())
      (void)removeAll(dir_ + "/" + job.name);
    else
      empty(job);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace berth
