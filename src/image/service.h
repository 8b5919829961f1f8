// The image service: what `berth` calls today and berthd's image API will call. Images are their config
// blob (the image ID), their layers (blobs kept for save, unpacked once into committed snapshots keyed by
// ChainID and shared by every image that has them) and their tags. Metadata is in SQLite, written in one
// transaction at the end of a load or import, so a load killed midway leaves the store as it was (plus
// blobs and snapshots nothing references, which the next open or prune removes).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "db/sqlite.h"
#include "image/content_store.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "snapshot/snapshotter.h"

namespace berth::image {

struct LayerRecord {
  Digest diffId, chainId, blob;
  int64_t blobSize = 0;
  std::string mediaType;
  int64_t size = 0;  // bytes of the uncompressed tar
};

struct ImageRecord {
  Digest id;  // digest of the config blob
  std::string created;
  int64_t size = 0;               // sum of the layers' uncompressed sizes
  std::vector<std::string> tags;  // full references, "docker.io/library/busybox:latest"
  std::vector<LayerRecord> layers;
  int64_t loadedAt = 0;
};

struct ServiceOptions {
  std::string root = "/var/lib/berth";
  std::string driver = "overlay";
};

struct ImportOptions {
  std::vector<std::string> changes;  // Dockerfile instructions: CMD, ENTRYPOINT, ENV, WORKDIR, USER, ...
  std::string message;
  std::string reference;     // tag to give the image, optional
  std::string platformArch;  // default: the host's
};

struct RemoveReport {
  std::vector<std::string> untagged;  // familiar references
  std::vector<std::string> deleted;   // "sha256:…" image IDs and layer chain IDs
};

struct DiskUsage {
  int64_t images = 0, activeImages = 0;
  int64_t imagesSize = 0;  // unique layer bytes on disk
  int64_t reclaimable = 0;
  int64_t layers = 0;
  int64_t blobsSize = 0;
};

class ImageService {
 public:
  static Result<std::unique_ptr<ImageService>> open(const ServiceOptions& opts);

  // A docker-archive (`docker save`) or an OCI image-layout archive, plain or gzip/zstd. Returns docker's
  // lines: "Loaded image: busybox:latest" or "Loaded image ID: sha256:…".
  Result<std::vector<std::string>> load(int fd);
  // `docker save`: a docker-archive (manifest.json, <config>.json, <layer>/layer.tar, repositories), or an
  // OCI image layout (oci-layout, index.json, blobs/sha256/…, plus manifest.json as docker 25 writes, so
  // both kinds of `docker load` take it). Written to `fd` as a tar stream.
  enum class SaveFormat { Docker, Oci };
  Result<void> save(const std::vector<std::string>& refs, int fd, SaveFormat format);
  // A root filesystem tarball as a one-layer image.
  Result<Digest> import(int fd, const ImportOptions& opts);

  Result<std::vector<ImageRecord>> list();
  // By reference ("busybox", "busybox:1.36"), full or short ID ("sha256:ab12…", "ab12…"), or digest.
  Result<ImageRecord> resolve(const std::string& nameOrId);
  Result<std::string> configJson(const Digest& id);
  Result<ImageConfig> config(const Digest& id);
  Result<void> tag(const std::string& source, const std::string& target);
  // docker rmi: untags a reference; deletes the image when no tag is left (or by ID; with several tags
  // only when `force`). `inUse` says whether a container uses an image (refused unless force).
  Result<RemoveReport> remove(const std::string& nameOrId, bool force,
                              const std::function<bool(const Digest&)>& inUse = {});
  // Dangling images (all unused images with `all`), then unreferenced layers and blobs.
  Result<RemoveReport> prune(bool all, const std::function<bool(const Digest&)>& inUse = {});
  Result<DiskUsage> diskUsage(const std::function<bool(const Digest&)>& inUse = {});

  // podman's `image mount`: the image's root filesystem, read-only, at <root>/mounts/<id>; returns the path.
  Result<std::string> mount(const std::string& nameOrId);
  Result<void> unmount(const std::string& nameOrId);

  snapshot::Snapshotter& snapshotter() { return *snap_; }
  ContentStore& content() { return *content_; }

 private:
  ImageService() = default;
  // A layer blob to use: committed in the content store, or still being ingested (source = its temp file).
  struct LayerSource {
    Digest blob;
    std::string mediaType;
    std::string path;  // where to read it
    int64_t size = 0;
  };
  // Unpacks (or finds) the layers of an image; the config's DiffIDs are checked. Nothing is durable yet.
  Result<std::vector<LayerRecord>> unpackLayers(const ImageConfig& cfg,
                                                const std::vector<LayerSource>& layers);
  // One layer; `diffId` empty when unknown (import): then it is computed and the layer keyed by it.
  Result<LayerRecord> ensureLayer(const LayerSource& src, const Digest& diffId, const Digest& parentChain);
  // Makes every unpacked file durable (syncfs), then records the image and its tags in one transaction.
  Result<Digest> recordImage(const Digest& configDigest, const ImageConfig& cfg,
                             const std::vector<LayerRecord>& layers, const std::vector<std::string>& tags);

  // Layers unpacked while their blob streamed in (load, diff-storing snapshotters), before the image config
  // said where they go: blob digest hex -> active snapshot, rebased and committed by ensureLayer.
  struct Speculative {
    std::string key;
    Digest diffId;
    int64_t tarSize = 0;
    std::optional<Error> error;
    bool used = false;
  };
  std::map<std::string, Speculative>* speculative_ = nullptr;
  // Installs a map of streamed layers for one load/import; on destruction removes the snapshots of those no
  // image used.
  class SpeculativeScope {
   public:
    explicit SpeculativeScope(ImageService& s) : s_(s) { s_.speculative_ = &layers; }
    ~SpeculativeScope();
    SpeculativeScope(const SpeculativeScope&) = delete;
    SpeculativeScope& operator=(const SpeculativeScope&) = delete;
    std::map<std::string, Speculative> layers;

   private:
    ImageService& s_;
  };
  // Unpacks a layer into a new active snapshot `key` while its bytes stream in (first chunk given, the rest
  // from readMore), writing and hashing its blob into `w` on a second thread. A layer that fails to unpack
  // comes back with `error` set (it matters only if an image uses it); a read error fails the call.
  Result<Speculative> streamUnpack(const std::string& key, BlobWriter& w, const char* first, size_t firstLen,
                                   bool plainTar, const std::function<long(char*, size_t)>& readMore,
                                   const std::string& readErr);
  Result<void> collectGarbage(RemoveReport* report);
  Result<std::vector<std::string>> tagsOf(const Digest& id);
  // An image's row (id, created, size, loaded_at) and then its tags and layers.
  static Result<ImageRecord> recordOf(db::Statement& row);
  Result<void> addTagsAndLayers(ImageRecord& r);
  // A container's root filesystem (an active "container-<id>" snapshot) sits on the image's top layer.
  bool usedByContainer(const ImageRecord& img);

  std::optional<db::Database> db_;
  std::optional<ContentStore> content_;
  std::unique_ptr<snapshot::Snapshotter> snap_;
  std::string root_;
};

// ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
Digest chainId(const Digest& parentChain, const Digest& diffId);

}  // namespace berth::image
