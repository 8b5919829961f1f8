// Image references, normalised as docker does: "busybox" = "docker.io/library/busybox:latest".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "image/digest.h"

namespace berth::image {

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000", "registry.example.com"
  std::string path;    // "library/busybox"
  std::string tag;     // empty when only a digest is given
  std::optional<Digest> digest;

  // "docker.io/library/busybox:latest", "localhost:5000/x@sha256:…"
  std::string str() const;
  // The repository without tag or digest: "docker.io/library/busybox".
  std::string name() const { return domain + "/" + path; }
  // docker's familiar form for RepoTags: "busybox:latest", "user/app:1", "localhost:5000/x:tag".
  std::string familiar() const;
  std::string familiarName() const;
};

// Parses and normalises; a missing tag becomes "latest" unless a digest is given.
Result<Reference> parseReference(std::string_view s);

}  // namespace berth::image
