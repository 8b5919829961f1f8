#include "base/trash.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "base/fd.h"
#include "base/file.h"

namespace berth {

Result<std::unique_ptr<Trash>> Trash::open(const std::string& dir) {
  TRYV(mkdirAll(dir, 0700));
  std::unique_ptr<Trash> t(new Trash(dir));
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return sysFail("opening " + dir);
  TRY(auto left, dirEntries(d.get(), dir));
  for (auto& name : left) t->queue_.push_back(name);
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
    queue_.push_back(name);
  }
  cv_.notify_all();
  return {};
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
    std::string name = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    (void)removeAll(dir_ + "/" + name);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace berth
