// Image manifests, indexes and configs: Docker image manifest v2 schema 2 and the OCI image spec.
// Untrusted input: every field is type-checked and every error names its JSON path.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "image/digest.h"

namespace berth::image {

namespace media {
inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
}  // namespace media

struct Platform {
  std::string os, architecture, variant, osVersion;
};

struct Descriptor {
  std::string mediaType;
  Digest digest;
  int64_t size = 0;
  std::optional<Platform> platform;
  std::map<std::string, std::string> annotations;
};

struct Manifest {
  std::string mediaType;  // from the document, or inferred (OCI manifests may omit it)
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

struct Index {
  std::string mediaType;
  std::vector<Descriptor> manifests;
};

struct HistoryEntry {
  std::string created, createdBy, author, comment;
  bool emptyLayer = false;
};

struct ImageConfig {
  std::string architecture, os, variant, created, author;
  struct {
    std::string user, workingDir, stopSignal;
    std::vector<std::string> env, entrypoint, cmd, exposedPorts, volumes;
    bool entrypointSet = false, cmdSet = false;  // [] and absent differ for docker
    std::map<std::string, std::string> labels;
    // HEALTHCHECK: Test ["CMD", …] | ["CMD-SHELL", "…"] | ["NONE"]; durations in nanoseconds (0: default).
    struct {
      bool set = false;
      std::vector<std::string> test;
      int64_t interval = 0, timeout = 0, startPeriod = 0, startInterval = 0;
      int retries = 0;
    } healthcheck;
  } config;
  std::vector<Digest> diffIds;
  std::vector<HistoryEntry> history;
};

// Tells a manifest from an index (by mediaType, or by shape when it is absent).
enum class DocumentKind { Manifest, Index };
Result<DocumentKind> documentKind(const std::string& json);
Result<Manifest> parseManifest(const std::string& json);
Result<Index> parseIndex(const std::string& json);
Result<ImageConfig> parseImageConfig(const std::string& json);
// The manifest for os/arch (variant optional) in an index; NotFound names what the index offers.
Result<Descriptor> selectPlatform(const Index& index, const std::string& os, const std::string& arch,
                                  const std::string& variant = "");
bool isLayerMediaType(const std::string& mediaType);

}  // namespace berth::image
