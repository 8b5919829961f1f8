// A container's status, as the engine keeps it. docker shows the same names, except Starting (a start in
// progress, which docker never shows: it is "created" to clients).
#pragma once

#include <optional>
#include <string_view>

namespace berth::engine {

enum class Status { Created, Starting, Running, Paused, Restarting, Removing, Exited, Dead };

// The engine's own name (stored in the container's record): "starting" for Starting.
constexpr std::string_view statusName(Status s) {
  switch (s) {
    case Status::Created:
      return "created";
    case Status::Starting:
      return "starting";
    case Status::Running:
      return "running";
    case Status::Paused:
      return "paused";
    case Status::Restarting:
      return "restarting";
    case Status::Removing:
      return "removing";
    case Status::Exited:
      return "exited";
    case Status::Dead:
      return "dead";
  }
  return "dead";
}

// docker's State.Status.
constexpr std::string_view publicStatus(Status s) {
  return s == Status::Starting ? "created" : statusName(s);
}

constexpr std::optional<Status> parseStatus(std::string_view name) {
  for (Status s : {Status::Created, Status::Starting, Status::Running, Status::Paused, Status::Restarting,
                   Status::Removing, Status::Exited, Status::Dead})
    if (statusName(s) == name) return s;
  return std::nullopt;
}

// A process runs (or is frozen): running or paused.
constexpr bool hasProcess(Status s) {
  return s == Status::Running || s == Status::Paused;
}

}  // namespace berth::engine
