#include "runtime/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "sys/cgroup.h"

namespace berth::runtime {

using nlohmann::json;
using nlohmann::ordered_json;

const char* statusName(Status s) {
  switch (s) {
    case Status::Creating:
      return "creating";
    case Status::Created:
      return "created";
    case Status::Running:
      return "running";
    case Status::Paused:
      return "paused";
    case Status::Stopped:
      return "stopped";
  }
  return "unknown";
}

Result<void> validateId(const std::string& id) {
  if (id.empty()) return invalid("container id must not be empty");
  if (id.size() > 1024) return invalid("container id is too long");
  // (names starting with '.' are the store's own: .seccomp-cache)
  if (id[0] == '.') return invalid("invalid container id \"" + id + "\": must not start with '.'");
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '+'))
      return invalid("invalid container id \"" + id + "\": only letters, digits and _ - . + are allowed");
  }
  return {};
}

Result<void> StateStore::claim(const std::string& id) {
  TRYV(mkdirAll(root_, 0700));
  if (::mkdir(dir(id).c_str(), 0700) < 0) {
    if (errno == EEXIST)
      return fail(ErrorCategory::Conflict, "container with id \"" + id + "\" already exists");
    return sysFail("creating state directory " + dir(id));
  }
  return {};
}

Result<State> StateStore::load(const std::string& id) const {
  TRYV(validateId(id));
  auto text = readFile(dir(id) + "/state.json");
  if (!text) {
    if (text.error().sysErrno() == ENOENT)
      return fail(ErrorCategory::NotFound, "container \"" + id + "\" does not exist");
    return std::unexpected(text.error());
  }
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("state of container \"" + id + "\" is corrupt");
  try {
    return fromJson(j, id);
  } catch (const json::exception& e) {
    return fail("state of container \"" + id + "\" is corrupt: " + e.what());
  }
}

State StateStore::fromJson(const nlohmann::json& j, const std::string& id) {
  State s;
  s.id = j.value("id", id);
  s.pid = j.value("pid", 0);
  s.pidStartTime = j.value("pidStartTime", uint64_t{0});
  s.bundle = j.value("bundle", "");
  s.rootfs = j.value("rootfs", "");
  s.created = j.value("created", "");
  s.owner = j.value("owner", "");
  s.cgroupPath = j.value("cgroupPath", "");
  s.cgroupVersion = j.value("cgroupVersion", 0);
  s.cgroupV2Root = j.value("cgroupV2Root", "");
  s.hasPoststart = j.value("hasPoststart", false);
  s.hasPoststop = j.value("hasPoststop", false);
  s.config = j.value("config", "");  // berth before 0.1.1 kept it here; now config.json beside the state
  if (j.contains("annotations") && j["annotations"].is_object())
    for (auto& [k, v] : j["annotations"].items())
      if (v.is_string()) s.annotations[k] = v.get<std::string>();
  return s;
}

Result<void> StateStore::save(const State& s) const {
  // The config as the container was created with it, beside the state rather than inside it (escaping
  // 7 KB into a JSON string cost more than the rest of the state together, at every save and load).
  if (!s.config.empty()) TRYV(replaceFile(dir(s.id) + "/config.json", s.config, 0600));
  ordered_json j = {{"id", s.id},
                    {"pid", s.pid},
                    {"pidStartTime", s.pidStartTime},
                    {"bundle", s.bundle},
                    {"rootfs", s.rootfs},
                    {"created", s.created},
                    {"owner", s.owner},
                    {"cgroupPath", s.cgroupPath},
                    {"cgroupVersion", s.cgroupVersion},
                    {"cgroupV2Root", s.cgroupV2Root},
                    {"hasPoststart", s.hasPoststart},
                    {"hasPoststop", s.hasPoststop},
                    {"annotations", s.annotations}};
  // Under the runtime root (/run): atomic against a killed process; a reboot ends its containers anyway.
  return replaceFile(dir(s.id) + "/state.json", j.dump(), 0600);
}

Result<void> StateStore::remove(const std::string& id) const {
  return removeAll(dir(id));
}

Result<std::vector<std::string>> StateStore::list() const {
  std::vector<std::string> out;
  DIR* d = ::opendir(root_.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return sysFail("opendir " + root_);
  }
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (pathExists(root_ + "/" + e->d_name + "/state.json")) out.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t processStartTime(pid_t pid, bool* zombie) {
  if (zombie) *zombie = false;
  if (pid <= 0) return 0;
  auto stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return 0;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return 0;
  auto fields = split(std::string_view(*stat).substr(close + 2), ' ');
  if (fields.size() < 20) return 0;
  if (zombie) *zombie = fields[0] == "Z" || fields[0] == "X";
  return std::strtoull(fields[19].c_str(), nullptr, 10);
}

Status StateStore::status(const State& s) const {
  bool zombie = false;
  uint64_t start = processStartTime(s.pid, &zombie);
  if (start == 0 || zombie || (s.pidStartTime && start != s.pidStartTime)) return Status::Stopped;
  if (pathExists(fifo(s.id))) return Status::Created;
  if (auto cg = cgroupOf(s); cg && *cg) {
    auto frozen = (*cg)->isFrozen();
    if (frozen && *frozen) return Status::Paused;
  }
  return Status::Running;
}

Result<std::unique_ptr<sys::cgroup::Manager>> cgroupOf(const State& s) {
  if (s.cgroupPath.empty()) return std::unique_ptr<sys::cgroup::Manager>();
  if (!s.cgroupV2Root.empty()) return sys::cgroup::makeV2(s.cgroupV2Root, s.cgroupPath);
  return sys::cgroup::open(s.cgroupPath);
}

std::string stateJson(const State& s, Status st, bool pretty) {
  ordered_json j = {
      {"ociVersion", "1.0.2"},    {"id", s.id},         {"pid", st == Status::Stopped ? 0 : s.pid},
      {"status", statusName(st)}, {"bundle", s.bundle}, {"rootfs", s.rootfs},
      {"created", s.created},     {"owner", s.owner}};
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  return pretty ? j.dump(2) : j.dump();
}

}  // namespace berth::runtime
