// berth: docker's command line. Image commands call image::ImageService directly for now; with berthd they
// will go through the Engine API client instead (same service underneath).
#pragma once

#include <CLI/CLI.hpp>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "base/file.h"
#include "image/service.h"

namespace berth::cli {

struct Globals {
  std::string dataRoot = "/var/lib/berth";
  std::string driver = "overlay";
  std::unique_ptr<image::ImageService> service;

  Result<image::ImageService*> images() {
    if (!service) {
      auto s = image::ImageService::open({dataRoot, driver});
      if (!s) return std::unexpected(s.error().context("opening the image store at " + dataRoot));
      service = std::move(*s);
    }
    return service.get();
  }
};

// docker's wording and exit status: "Error response from daemon: …", 1.
inline int fail(const Error& e) {
  std::fprintf(stderr, "Error response from daemon: %s\n", e.message().c_str());
  return 1;
}
// Bad flags or arguments: 125, as docker.
inline int usage(const std::string& msg) {
  std::fprintf(stderr, "berth: %s\nSee 'berth --help'.\n", msg.c_str());
  return 125;
}

void registerImageCommands(CLI::App& app, Globals& g, std::function<int()>& run);
int cmdSystemDf(Globals& g, bool verbose);
void registerRunCommand(CLI::App& app, Globals& g, std::function<int()>& run);

}  // namespace berth::cli
