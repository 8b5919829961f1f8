// The image service: what `berth` calls today and berthd's image API will call. Images are their config
// blob (the image ID), their layers (blobs kept for save, unpacked once into committed snapshots keyed by
// ChainID and shared by every image that has them) and their tags. Metadata is in SQLite, written in one
// transaction at the end of a load or import, so a load killed midway leaves the store as it was (plus
// blobs and snapshots nothing references, which the next open or prune removes).
//
// Thread-safe. The metadata (one SQLite connection, shared with the snapshotter) is used under that
// connection's lock, held only for lookups and commits: a load or import unpacks its layers, and a save
// streams its blobs, without it, so lookups, tags and containers' layers go on meanwhile and several loads
// run at once. Removals and prunes (which delete what no image references) wait for loads, imports and
// saves in flight, whose blobs and layers no image references yet, and these wait for them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "db/sqlite.h"
#include "image/content_store.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "snapshot/snapshotter.h"

struct archive;  // libarchive's

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

// A container's writable layer made on an image's top layer, with the image it was made from.
struct ContainerLayer {
  ImageRecord image;
  ImageConfig config;
  std::vector<snapshot::Mount> mounts;
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
  // Resolves `nameOrId` and prepares the active snapshot `key` on its top layer in one step, so that no
  // removal of the image comes between the two.
  Result<ContainerLayer> prepareContainer(const std::string& nameOrId, const std::string& key,
                                          const snapshot::Labels& labels, db::Sync sync);
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
  // Layers unpacked while their blob streamed in (load, diff-storing snapshotters), before the image config
  // said where they go: blob digest hex -> active snapshot, rebased and committed by ensureLayer.
  struct Speculative {
    std::string key;
    Digest diffId;
    int64_t tarSize = 0;
    std::optional<Error> error;
    bool used = false;
  };
  using SpeculativeMap = std::map<std::string, Speculative>;
  // Unpacks (or finds) the layers of an image; the config's DiffIDs are checked. Nothing is durable yet.
  Result<std::vector<LayerRecord>> unpackLayers(const ImageConfig& cfg,
                                                const std::vector<LayerSource>& layers,
                                                SpeculativeMap* speculative);
  // One layer; `diffId` empty when unknown (import): then it is computed and the layer keyed by it.
  Result<LayerRecord> ensureLayer(const LayerSource& src, const Digest& diffId, const Digest& parentChain,
                                  SpeculativeMap* speculative);
  // Makes every unpacked file durable (syncfs), then records the image and its tags in one transaction.
  Result<Digest> recordImage(const Digest& configDigest, const ImageConfig& cfg,
                             const std::vector<LayerRecord>& layers, const std::vector<std::string>& tags);

  // The streamed layers of one load/import; on destruction removes the snapshots of those no image used.
  class SpeculativeScope {
   public:
    explicit SpeculativeScope(ImageService& s) : s_(s) {}
    ~SpeculativeScope();
    SpeculativeScope(const SpeculativeScope&) = delete;
    SpeculativeScope& operator=(const SpeculativeScope&) = delete;
    SpeculativeMap layers;

   private:
    ImageService& s_;
  };
  // Unpacks a layer into a new active snapshot `key` while its bytes stream in (first chunk given, the rest
  // from readMore), writing and hashing its blob into `w` on a second thread. A layer that fails to unpack
  // comes back with `error` set (it matters only if an image uses it); a read error fails the call.
  Result<Speculative> streamUnpack(const std::string& key, BlobWriter& w, const char* first, size_t firstLen,
                                   bool plainTar, const std::function<long(char*, size_t)>& readMore,
                                   const std::string& readErr);
  // What a load has read of its archive (archive_io.cc): its files by path, their blobs, its links.
  struct ArchiveFiles;
  // An image a load found in its archive, its layers unpacked, not recorded yet.
  struct LoadedImage;
  // Reads every entry of archive `a` into `f`: a regular file into the content store's ingest (a layer is
  // unpacked while it streams in), a small one also kept as text; links are noted.
  Result<void> readArchive(::archive* a, ArchiveFiles& f, SpeculativeMap& speculative);
  Result<void> readArchiveFile(::archive* a, const std::string& path, int64_t size, ArchiveFiles& f,
                               SpeculativeMap& speculative);
  // The images named by docker save's manifest.json and by an OCI layout's index.json, layers unpacked.
  Result<std::vector<LoadedImage>> dockerArchiveImages(ArchiveFiles& f, const std::string& manifest,
                                                       SpeculativeMap& speculative);
  Result<std::vector<LoadedImage>> ociLayoutImages(ArchiveFiles& f, const std::string& index,
                                                   SpeculativeMap& speculative);
  // Under gc_ held exclusively.
  Result<void> collectGarbage(RemoveReport* report);
  // A fresh name for an active snapshot a load or import unpacks into (several may run at once).
  static std::string extractKey(const char* kind);
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
  // Shared by loads, imports and saves for their length; exclusive for removals and prunes.
  std::shared_mutex gc_;
  std::atomic<int> ingests_{0};  // loads and imports in flight
};

// ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
Digest chainId(const Digest& parentChain, const Digest& diffId);

}  // namespace berth::image
