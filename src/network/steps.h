// Setup as ordered, named steps, each with its undo (moby libnetwork's bridge driver queues its steps the
// same way): a failure undoes what was done, in reverse, and names the step that failed.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"

namespace berth::network {

class Steps {
 public:
  using Do = std::function<Result<void>()>;
  using Undo = std::function<void()>;
  Steps& add(std::string name, Do doIt, Undo undo = {}) {
    steps_.push_back({std::move(name), std::move(doIt), std::move(undo)});
    return *this;
  }
  // Runs every step in order. On the first failure: the done steps' undos in reverse, and the error with
  // the step's name in front.
  Result<void> run() {
    for (size_t i = 0; i < steps_.size(); ++i) {
      if (auto r = steps_[i].doIt(); !r) {
        for (size_t j = i; j-- > 0;)
          if (steps_[j].undo) steps_[j].undo();
        Error e = r.error();
        return std::unexpected(e.context(steps_[i].name));
      }
    }
    return {};
  }
  // The names, in order (for logs and tests).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto& s : steps_) out.push_back(s.name);
    return out;
  }

 private:
  struct Step {
    std::string name;
    Do doIt;
    Undo undo;
  };
  std::vector<Step> steps_;
};

}  // namespace berth::network
