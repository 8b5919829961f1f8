#include "image/service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/fd.h"
#include "base/file.h"
#include "base/random_id.h"
#include "image/reference.h"
#include "image/unpack.h"

namespace berth::image {

namespace {

constexpr std::string_view kSchemaV1 = R"(
CREATE TABLE images (
  id TEXT PRIMARY KEY,
  created TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL,
  loaded_at INTEGER NOT NULL
);
CREATE TABLE image_layers (
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  diff_id TEXT NOT NULL,
  chain_id TEXT NOT NULL,
  blob TEXT NOT NULL,
  blob_size INTEGER NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (image_id, idx)
);
CREATE INDEX image_layers_chain ON image_layers(chain_id);
CREATE TABLE tags (
  ref TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX tags_image ON tags(image_id);
)";

constexpr const char* kExtractPrefix = "extract-";

std::string layerKey(const Digest& chain) {
  return chain.str();
}

}  // namespace

Digest chainId(const Digest& parentChain, const Digest& diffId) {
  if (parentChain.empty()) return diffId;
  return Sha256::of(parentChain.str() + " " + diffId.str());
}

Result<std::unique_ptr<ImageService>> ImageService::open(const ServiceOptions& opts) {
  std::unique_ptr<ImageService> s(new ImageService());
  TRYV(mkdirAll(opts.root, 0710));
  s->root_ = opts.root;
  TRY(auto db, db::Database::open(opts.root + "/metadata.db"));
  s->db_.emplace(std::move(db));
  TRYV(s->db_->migrate("images", {kSchemaV1}));
  TRY(auto cs, ContentStore::open(opts.root + "/content"));
  s->content_.emplace(std::move(cs));
  TRY(s->snap_, snapshot::open(opts.driver, *s->db_, opts.root + "/" + opts.driver));
  // Layers a killed load was unpacking.
  TRY(auto snaps, s->snap_->list());
  for (auto& i : snaps)
    if (i.kind == snapshot::Kind::Active && i.key.starts_with(kExtractPrefix)) (void)s->snap_->remove(i.key);
  return s;
}

std::string ImageService::extractKey(const char* kind) {
  return std::string(kExtractPrefix) + kind + randomHexId().substr(0, 16);
}

Result<LayerRecord> ImageService::ensureLayer(const LayerSource& src, const Digest& diffId,
                                              const Digest& parentChain, SpeculativeMap* speculative) {
  LayerRecord rec;
  rec.blob = src.blob;
  rec.mediaType = src.mediaType;
  rec.blobSize = src.size;
  auto existing = [&](const Digest& chain) -> std::optional<int64_t> {
    auto st = snap_->stat(layerKey(chain));
    if (!st || st->kind != snapshot::Kind::Committed) return std::nullopt;
    auto size = st->labels.find("berth.layer.size");
    return size == st->labels.end() ? 0 : static_cast<int64_t>(parseUint(size->second).value_or(0));
  };
  if (!diffId.empty()) {
    rec.diffId = diffId;
    rec.chainId = chainId(parentChain, diffId);
    if (auto size = existing(rec.chainId)) {
      rec.size = *size;
      return rec;
    }
  }
  if (speculative) {
    auto it = speculative->find(src.blob.hex());
    if (it != speculative->end() && !it->second.used) {
      auto& sp = it->second;
      if (sp.error) return std::unexpected(Error(*sp.error).context("unpacking layer " + src.blob.str()));
      if (!diffId.empty() && sp.diffId != diffId)
        return invalid("layer " + src.blob.str() + " has DiffID " + sp.diffId.str() +
                       " but the image config says " + diffId.str());
      rec.diffId = sp.diffId;
      rec.chainId = chainId(parentChain, sp.diffId);
      rec.size = sp.tarSize;
      // The check and the commit as one: another load may be committing the same layer.
      auto held = db_->lock();
      if (auto size = existing(rec.chainId)) {
        rec.size = *size;
        return rec;
      }
      if (!parentChain.empty()) TRYV(snap_->rebase(sp.key, layerKey(parentChain)));
      TRYV(snap_->commit(layerKey(rec.chainId), sp.key, {{"berth.layer.size", std::to_string(sp.tarSize)}}));
      sp.used = true;
      return rec;
    }
  }
  std::string active = extractKey("");
  TRYV(snap_->prepare(active, parentChain.empty() ? "" : layerKey(parentChain)));
  bool committed = false;
  Defer drop([&] {
    if (!committed) (void)snap_->remove(active);
  });
  TRY(std::string dir, snap_->writableDir(active));
  UniqueFd fd(::open(src.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sysFail("opening layer blob " + src.blob.str());
  UnpackOptions uo;
  uo.whiteouts = snap_->storesDiffs() ? Whiteouts::Overlay : Whiteouts::Apply;
  // An uncompressed blob's digest is its DiffID: no second hash of the same bytes.
  unsigned char magic[8] = {};
  bool plain = ::pread(fd.get(), magic, sizeof magic, 0) == sizeof magic &&
               detectCompression(magic, sizeof magic) == Compression::None;
  bool knownPlain = plain && (diffId.empty() || diffId == src.blob);
  uo.hash = !knownPlain;
  auto stats = unpackLayer(fd.get(), dir, uo);
  if (!stats) return std::unexpected(stats.error().context("unpacking layer " + src.blob.str()));
  Digest got = knownPlain ? src.blob : stats->diffId;
  if (!diffId.empty() && got != diffId)
    return invalid("layer " + src.blob.str() + " has DiffID " + got.str() + " but the image config says " +
                   diffId.str());
  rec.diffId = got;
  rec.chainId = chainId(parentChain, got);
  rec.size = static_cast<int64_t>(stats->tarSize);
  // The same content imported before, or committed by another load meanwhile: ours is dropped.
  auto held = db_->lock();
  if (auto size = existing(rec.chainId)) {
    rec.size = *size;
    return rec;
  }
  TRYV(snap_->commit(layerKey(rec.chainId), active, {{"berth.layer.size", std::to_string(stats->tarSize)}}));
  committed = true;
  return rec;
}

Result<std::vector<LayerRecord>> ImageService::unpackLayers(const ImageConfig& cfg,
                                                            const std::vector<LayerSource>& layers,
                                                            SpeculativeMap* speculative) {
  // docker's bound (its layer store's maxLayerDepth): deeper chains are refused before anything unpacks.
  constexpr size_t kMaxLayers = 125;
  if (layers.size() > kMaxLayers)
    return invalid("max depth exceeded: the image has " + std::to_string(layers.size()) +
                   " layers, at most " + std::to_string(kMaxLayers) + " are supported");
  if (cfg.diffIds.size() != layers.size())
    return invalid("the image config lists " + std::to_string(cfg.diffIds.size()) +
                   " layers but the manifest has " + std::to_string(layers.size()));
  std::vector<LayerRecord> out;
  Digest parent;
  for (size_t i = 0; i < layers.size(); ++i) {
    TRY(LayerRecord l, ensureLayer(layers[i], cfg.diffIds[i], parent, speculative));
    parent = l.chainId;
    out.push_back(std::move(l));
  }
  return out;
}

Result<Digest> ImageService::recordImage(const Digest& configDigest, const ImageConfig& cfg,
                                         const std::vector<LayerRecord>& layers,
                                         const std::vector<std::string>& tags) {
  // The unpacked files (written back meanwhile) reach the disk before any metadata points at them.
  UniqueFd sfd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (sfd && ::syncfs(sfd.get()) < 0) return sysFail("syncing " + root_);
  int64_t size = 0;
  for (auto& l : layers) size += l.size;
  auto held = db_->lock();
  TRY(auto tx, db::Transaction::begin(*db_));
  TRY(auto ins,
      db_->prepare("INSERT OR IGNORE INTO images (id, created, size, loaded_at) VALUES (?, ?, ?, ?)"));
  TRYV(ins.bind(1, configDigest.str())
           .bind(2, cfg.created)
           .bind(3, size)
           .bind(4, static_cast<int64_t>(::time(nullptr)))
           .run());
  TRY(auto del, db_->prepare("DELETE FROM image_layers WHERE image_id = ?"));
  TRYV(del.bind(1, configDigest.str()).run());
  TRY(auto il,
      db_->prepare(
          "INSERT INTO image_layers (image_id, idx, diff_id, chain_id, blob, blob_size, media_type, size) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  for (size_t i = 0; i < layers.size(); ++i) {
    auto& l = layers[i];
    TRYV(il.bind(1, configDigest.str())
             .bind(2, static_cast<int64_t>(i))
             .bind(3, l.diffId.str())
             .bind(4, l.chainId.str())
             .bind(5, l.blob.str())
             .bind(6, l.blobSize)
             .bind(7, l.mediaType)
             .bind(8, l.size)
             .run());
  }
  TRY(auto tg, db_->prepare("INSERT OR REPLACE INTO tags (ref, image_id) VALUES (?, ?)"));
  for (auto& t : tags) TRYV(tg.bind(1, t).bind(2, configDigest.str()).run());
  TRYV(tx.commit());
  return configDigest;
}

Result<std::vector<std::string>> ImageService::tagsOf(const Digest& id) {
  auto held = db_->lock();
  TRY(auto q, db_->prepare("SELECT ref FROM tags WHERE image_id = ? ORDER BY ref"));
  q.bind(1, id.str());
  std::vector<std::string> out;
  for (;;) {
    TRY(bool row, q.step());
    if (!row) break;
    out.push_back(q.text(0));
  }
  return out;
}

Result<std::vector<ImageRecord>> ImageService::list() {
  auto held = db_->lock();
  TRY(auto q, db_->prepare("SELECT id, created, size, loaded_at FROM images ORDER BY created DESC, id"));
  std::vector<ImageRecord> out;
  for (;;) {
    TRY(bool row, q.step());
    if (!row) break;
    TRY(ImageRecord r, recordOf(q));
    out.push_back(std::move(r));
  }
  for (auto& r : out) TRYV(addTagsAndLayers(r));
  return out;
}

Result<ImageRecord> ImageService::recordOf(db::Statement& row) {
  ImageRecord r;
  TRY(r.id, Digest::parse(row.text(0)));
  r.created = row.text(1);
  r.size = row.integer(2);
  r.loadedAt = row.integer(3);
  return r;
}

Result<void> ImageService::addTagsAndLayers(ImageRecord& r) {
  auto held = db_->lock();
  TRY(r.tags, tagsOf(r.id));
  TRY(auto l, db_->prepare("SELECT diff_id, chain_id, blob, blob_size, media_type, size FROM image_layers "
                           "WHERE image_id = ? ORDER BY idx"));
  l.bind(1, r.id.str());
  for (;;) {
    TRY(bool row, l.step());
    if (!row) break;
    LayerRecord lr;
    TRY(lr.diffId, Digest::parse(l.text(0)));
    TRY(lr.chainId, Digest::parse(l.text(1)));
    TRY(lr.blob, Digest::parse(l.text(2)));
    lr.blobSize = l.integer(3);
    lr.mediaType = l.text(4);
    lr.size = l.integer(5);
    r.layers.push_back(std::move(lr));
  }
  return {};
}

// One image by a lookup of its own (a create resolves its image: listing every image cost two statements per
// image in the store).
Result<ImageRecord> ImageService::resolve(const std::string& nameOrId) {
  auto held = db_->lock();
  std::string s = nameOrId;
  // An ID, full or a prefix of at least one hex digit ("sha256:" optional), wins over a name.
  std::string hex = s.starts_with("sha256:") ? s.substr(7) : s;
  bool hexOnly =
      !hex.empty() && hex.size() <= 64 && hex.find_first_not_of("0123456789abcdef") == std::string::npos;
  auto found = [&](db::Statement& q) -> Result<ImageRecord> {
    TRY(ImageRecord r, recordOf(q));
    TRYV(addTagsAndLayers(r));
    return r;
  };
  if (hexOnly) {
    // The IDs that start with sha256:<hex> sort from it to just before sha256:<hex>g ('g' follows every hex
    // digit).
    TRY(auto q,
        db_->prepare("SELECT id, created, size, loaded_at FROM images WHERE id >= ? AND id < ? LIMIT 2"));
    q.bind(1, "sha256:" + hex).bind(2, "sha256:" + hex + "g");
    TRY(bool row, q.step());
    if (row) {
      TRY(ImageRecord r, found(q));
      TRY(bool another, q.step());
      if (another) return invalid("image ID prefix " + s + " is ambiguous");
      return r;
    }
  }
  if (auto ref = parseReference(s)) {
    TRY(auto q,
        db_->prepare("SELECT i.id, i.created, i.size, i.loaded_at FROM tags t JOIN images i ON i.id = "
                     "t.image_id WHERE t.ref = ?"));
    q.bind(1, ref->str());
    TRY(bool row, q.step());
    if (row) return found(q);
  }
  return fail(ErrorCategory::NotFound, "No such image: " + nameOrId);
}

Result<ContainerLayer> ImageService::prepareContainer(const std::string& nameOrId, const std::string& key,
                                                      const snapshot::Labels& labels, db::Sync sync) {
  auto held = db_->lock();
  TRY(ImageRecord img, resolve(nameOrId));
  TRY(ImageConfig cfg, config(img.id));
  std::string parent = img.layers.empty() ? "" : layerKey(img.layers.back().chainId);
  auto mounts = snap_->prepare(key, parent, labels, sync);
  if (!mounts) return std::unexpected(mounts.error().context("preparing the container's filesystem"));
  return ContainerLayer{std::move(img), std::move(cfg), std::move(*mounts)};
}

Result<std::string> ImageService::configJson(const Digest& id) {
  return content_->read(id, 16 << 20);
}

Result<ImageConfig> ImageService::config(const Digest& id) {
  TRY(std::string text, configJson(id));
  return parseImageConfig(text);
}

Result<void> ImageService::tag(const std::string& source, const std::string& target) {
  TRY(ImageRecord img, resolve(source));
  auto ref = parseReference(target);
  if (!ref) return std::unexpected(ref.error().context("invalid reference format \"" + target + "\""));
  if (ref->digest) return invalid("refusing to create a tag with a digest reference: " + target);
  auto held = db_->lock();
  TRY(auto tx, db::Transaction::begin(*db_));
  TRY(auto q, db_->prepare("INSERT OR REPLACE INTO tags (ref, image_id) VALUES (?, ?)"));
  TRYV(q.bind(1, ref->str()).bind(2, img.id.str()).run());
  return tx.commit();
}

bool ImageService::usedByContainer(const ImageRecord& img) {
  if (img.layers.empty()) return false;
  std::string top = layerKey(img.layers.back().chainId);
  auto snaps = snap_->list();
  if (!snaps) return false;
  for (auto& s : *snaps)
    if (s.kind == snapshot::Kind::Active && s.key.starts_with("container-") && s.parent == top) return true;
  return false;
}

Result<RemoveReport> ImageService::remove(const std::string& nameOrId, bool force,
                                          const std::function<bool(const Digest&)>& inUse) {
  std::unique_lock gc(gc_);
  TRY(ImageRecord img, resolve(nameOrId));
  RemoveReport rep;
  auto ref = parseReference(nameOrId);
  std::string asRef = ref ? ref->str() : "";
  bool byTag = false;
  for (auto& t : img.tags)
    if (t == asRef) byTag = true;
  // The caller's answer first, without the connection's lock (it may take locks of its own, which their
  // holders may hold while they use the snapshotter).
  bool used = inUse && inUse(img.id);
  auto held = db_->lock();
  // As it is now: a tag may have come, gone or moved meanwhile.
  TRY(ImageRecord now, resolve(nameOrId));
  if (now.id != img.id)
    return fail(ErrorCategory::Conflict, "conflict: " + nameOrId + " was retagged during its removal");
  img = std::move(now);
  if (byTag != std::any_of(img.tags.begin(), img.tags.end(), [&](auto& t) { return t == asRef; }))
    return fail(ErrorCategory::Conflict, "conflict: " + nameOrId + " was retagged during its removal");
  TRY(auto tx, db::Transaction::begin(*db_));
  if (byTag && img.tags.size() > 1) {  // one of several names: only the name goes (even while in use)
    TRY(auto d, db_->prepare("DELETE FROM tags WHERE ref = ?"));
    TRYV(d.bind(1, asRef).run());
    TRYV(tx.commit());
    rep.untagged.push_back(ref->familiar());
    return rep;
  }
  if ((used || usedByContainer(img)) && !force)
    return fail(ErrorCategory::Conflict, "conflict: unable to remove repository reference \"" + nameOrId +
                                             "\" (must force) - container is using its referenced image " +
                                             img.id.hex().substr(0, 12));
  if (!byTag && img.tags.size() > 1 && !force)
    return fail(ErrorCategory::Conflict,
                "conflict: unable to delete " + img.id.hex().substr(0, 12) +
                    " (must be forced) - image is referenced in multiple repositories");
  for (auto& t : img.tags) {
    auto r = parseReference(t);
    rep.untagged.push_back(r ? r->familiar() : t);
  }
  TRY(auto d, db_->prepare("DELETE FROM images WHERE id = ?"));
  TRYV(d.bind(1, img.id.str()).run());
  TRYV(tx.commit());
  rep.deleted.push_back(img.id.str());
  TRYV(collectGarbage(&rep));
  return rep;
}

Result<RemoveReport> ImageService::prune(bool all, const std::function<bool(const Digest&)>& inUse) {
  std::unique_lock gc(gc_);
  TRY(auto images, list());
  std::map<std::string, bool> used;  // by ID, asked without the connection's lock (see remove)
  for (auto& img : images) used[img.id.str()] = inUse && inUse(img.id);
  auto held = db_->lock();
  // As they are now: an image tagged meanwhile is no longer dangling, one that came meanwhile was not asked.
  TRY(images, list());
  RemoveReport rep;
  for (auto& img : images) {
    if (!img.tags.empty() && !all) continue;
    auto asked = used.find(img.id.str());
    if (asked == used.end() || asked->second || usedByContainer(img)) continue;
    TRY(auto tx, db::Transaction::begin(*db_));
    TRY(auto d, db_->prepare("DELETE FROM images WHERE id = ?"));
    TRYV(d.bind(1, img.id.str()).run());
    TRYV(tx.commit());
    for (auto& t : img.tags) {
      auto r = parseReference(t);
      rep.untagged.push_back(r ? r->familiar() : t);
    }
    rep.deleted.push_back(img.id.str());
  }
  TRYV(collectGarbage(&rep));
  return rep;
}

Result<std::string> ImageService::mount(const std::string& nameOrId) {
  auto held = db_->lock();
  TRY(ImageRecord img, resolve(nameOrId));
  if (img.layers.empty()) return invalid("image " + nameOrId + " has no layers");
  std::string target = root_ + "/mounts/" + img.id.hex();
  TRYV(mkdirAll(target, 0700));
  std::string key = "mount-" + img.id.hex();
  if (!snap_->stat(key)) TRYV(snap_->view(key, layerKey(img.layers.back().chainId)));
  TRY(auto mounts, snap_->mounts(key));
  (void)snapshot::unmountAll(target);
  if (auto r = snapshot::mountAll(mounts, target); !r) {  // mountAll undoes its own partial work
    (void)snap_->remove(key);
    ::rmdir(target.c_str());
    return std::unexpected(r.error());
  }
  return target;
}

Result<void> ImageService::unmount(const std::string& nameOrId) {
  auto held = db_->lock();
  TRY(ImageRecord img, resolve(nameOrId));
  std::string target = root_ + "/mounts/" + img.id.hex();
  TRYV(snapshot::unmountAll(target));
  ::rmdir(target.c_str());
  std::string key = "mount-" + img.id.hex();
  if (snap_->stat(key)) TRYV(snap_->remove(key));
  return {};
}

Result<void> ImageService::collectGarbage(RemoveReport* report) {
  TRY(auto images, list());
  std::set<std::string> chains, blobs;
  for (auto& img : images) {
    blobs.insert(img.id.hex());
    for (auto& l : img.layers) {
      chains.insert(layerKey(l.chainId));
      blobs.insert(l.blob.hex());
    }
  }
  // Layers: remove the unreferenced ones from the top of each chain down (a parent goes once its
  // children are gone).
  for (bool progress = true; progress;) {
    progress = false;
    TRY(auto snaps, snap_->list());
    std::set<std::string> parents;
    for (auto& s : snaps)
      if (!s.parent.empty()) parents.insert(s.parent);
    for (auto& s : snaps) {
      if (s.kind != snapshot::Kind::Committed || !s.key.starts_with("sha256:")) continue;
      if (chains.count(s.key) || parents.count(s.key)) continue;
      if (snap_->remove(s.key)) {
        if (report) report->deleted.push_back(s.key);
        progress = true;
      }
    }
  }
  TRY(auto stored, content_->list());
  for (auto& d : stored)
    if (!blobs.count(d.hex())) (void)content_->remove(d);
  return {};
}

Result<DiskUsage> ImageService::diskUsage(const std::function<bool(const Digest&)>& inUse) {
  DiskUsage u;
  TRY(auto images, list());
  std::set<std::string> seen;
  for (auto& img : images) {
    u.images++;
    bool used = (inUse && inUse(img.id)) || usedByContainer(img);  // (no lock held here)
    if (used) u.activeImages++;
    for (auto& l : img.layers) {
      if (!seen.insert(l.chainId.str()).second) continue;
      u.imagesSize += l.size;
      u.layers++;
    }
    if (!used) u.reclaimable += img.size;
  }
  TRY(auto blobs, content_->list());
  for (auto& b : blobs)
    if (auto s = content_->size(b)) u.blobsSize += static_cast<int64_t>(*s);
  return u;
}

}  // namespace berth::image
