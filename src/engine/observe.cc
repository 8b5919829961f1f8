// Engine: what runs in a container and what it uses (docker top, docker stats), read from the container's
// cgroup and /proc; the runtime's state (written by the shim) says where the cgroup is.
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "base/file.h"
#include "base/log.h"
#include "engine/engine.h"
#include "runtime/shim_protocol.h"
#include "sys/cgroup.h"

namespace berth::engine {

using nlohmann::json;

namespace {

struct ProcInfo {
  int pid = 0, ppid = 0;
  unsigned uid = 0;
  uint64_t utime = 0, stime = 0, start = 0;
  std::string tty = "?", cmd;
};

bool readProc(int pid, ProcInfo& p) {
  p.pid = pid;
  auto stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(stat->substr(close + 2));
  std::string state;
  long ttyNr = 0;
  std::vector<std::string> f;
  for (std::string w; rest >> w;) f.push_back(w);
  if (f.size() < 20) return false;
  state = f[0];
  p.ppid = std::atoi(f[1].c_str());
  ttyNr = std::atol(f[4].c_str());
  p.utime = std::strtoull(f[11].c_str(), nullptr, 10);
  p.stime = std::strtoull(f[12].c_str(), nullptr, 10);
  p.start = std::strtoull(f[19].c_str(), nullptr, 10);
  if (ttyNr > 0) p.tty = "pts/" + std::to_string((ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00));
  if (auto st = readFile("/proc/" + std::to_string(pid) + "/status"))
    for (auto& line : split(*st, '\n'))
      if (line.starts_with("Uid:")) p.uid = static_cast<unsigned>(std::atoi(line.c_str() + 4));
  if (auto cl = readFile("/proc/" + std::to_string(pid) + "/cmdline"); cl && !cl->empty()) {
    std::string c = *cl;
    while (!c.empty() && c.back() == '\0') c.pop_back();
    for (auto& ch : c)
      if (ch == '\0') ch = ' ';
    p.cmd = c;
  } else {
    p.cmd = "[" + stat->substr(stat->find('(') + 1, close - stat->find('(') - 1) + "]";
  }
  return true;
}

std::string clockText(uint64_t ticks) {
  long hz = ::sysconf(_SC_CLK_TCK);
  uint64_t s = ticks / static_cast<uint64_t>(hz);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  return buf;
}

uint64_t systemCpuNs() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  uint64_t total = 0, v;
  for (int i = 0; i < 8 && in >> v; ++i) total += v;
  return total * (1000000000ULL / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK)));
}

}  // namespace

Result<std::string> Engine::askRunning(const std::string& ref, const runtime::shim::Request& req,
                                       std::string* idOut, std::string* name) {
  std::string id;
  {
    std::lock_guard lock(m_);
    TRY(id, resolveId(ref));
    if (idOut) *idOut = id;
    auto& c = containers_.at(id);
    if (!hasProcess(c.state.status))
      return fail(ErrorCategory::Conflict, "Container " + id + " is not running");
    if (name) *name = "/" + c.name;
  }
  return shimRequest(id, req);
}

Result<json> Engine::top(const std::string& ref) {
  TRY(std::string answer,
      askRunning(ref, runtime::shim::Request::of(runtime::shim::Request::Kind::Processes)));
  TRY(auto pids, runtime::shim::decodePids(answer));
  json rows = json::array();
  long hz = ::sysconf(_SC_CLK_TCK);
  for (pid_t pid : pids) {
    ProcInfo p;
    if (!readProc(pid, p)) continue;
    time_t boot = 0;
    if (auto up = readFile("/proc/uptime"))
      boot = ::time(nullptr) - static_cast<time_t>(std::atof(up->c_str()));
    time_t started = boot + static_cast<time_t>(p.start / static_cast<uint64_t>(hz));
    struct tm tm;
    localtime_r(&started, &tm);
    char stime[16];
    std::strftime(stime, sizeof stime, "%H:%M", &tm);
    std::string user = p.uid == 0 ? "root" : std::to_string(p.uid);
    rows.push_back({user, std::to_string(p.pid), std::to_string(p.ppid), "0", stime, p.tty,
                    clockText(p.utime + p.stime), p.cmd});
  }
  return json{{"Titles", {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}}, {"Processes", rows}};
}

Result<json> Engine::stats(const std::string& ref) {
  std::string id, name;
  TRY(std::string answer,
      askRunning(ref, runtime::shim::Request::of(runtime::shim::Request::Kind::Stats), &id, &name));
  TRY(sys::cgroup::Stats s, runtime::shim::decodeStats(answer));
  json mem = {{"usage", s.memoryUsage},
              {"max_usage", s.memoryMaxUsage},
              {"limit", s.memoryLimit},
              {"stats", {{"cache", s.memoryCache}, {"inactive_file", 0}, {"total_inactive_file", 0}}},
              {"failcnt", 0}};
  if (s.memoryLimit == 0 || s.memoryLimit > (1ULL << 62)) {
    long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    mem["limit"] = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  }
  return json{{"read", log::nowRfc3339()},
              {"preread", "0001-01-01T00:00:00Z"},
              {"id", id},
              {"name", name},
              {"num_procs", 0},
              {"pids_stats", {{"current", s.pidsCurrent}, {"limit", s.pidsLimit}}},
              {"cpu_stats",
               {{"cpu_usage",
                 {{"total_usage", s.cpuUsageNs},
                  {"usage_in_kernelmode", s.cpuSystemNs},
                  {"usage_in_usermode", s.cpuUserNs}}},
                {"system_cpu_usage", systemCpuNs()},
                {"online_cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
                {"throttling_data", {{"periods", 0}, {"throttled_periods", 0}, {"throttled_time", 0}}}}},
              {"precpu_stats", {{"cpu_usage", {{"total_usage", 0}}}, {"throttling_data", json::object()}}},
              {"memory_stats", mem},
              {"blkio_stats", {{"io_service_bytes_recursive", nullptr}}},
              {"storage_stats", json::object()}};
}

}  // namespace berth::engine
