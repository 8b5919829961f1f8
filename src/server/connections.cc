#include "server/connections.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "base/fd.h"
#include "base/log.h"
#include "base/memory.h"

namespace berth::server {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kHeadLimit = 64 * 1024;  // as the parser's header limit: beyond it the worker says 431/400
constexpr int kMaxIdleWorkers = 4;

struct Job {
  UniqueFd fd;
  std::string pending;
};

// A refusal the client can read, written without waiting.
void refuse(int fd, const char* why) {
  std::string body = std::string("{\"message\":\"") + why + "\"}\n";
  std::string res = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  (void)!::send(fd, res.data(), res.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

}  // namespace

ServerOptions serverOptionsFromEnv() {
  ServerOptions o;
  auto num = [](const char* name, long dflt) {
    const char* v = std::getenv(name);
    if (!v || !*v) return dflt;
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    return (*end == 0 && n > 0) ? n : dflt;
  };
  o.maxConnections =
      static_cast<size_t>(num("BERTH_HTTP_MAX_CONNECTIONS", static_cast<long>(o.maxConnections)));
  o.idleTimeout = std::chrono::seconds(num("BERTH_HTTP_IDLE_TIMEOUT", o.idleTimeout.count()));
  o.headTimeout = std::chrono::seconds(num("BERTH_HTTP_HEAD_TIMEOUT", o.headTimeout.count()));
  o.readTimeout = std::chrono::seconds(num("BERTH_HTTP_READ_TIMEOUT", o.readTimeout.count()));
  return o;
}

size_t connectionBound(size_t wanted) {
  // The limit is not raised here: containers inherit berthd's (as dockerd's inherit its unit's LimitNOFILE).
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = 1024;
  size_t half = rl.rlim_cur == RLIM_INFINITY ? wanted : static_cast<size_t>(rl.rlim_cur / 2);
  return std::max<size_t>(16, std::min(wanted, half));
}

struct Connections::State : std::enable_shared_from_this<Connections::State> {
  ServerOptions opt;
  ServeFn serve;
  size_t bound = 0;

  std::mutex m;
  std::condition_variable cv;
  std::deque<Job> jobs;      // complete heads for an idle worker
  std::deque<Job> returned;  // connections the workers gave back to the loop
  int idleWorkers = 0;
  size_t busy = 0;  // connections in a worker
  bool stopping = false;
  UniqueFd wake;  // eventfd: a connection was given back, or stop

  void worker(Job job);
  void dispatch(Job job);
  void giveBack(Job job);
  void signal() {
    uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }
};

void Connections::State::dispatch(Job job) {
  {
    std::lock_guard lock(m);
    ++busy;
    if (idleWorkers > static_cast<int>(jobs.size())) {
      jobs.push_back(std::move(job));
      cv.notify_one();
      return;
    }
  }
  auto j = std::make_shared<Job>(std::move(job));
  try {
    std::thread([self = shared_from_this(), j] { self->worker(std::move(*j)); }).detach();
  } catch (const std::system_error&) {
    // Out of threads: this request is refused, the daemon goes on.
    {
      std::lock_guard lock(m);
      --busy;
    }
    refuse(j->fd.release(), "berthd: no thread for the request, try again");
  }
}

void Connections::State::giveBack(Job job) {
  std::lock_guard lock(m);
  returned.push_back(std::move(job));
  signal();
}

void Connections::State::worker(Job job) {
  for (;;) {
    bool keep = serve(job.fd.get(), &job.pending);
    if (keep) {
      {
        std::lock_guard lock(m);
        --busy;
      }
      giveBack(std::move(job));
    } else {
      ::shutdown(job.fd.get(), SHUT_RDWR);
      job.fd.reset();
      std::lock_guard lock(m);
      --busy;
      signal();  // a slot is free (and the loop may give memory back)
    }
    std::unique_lock lock(m);
    if (stopping || idleWorkers >= kMaxIdleWorkers) return;
    ++idleWorkers;
    cv.wait_for(lock, std::chrono::minutes(1), [&] { return stopping || !jobs.empty(); });
    --idleWorkers;
    if (stopping || jobs.empty()) return;
    job = std::move(jobs.front());
    jobs.pop_front();
  }
}

Connections::Connections(const ServerOptions& options, ServeFn serve) : st_(std::make_shared<State>()) {
  st_->opt = options;
  st_->serve = std::move(serve);
  st_->bound = connectionBound(options.maxConnections);
  st_->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

Connections::~Connections() {
  stop();
}

void Connections::stop() {
  std::lock_guard lock(st_->m);
  if (st_->stopping) return;
  st_->stopping = true;
  st_->jobs.clear();
  st_->cv.notify_all();
  st_->signal();
}

namespace {

struct Waiting {
  UniqueFd fd;
  std::string pending;
  Clock::time_point since;  // idle since, or head begun at
  bool head = false;        // some of a request head has arrived
};

// The loop's side: the waiting connections and the epoll set.
class Loop {
 public:
  Loop(Connections::State& st, int listenFd) : st_(st), listen_(listenFd) {}
  void run();

 private:
  void acceptAll();
  bool add(UniqueFd fd, std::string pending);
  void readFrom(int fd);
  void take(int fd);  // the head is complete: to a worker
  void drop(int fd) { waiting_.erase(fd); }
  bool evictOldest();
  void sweep(Clock::time_point now);
  size_t total() {
    std::lock_guard lock(st_.m);
    return waiting_.size() + st_.busy;
  }

  Connections::State& st_;
  int listen_;
  UniqueFd ep_;
  UniqueFd reserve_;  // a spare fd, closed to accept (and refuse) a connection when out of fds
  std::unordered_map<int, Waiting> waiting_;
  Clock::time_point lastSweep_ = Clock::now(), lastWork_ = Clock::now();
  bool released_ = false;
};

void Loop::run() {
  ep_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  reserve_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!ep_ || !st_.wake) {
    log::error(std::string("server: epoll: ") + std::strerror(errno));
    return;
  }
  ::fcntl(listen_, F_SETFL, ::fcntl(listen_, F_GETFL) | O_NONBLOCK);
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = listen_;
  ::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, listen_, &ev);
  ev.data.fd = st_.wake.get();
  ::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, st_.wake.get(), &ev);
  struct epoll_event evs[64];
  for (;;) {
    {
      std::lock_guard lock(st_.m);
      if (st_.stopping) break;
    }
    // Ticks of a second while anything waits (timeouts) or memory was not yet given back.
    bool idleDaemon = waiting_.empty() && released_;
    int n = ::epoll_wait(ep_.get(), evs, 64, idleDaemon ? -1 : 1000);
    auto now = Clock::now();
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == listen_) {
        acceptAll();
      } else if (fd == st_.wake.get()) {
        uint64_t v;
        (void)!::read(fd, &v, sizeof v);
        std::deque<Job> back;
        {
          std::lock_guard lock(st_.m);
          back.swap(st_.returned);
        }
        for (auto& j : back) add(std::move(j.fd), std::move(j.pending));
        lastWork_ = now;
      } else {
        readFrom(fd);
      }
    }
    if (now - lastSweep_ >= std::chrono::seconds(1)) sweep(now);
    // A second without a request in progress: what served the last ones goes back (free heap, program and
    // library pages; see releaseResidentMemory). The next request faults back what it needs.
    bool busy;
    {
      std::lock_guard lock(st_.m);
      busy = st_.busy > 0;
    }
    if (busy) {
      released_ = false;
      lastWork_ = now;
    } else if (!released_ && now - lastWork_ >= std::chrono::seconds(1)) {
      (void)releaseResidentMemory();
      released_ = true;
    }
  }
  waiting_.clear();
}

