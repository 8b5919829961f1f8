// Engine: docker's JSON views of a container (inspect, list entries).
#include <ctime>

#include "base/log.h"
#include "engine/engine.h"
#include "image/service.h"

namespace berth::engine {

using nlohmann::json;

namespace {

json mountsJson(const Container& c) {
  json out = json::array();
  for (auto& m : c.mounts) out.push_back(m.inspectJson());
  return out;
}

}  // namespace

namespace {

int64_t unixOf(const std::string& rfc3339) {
  return log::parseRfc3339Ns(rfc3339).value_or(0) / 1000000000;
}

// docker's units.HumanDuration.
std::string humanDuration(int64_t secs) {
  if (secs < 1) return "Less than a second";
  if (secs == 1) return "1 second";
  if (secs < 60) return std::to_string(secs) + " seconds";
  int64_t mins = secs / 60;
  if (mins == 1) return "About a minute";
  if (mins < 60) return std::to_string(mins) + " minutes";
  int64_t hours = mins / 60;
  if (hours == 1) return "About an hour";
  if (hours < 48) return std::to_string(hours) + " hours";
  if (hours < 24 * 7 * 2) return std::to_string(hours / 24) + " days";
  if (hours < 24 * 30 * 2) return std::to_string(hours / 24 / 7) + " weeks";
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24 / 30) + " months";
  return std::to_string(hours / 24 / 365) + " years";
}

std::string statusText(const Container& c) {
  int64_t now = static_cast<int64_t>(::time(nullptr));
  const auto& s = c.state;
  if (s.status == Status::Running) {
    std::string up = "Up " + humanDuration(now - unixOf(s.startedAt));
    if (s.health.is_object()) {
      std::string h = s.health.value("Status", "");
      up += h == "starting" ? " (health: starting)" : " (" + h + ")";
    }
    return up;
  }
  if (s.status == Status::Paused) return "Up " + humanDuration(now - unixOf(s.startedAt)) + " (Paused)";
  if (s.status == Status::Restarting) return "Restarting (" + std::to_string(s.exitCode) + ")";
  if (s.status == Status::Exited)
    return "Exited (" + std::to_string(s.exitCode) + ") " + humanDuration(now - unixOf(s.finishedAt)) +
           " ago";
  if (s.status == Status::Starting) return "Created";
  if (s.status == Status::Created) return "Created";
  if (s.status == Status::Removing) return "Removal In Progress";
  return "Dead";
}

}  // namespace

json Engine::summaryJson(const Container& c) {
  std::string command = c.path;
  // docker quotes arguments with spaces in the list's Command ("sh -c 'while true; …'")
  for (auto& a : c.args) command += " " + (a.find(' ') != std::string::npos ? "'" + a + "'" : a);
  std::string image = c.image;
  json labels = c.config.labels;
  std::string net = c.hostConfig.networkMode.empty() ? "none" : c.hostConfig.networkMode;
  return {{"Id", c.id},
          {"Names", json::array({"/" + c.name})},
          {"Image", image},
          {"ImageID", c.imageId},
          {"Command", command},
          {"Created", unixOf(c.created)},
          {"Ports",
           [&] {
             json out = json::array();
             for (auto& b : c.ports)
               out.push_back({{"IP", b.hostIp.empty() ? "0.0.0.0" : b.hostIp},
                              {"PrivatePort", b.containerPort},
                              {"PublicPort", b.hostPort},
                              {"Type", b.proto}});
             return out;
           }()},
          {"Labels", labels},
          {"State", std::string(publicStatus(c.state.status))},
          {"Status", statusText(c)},
          {"HostConfig", {{"NetworkMode", net}}},
          {"NetworkSettings",
           {{"Networks",
             [&] {
               std::lock_guard lock(m_);
               return networkSettingsJson(c)["Networks"];
             }()}}},
          {"Mounts", mountsJson(c)}};
}

json Engine::inspectJson(const Container& c) {
  std::vector<std::string> execIds;  // the running ones, as docker lists them
  {
    std::lock_guard lock(m_);
    for (auto& [id, e] : execs_)
      if (e.containerId == c.id && e.running) execIds.push_back(id);
  }
  const auto& s = c.state;
  Status st = s.status == Status::Starting ? Status::Created : s.status;
  json hc = spec::encode(c.hostConfig);
  json cfg = spec::encode(c.config);
  if (cfg["Image"].get<std::string>().empty()) cfg["Image"] = c.image;
  std::string dir = options().dataRoot + "/containers/" + c.id;
  json graph = {{"Name", options().driver}, {"Data", nullptr}};
  std::unique_lock lock(m_);
  if (auto m = layerMounts_.find(c.id);
      m != layerMounts_.end() && !m->second.empty() && m->second.front().type == "overlay") {
    json data = json::object();
    for (auto& o : m->second.front().options) {
      auto eq = o.find('=');
      if (eq == std::string::npos) continue;
      std::string k = o.substr(0, eq), v = o.substr(eq + 1);
      if (k == "lowerdir") data["LowerDir"] = v;
      if (k == "upperdir") data["UpperDir"] = v;
      if (k == "workdir") data["WorkDir"] = v;
    }
    graph["Data"] = data;
  }
  json state = {{"Status", std::string(statusName(st))},
                {"Running", hasProcess(st)},
                {"Paused", st == Status::Paused},
                {"Restarting", st == Status::Restarting},
                {"OOMKilled", s.oomKilled},
                {"Dead", st == Status::Dead},
                {"Pid", s.pid},
                {"ExitCode", s.exitCode},
                {"Error", s.error},
                {"StartedAt", s.startedAt},
                {"FinishedAt", s.finishedAt}};
  if (s.health.is_object()) state["Health"] = s.health;
  return {{"Id", c.id},
          {"Created", c.created},
          {"Path", c.path},
          {"Args", c.args},
          {"State", state},
          {"Image", c.imageId},
          {"ResolvConfPath", c.endpoints.empty() ? "" : containerDir(c.id) + "/resolv.conf"},
          {"HostnamePath", c.endpoints.empty() ? "" : containerDir(c.id) + "/hostname"},
          {"HostsPath", c.endpoints.empty() ? "" : containerDir(c.id) + "/hosts"},
          {"LogPath", dir + "/" + c.id + "-json.log"},
          {"Name", "/" + c.name},
          {"RestartCount", c.restartCount},
          {"Driver", options().driver},
          {"Platform", "linux"},
          {"MountLabel", ""},
          {"ProcessLabel", ""},
          {"AppArmorProfile", ""},
          {"ExecIDs", execIds.empty() ? json(nullptr) : json(execIds)},
          {"HostConfig", hc},
          {"GraphDriver", graph},
          {"Mounts", mountsJson(c)},
          {"Config", cfg},
          {"NetworkSettings", networkSettingsJson(c)}};  // under the lock taken above
}

}  // namespace berth::engine
