// Engine: the event stream (docker events): what happened to containers and images, kept in a ring of the
// last 1024 events for `since`, and followed live.
#include <chrono>

#include "engine/engine.h"

namespace berth::engine {

using nlohmann::json;

namespace {
constexpr size_t kKeep = 1024;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool matches(const json& ev, const std::map<std::string, std::vector<std::string>>& filters) {
  for (auto& [key, values] : filters) {
    bool any = false;
    const json& attrs = ev["Actor"]["Attributes"];
    for (auto& v : values) {
      if (key == "type")
        any |= ev["Type"] == v;
      else if (key == "event")
        any |= ev["Action"].get<std::string>() == v || ev["Action"].get<std::string>().starts_with(v + ":");
      else if (key == "container")
        any |= ev["Type"] == "container" &&
               (ev["Actor"]["ID"].get<std::string>().starts_with(v) || attrs.value("name", "") == v);
      else if (key == "image")
        any |= attrs.value("image", "") == v || (ev["Type"] == "image" && attrs.value("name", "") == v);
      else if (key == "label") {
        auto eq = v.find('=');
        std::string k = v.substr(0, eq);
        any |= attrs.contains(k) && (eq == std::string::npos || attrs[k] == v.substr(eq + 1));
      } else {
        any = true;  // unknown keys are refused by the caller
      }
    }
    if (!any) return false;
  }
  return true;
}
}  // namespace

void Engine::emitLocked(const std::string& type, const std::string& action, const std::string& id,
                        std::map<std::string, std::string> attrs) {
  if (type == "container") {
    auto it = containers_.find(id);
    if (it != containers_.end()) {
      attrs.emplace("name", it->second.name);
      attrs.emplace("image", it->second.image);
      for (auto& [k, v] : it->second.config.labels) attrs.emplace(k, v);
    }
  }
  int64_t ns = nowNs();
  json ev = {{"Type", type},     {"Action", action},        {"Actor", {{"ID", id}, {"Attributes", attrs}}},
             {"scope", "local"}, {"time", ns / 1000000000}, {"timeNano", ns}};
  if (type == "container") {
    ev["status"] = action;
    ev["id"] = id;
    ev["from"] = attrs["image"];
  }
  events_.push_back(ev);
  if (events_.size() > kKeep) events_.pop_front();
  ++eventSeq_;
  changed_.notify_all();
}

Result<void> Engine::events(int64_t sinceNs, int64_t untilNs,
                            const std::map<std::string, std::vector<std::string>>& filters,
                            const std::function<bool(const json&)>& sink,
                            const std::function<bool()>& cancelled) {
  for (auto& [k, v] : filters)
    if (k != "type" && k != "event" && k != "container" && k != "image" && k != "label")
      return invalid("invalid filter '" + k + "'");
  std::unique_lock lock(m_);
  uint64_t seen = eventSeq_ - events_.size();  // sequence number of events_.front()
  auto send = [&](const json& ev) -> bool {
    int64_t t = ev["timeNano"].get<int64_t>();
    if (sinceNs && t < sinceNs) return true;
    if (untilNs && t > untilNs) return true;
    if (!matches(ev, filters)) return true;
    lock.unlock();
    bool ok = sink(ev);
    lock.lock();
    return ok;
  };
  // Past events only when asked for (`since`); then live ones.
  uint64_t next = sinceNs ? seen : eventSeq_;
  for (;;) {
    while (next < eventSeq_) {
      uint64_t first = eventSeq_ - events_.size();
      if (next < first) next = first;
      json ev = events_[next - first];
      ++next;
      if (!send(ev)) return {};
    }
    if (untilNs && nowNs() > untilNs) return {};
    if (stopping_) return {};
    changed_.wait_for(lock, std::chrono::milliseconds(500));
    if (next == eventSeq_) {
      lock.unlock();
      bool gone = (cancelled && cancelled()) || !sink(json());
      lock.lock();
      if (gone) return {};
    }
  }
}

}  // namespace berth::engine