void Loop::acceptAll() {
  for (;;) {
    int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN) return;
      if (errno == EMFILE || errno == ENFILE) {
        if (evictOldest()) continue;
        // Nothing to let go: the one in the backlog is refused with the spare fd, not left to spin on.
        reserve_.reset();
        if (int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC); c >= 0)
          refuse(c, "berthd: too many open files, try again");
        reserve_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        log::warn("accept: out of file descriptors; a connection was refused");
        return;
      }
      log::warn(std::string("accept: ") + std::strerror(errno));
      return;
    }
    if (total() >= st_.bound && !evictOldest()) {
      refuse(fd, "berthd: too many connections, try again");
      continue;
    }
    add(UniqueFd(fd), {});
  }
}

bool Loop::add(UniqueFd fd, std::string pending) {
  int raw = fd.get();
  if (hasCompleteHead(pending) || pending.size() > kHeadLimit) {
    st_.dispatch(Job{std::move(fd), std::move(pending)});
    return true;
  }
  struct epoll_event ev {};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = raw;
  if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, raw, &ev) != 0) {
    refuse(fd.release(), "berthd: cannot watch the connection, try again");
    return false;
  }
  bool head = !pending.empty();
  waiting_[raw] = Waiting{std::move(fd), std::move(pending), Clock::now(), head};
  return true;
}

void Loop::readFrom(int fd) {
  auto it = waiting_.find(fd);
  if (it == waiting_.end()) return;
  Waiting& w = it->second;
  char buf[16384];
  size_t room = std::min(sizeof buf, kHeadLimit + 1 - std::min(kHeadLimit + 1, w.pending.size()));
  ssize_t n = ::recv(fd, buf, std::max<size_t>(room, 1), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return drop(fd);  // closed by the client (epoll forgets a closed fd by itself)
  if (!w.head) {
    w.head = true;
    w.since = Clock::now();
  }
  w.pending.append(buf, static_cast<size_t>(n));
  if (hasCompleteHead(w.pending) || w.pending.size() > kHeadLimit) take(fd);
}

void Loop::take(int fd) {
  auto it = waiting_.find(fd);
  ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
  Job j{std::move(it->second.fd), std::move(it->second.pending)};
  waiting_.erase(it);
  lastWork_ = Clock::now();
  released_ = false;
  st_.dispatch(std::move(j));
}

bool Loop::evictOldest() {
  auto oldest = waiting_.end();
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it)
    if (oldest == waiting_.end() || it->second.since < oldest->second.since) oldest = it;
  if (oldest == waiting_.end()) return false;
  waiting_.erase(oldest);
  return true;
}

void Loop::sweep(Clock::time_point now) {
  lastSweep_ = now;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    auto limit = it->second.head ? st_.opt.headTimeout : st_.opt.idleTimeout;
    if (now - it->second.since >= limit)
      it = waiting_.erase(it);
    else
      ++it;
  }
}

}  // namespace

void Connections::run(int listenFd) {
  Loop loop(*st_, listenFd);
  loop.run();
}

}  // namespace berth::server
