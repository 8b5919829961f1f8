// ImageService::load (docker-archive and OCI image-layout archives) and ImageService::import.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <sys/stat.h>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "base/fd.h"
#include "base/file.h"
#include "base/log.h"
#include "image/reference.h"
#include "image/service.h"
#include "image/unpack.h"

namespace berth::image {
namespace {

using nlohmann::json;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

constexpr uint64_t kKeepInMemory = 4 << 20;  // small files (manifests, configs) are also kept as text

std::string lexicalJoin(const std::string& dir, const std::string& rel) {
  std::vector<std::string> parts;
  for (auto& p : split(dir + "/" + rel, '/')) {
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (parts.empty()) return "";
      parts.pop_back();
      continue;
    }
    parts.push_back(p);
  }
  std::string out;
  for (auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

std::string blobMediaType(const std::string& path, bool oci) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  unsigned char m[8] = {};
  ssize_t n = fd ? ::read(fd.get(), m, sizeof m) : 0;
  switch (detectCompression(m, n > 0 ? static_cast<size_t>(n) : 0)) {
    case Compression::Gzip:
      return oci ? media::kOciLayerGzip : media::kDockerLayer;
    case Compression::Zstd:
      return media::kOciLayerZstd;
    default:
      return oci ? media::kOciLayer : "application/vnd.docker.image.rootfs.diff.tar";
  }
}

std::string hostArch() {
  struct utsname u;
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

std::vector<std::string> jsonOrShell(const std::string& args, bool shell) {
  auto j = json::parse(args, nullptr, false);
  if (j.is_array()) {
    std::vector<std::string> v;
    bool ok = true;
    for (auto& x : j) {
      if (!x.is_string())
        ok = false;
      else
        v.push_back(x.get<std::string>());
    }
    if (ok) return v;
  }
  if (shell) return {"/bin/sh", "-c", args};
  std::vector<std::string> v;
  for (auto& w : split(args, ' '))
    if (!w.empty()) v.push_back(w);
  return v;
}

// docker import --change: the Dockerfile instructions that only touch the image config.
Result<void> applyChange(json& cfg, const std::string& change) {
  std::string c = trim(change);
  size_t sp = c.find_first_of(" \t");
  std::string instr = c.substr(0, sp), args = sp == std::string::npos ? "" : trim(c.substr(sp + 1));
  for (auto& ch : instr) ch = static_cast<char>(toupper(ch));
  if (args.empty()) return invalid("--change \"" + change + "\": " + instr + " needs an argument");
  if (instr == "CMD") {
    cfg["Cmd"] = jsonOrShell(args, true);
  } else if (instr == "ENTRYPOINT") {
    cfg["Entrypoint"] = jsonOrShell(args, true);
  } else if (instr == "ENV") {
    if (!cfg.contains("Env")) cfg["Env"] = json::array();
    std::vector<std::pair<std::string, std::string>> kv;
    if (args.find('=') == std::string::npos || args.find('=') > args.find(' ')) {
      size_t s = args.find(' ');
      if (s == std::string::npos) return invalid("--change \"" + change + "\": ENV needs a value");
      kv.push_back({args.substr(0, s), trim(args.substr(s + 1))});
    } else {
      for (auto& w : split(args, ' ')) {
        if (w.empty()) continue;
        size_t e = w.find('=');
        if (e == std::string::npos) return invalid("--change \"" + change + "\": ENV expects KEY=VALUE");
        std::string v = w.substr(e + 1);
        if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
          v = v.substr(1, v.size() - 2);
        kv.push_back({w.substr(0, e), v});
      }
    }
    for (auto& [k, v] : kv) {
      json env = json::array();
      for (auto& e : cfg["Env"])
        if (!e.get<std::string>().starts_with(k + "=")) env.push_back(e);
      env.push_back(k + "=" + v);
      cfg["Env"] = env;
    }
  } else if (instr == "WORKDIR") {
    cfg["WorkingDir"] = args;
  } else if (instr == "USER") {
    cfg["User"] = args;
  } else if (instr == "STOPSIGNAL") {
    cfg["StopSignal"] = args;
  } else if (instr == "EXPOSE") {
    for (auto& p : split(args, ' ')) {
      if (p.empty()) continue;
      cfg["ExposedPorts"][p.find('/') == std::string::npos ? p + "/tcp" : p] = json::object();
    }
  } else if (instr == "VOLUME") {
    for (auto& v : jsonOrShell(args, false)) cfg["Volumes"][v] = json::object();
  } else if (instr == "LABEL") {
    for (auto& w : split(args, ' ')) {
      if (w.empty()) continue;
      size_t e = w.find('=');
      if (e == std::string::npos) return invalid("--change \"" + change + "\": LABEL expects key=value");
      std::string v = w.substr(e + 1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      cfg["Labels"][w.substr(0, e)] = v;
    }
  } else {
    return invalid(
        "--change \"" + change + "\": " + instr +
        " is not supported (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)");
  }
  return {};
}

// Writes (and hashes) a blob on a thread of its own while the caller unpacks the same bytes: the layer's
// two consumers run on two cores. Chunks are handed over in a small ring of buffers.
class AsyncBlobSink {
 public:
  explicit AsyncBlobSink(BlobWriter& w)
      : w_(w), bufs_(kBuffers, std::vector<char>(kSize)), busy_(kBuffers, false) {
    t_ = std::thread([this] { loop(); });
  }
  ~AsyncBlobSink() { (void)finish(); }
  static constexpr size_t kSize = 1 << 20;
  // A free buffer to read the next chunk into.
  char* acquire() {
    std::unique_lock lock(m_);
    next_ = (next_ + 1) % kBuffers;
    cv_.wait(lock, [&] { return !busy_[next_]; });
    return bufs_[next_].data();
  }
  void submit(size_t len) {
    if (len == 0) return;
    std::lock_guard lock(m_);
    busy_[next_] = true;
    q_.push_back({next_, len});
    cv_.notify_all();
  }
  Result<void> finish() {
    if (t_.joinable()) {
      {
        std::lock_guard lock(m_);
        stop_ = true;
      }
      cv_.notify_all();
      t_.join();
    }
    if (err_) return std::unexpected(*err_);
    return {};
  }

 private:
  static constexpr size_t kBuffers = 4;
  void loop() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;
      auto [idx, len] = q_.front();
      q_.pop_front();
      lock.unlock();
      if (!err_) {
        auto r = w_.write(bufs_[idx].data(), len);
        if (!r) err_ = r.error();
      }
      lock.lock();
      busy_[idx] = false;
      cv_.notify_all();
    }
  }
  BlobWriter& w_;
  std::vector<std::vector<char>> bufs_;
  std::vector<bool> busy_;
  std::deque<std::pair<size_t, size_t>> q_;
  size_t next_ = kBuffers - 1;
  bool stop_ = false;
  std::optional<Error> err_;
  std::mutex m_;
  std::condition_variable cv_;
  std::thread t_;
};

}  // namespace

ImageService::SpeculativeScope::~SpeculativeScope() {
  for (auto& [k, sp] : layers)
    if (!sp.used) (void)s_.snap_->remove(sp.key);
}

Result<ImageService::Speculative> ImageService::streamUnpack(
    const std::string& key, BlobWriter& w, const char* first, size_t firstLen, bool plainTar,
    const std::function<long(char*, size_t)>& readMore, const std::string& readErr) {
  TRYV(snap_->prepare(key, ""));
  Speculative sp;
  sp.key = key;
  bool firstPending = true;
  AsyncBlobSink sink(w);
  LayerReader reader = [&](const void** out) -> long {
    if (firstPending) {
      firstPending = false;
      *out = first;
      return static_cast<long>(firstLen);
    }
    char* chunk = sink.acquire();
    long n = readMore(chunk, AsyncBlobSink::kSize);
    if (n < 0) return -1;
    sink.submit(static_cast<size_t>(n));
    *out = chunk;
    return n;
  };
  TRY(std::string dir, snap_->writableDir(key));
  UnpackOptions uo;
  uo.whiteouts = snap_->storesDiffs() ? Whiteouts::Overlay : Whiteouts::Apply;
  uo.hash = !plainTar;  // a plain tar's DiffID is its blob digest (the caller fills it in)
  auto stats = unpackLayerFrom(reader, dir, uo);
  if (!readErr.empty()) return invalid(readErr);
  if (stats) {
    sp.tarSize = static_cast<int64_t>(stats->tarSize);
    if (!plainTar) sp.diffId = stats->diffId;
  } else {
    sp.error = stats.error();
    const void* rest;
    while (reader(&rest) > 0) {  // the blob must be complete whatever the layer held
    }
    if (!readErr.empty()) return invalid(readErr);
  }
  TRYV(sink.finish());
  return sp;
}

struct ImageService::ArchiveFiles {
  std::map<std::string, Digest> files;
  std::map<std::string, std::string> text, links;
  std::map<std::string, std::string>
      sourceOf;  // digest hex -> readable path (ingest temp file or stored blob)
  std::map<std::string, int64_t> sizes;
  std::set<std::string> ingested;    // digests hex of the blobs this load wrote
  std::set<std::string> referenced;  // digests hex of the blobs the loaded images use
  // Blobs stay in their ingest files, written back in the background, until every layer is unpacked; then
  // one syncfs makes all of them durable before any is renamed into place (ContentStore::commitAll).
  std::vector<BlobWriter> pending;
  std::vector<char> buf = std::vector<char>(1 << 20);

  // A path through the archive's links to a file (at most 16 of them).
  std::optional<std::string> resolve(std::string p) const {
    for (int i = 0; i < 16; ++i) {
      if (files.count(p)) return p;
      auto l = links.find(p);
      if (l == links.end()) return std::nullopt;
      p = l->second;
    }
    return std::nullopt;
  }
  Result<Digest> blobAt(const std::string& p, const char* what) const {
    auto r = resolve(lexicalJoin("", p));
    if (!r) return invalid(std::string("the archive's ") + what + " " + p + " is missing");
    return files.at(*r);
  }
  Result<std::string> readBlob(const Digest& d) const {
    auto it = sourceOf.find(d.hex());
    if (it == sourceOf.end()) return invalid("the archive does not contain blob " + d.str());
    // Manifests, indexes and configs are read whole: a huge one named by the archive is refused, not loaded.
    if (sizes.at(d.hex()) > static_cast<int64_t>(kKeepInMemory))
      return invalid("blob " + d.str() + " is " + std::to_string(sizes.at(d.hex())) +
                     " bytes, too large for an image manifest or config");
    return readFile(it->second);
  }
  Result<LayerSource> source(const Digest& d, const std::string& mediaType) const {
    auto it = sourceOf.find(d.hex());
    if (it == sourceOf.end()) return invalid("the archive does not contain layer " + d.str());
    return LayerSource{d, mediaType.empty() ? blobMediaType(it->second, false) : mediaType, it->second,
                       sizes.at(d.hex())};
  }
};

struct ImageService::LoadedImage {
  Digest config;
  ImageConfig cfg;
  std::vector<LayerRecord> layers;
  std::vector<std::string> tags;
};

Result<void> ImageService::readArchive(::archive* a, ArchiveFiles& f, SpeculativeMap& speculative) {
  for (;;) {
    archive_entry* e;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) return {};
    if (r < ARCHIVE_WARN) {
      const char* err = archive_error_string(a);
      return invalid(std::string("reading the image archive: ") + (err ? err : "truncated or corrupt"));
    }
    TRY(std::string path, cleanTarPath(archive_entry_pathname(e), "archive entry"));
    if (const char* hl = archive_entry_hardlink(e)) {
      TRY(std::string target, cleanTarPath(hl, "archive hardlink"));
      f.links[path] = target;
      continue;
    }
    auto type = archive_entry_filetype(e);
    if (type == AE_IFLNK) {
      std::string dir = path.find('/') == std::string::npos ? "" : path.substr(0, path.rfind('/'));
      const char* t = archive_entry_symlink(e);
      std::string target = t && t[0] != '/' ? lexicalJoin(dir, t) : "";
      if (target.empty()) return invalid("archive entry " + path + ": symlink leaves the archive");
      f.links[path] = target;
      continue;
    }
    if (type == AE_IFREG) TRYV(readArchiveFile(a, path, archive_entry_size(e), f, speculative));
  }
}

Result<void> ImageService::readArchiveFile(::archive* a, const std::string& path, int64_t size,
                                           ArchiveFiles& f, SpeculativeMap& speculative) {
  std::optional<Digest> expected;
  if (path.starts_with("blobs/sha256/")) {
    auto d = Digest::parse("sha256:" + path.substr(13));
    if (!d) return invalid("archive entry " + path + ": not a sha256 blob name");
    expected = *d;
  }
  auto readError = [&] {
    const char* err = archive_error_string(a);
    return "archive entry " + path + ": " + (err ? err : "read error");
  };
  TRY(BlobWriter w, content_->writer());
  std::string keep;
  bool small = size <= static_cast<int64_t>(kKeepInMemory);
  char* buf = f.buf.data();
  la_ssize_t first = archive_read_data(a, buf, f.buf.size());
  if (first < 0) return invalid(readError());
  TRYV(w.write(buf, static_cast<size_t>(first)));
  bool compressed = detectCompression(buf, static_cast<size_t>(first)) != Compression::None;
  bool tar = !compressed && startsLikeTar(buf, static_cast<size_t>(first));
  std::optional<Speculative> spec;
  if (snap_->storesDiffs() && (compressed || tar)) {
    // A layer: unpack it while it streams in (one pass over the data, no second read of the blob).
    std::string key = extractKey("stream-");
    speculative[key].key = key;  // owned for clean-up until it is keyed by digest below
    std::string readErr;
    auto readMore = [&](char* chunk, size_t cap) -> long {
      la_ssize_t n = archive_read_data(a, chunk, cap);
      if (n < 0) readErr = readError();
      return static_cast<long>(n);
    };
    TRY(spec, streamUnpack(key, w, buf, static_cast<size_t>(first), tar, readMore, readErr));
  } else {
    if (small && first > 0) keep.append(buf, static_cast<size_t>(first));
    for (la_ssize_t n = first; n > 0;) {
      n = archive_read_data(a, buf, f.buf.size());
      if (n < 0) return invalid(readError());
      if (n == 0) break;
      TRYV(w.write(buf, static_cast<size_t>(n)));
      if (small) keep.append(buf, static_cast<size_t>(n));
    }
  }
  const Digest& d = w.digest();
  if (expected && d != *expected)
    return invalid("archive entry " + path + ": blob digest mismatch: the content hashes to " + d.str());
  f.files[path] = d;
  f.sizes[d.hex()] = static_cast<int64_t>(w.size());
  if (spec) {
    std::string streamKey = spec->key;
    speculative.erase(streamKey);
    if (tar && !spec->error) spec->diffId = d;
    if (speculative.count(d.hex()))
      (void)snap_->remove(streamKey);  // the same blob twice in one archive
    else
      speculative[d.hex()] = std::move(*spec);
  }
  if (content_->has(d)) {
    f.sourceOf[d.hex()] = content_->blobPath(d);
  } else if (!f.sourceOf.count(d.hex())) {
    f.sourceOf[d.hex()] = w.tempPath();
    f.ingested.insert(d.hex());
    f.pending.push_back(std::move(w));
  }
  if (small) f.text[path] = std::move(keep);
  return {};
}

Result<std::vector<ImageService::LoadedImage>> ImageService::dockerArchiveImages(
    ArchiveFiles& f, const std::string& manifest, SpeculativeMap& speculative) {
  auto j = json::parse(f.text[manifest], nullptr, false);
  if (!j.is_array()) return invalid("manifest.json: not a JSON array");
  std::vector<LoadedImage> out;
  for (size_t i = 0; i < j.size(); ++i) {
    auto& item = j[i];
    std::string at = "manifest.json: [" + std::to_string(i) + "]";
    if (!item.is_object() || !item.contains("Config") || !item["Config"].is_string() ||
        !item.contains("Layers") || !item["Layers"].is_array())
      return invalid(at + ": needs Config (string) and Layers (array)");
    TRY(Digest cfgDigest, f.blobAt(item["Config"].get<std::string>(), "config"));
    TRY(std::string cfgText, f.readBlob(cfgDigest));
    auto cfg = parseImageConfig(cfgText);
    if (!cfg) return std::unexpected(cfg.error().context(at + ": config"));
    std::vector<LayerSource> layers;
    for (auto& l : item["Layers"]) {
      if (!l.is_string()) return invalid(at + ".Layers: entries must be strings");
      TRY(Digest ld, f.blobAt(l.get<std::string>(), "layer"));
      TRY(LayerSource src, f.source(ld, ""));
      layers.push_back(std::move(src));
    }
    std::vector<std::string> tags;
    if (item.contains("RepoTags") && item["RepoTags"].is_array())
      for (auto& t : item["RepoTags"]) {
        if (!t.is_string()) continue;
        auto r = parseReference(t.get<std::string>());
        if (!r) return std::unexpected(r.error().context(at + ".RepoTags"));
        tags.push_back(r->str());
      }
    auto recs = unpackLayers(*cfg, layers, &speculative);
    if (!recs) return std::unexpected(recs.error().context(at));
    f.referenced.insert(cfgDigest.hex());
    for (auto& l : layers) f.referenced.insert(l.blob.hex());
    out.push_back({cfgDigest, std::move(*cfg), std::move(*recs), tags});
  }
  return out;
}

Result<std::vector<ImageService::LoadedImage>> ImageService::ociLayoutImages(ArchiveFiles& f,
                                                                             const std::string& index,
                                                                             SpeculativeMap& speculative) {
  TRY(Index idx, parseIndex(f.text[index]));
  std::vector<LoadedImage> out;
  for (auto& desc : idx.manifests) {
    Descriptor md = desc;
    TRY(std::string doc, f.readBlob(md.digest));
    TRY(DocumentKind kind, documentKind(doc));
    if (kind == DocumentKind::Index) {
      TRY(Index nested, parseIndex(doc));
      f.referenced.insert(md.digest.hex());
      TRY(md, selectPlatform(nested, "linux", hostArch()));
      TRY(doc, f.readBlob(md.digest));
    }
    TRY(Manifest man, parseManifest(doc));
    TRY(std::string cfgText, f.readBlob(man.config.digest));
    TRY(ImageConfig cfg, parseImageConfig(cfgText));
    std::vector<LayerSource> layers;
    for (auto& l : man.layers) {
      TRY(LayerSource src, f.source(l.digest, l.mediaType));
      layers.push_back(std::move(src));
    }
    std::vector<std::string> tags;
    std::string name;
    if (auto a1 = desc.annotations.find("io.containerd.image.name"); a1 != desc.annotations.end())
      name = a1->second;
    else if (auto a2 = desc.annotations.find("org.opencontainers.image.ref.name");
             a2 != desc.annotations.end()) {
      // A bare tag ("latest") names no repository: the image stays untagged, as docker does.
      if (a2->second.find_first_of("/:") != std::string::npos) name = a2->second;
    }
    if (!name.empty()) {
      auto r = parseReference(name);
      if (r) tags.push_back(r->str());
    }
    TRY(auto recs, unpackLayers(cfg, layers, &speculative));
    f.referenced.insert(md.digest.hex());
    f.referenced.insert(man.config.digest.hex());
    for (auto& l : layers) f.referenced.insert(l.blob.hex());
    out.push_back({man.config.digest, std::move(cfg), std::move(recs), tags});
  }
  return out;
}

Result<std::vector<std::string>> ImageService::load(int fd) {
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_bzip2(a.get());
  if (archive_read_open_fd(a.get(), fd, 1 << 20) != ARCHIVE_OK)
    return invalid("reading the image archive: " + archiveErrorOf(a.get()));

  std::shared_lock gc(gc_);  // what this load stores is referenced by no image until its end
  ++ingests_;
  Defer done([&] { --ingests_; });
  BackgroundFlusher flusher(content_->root());
  SpeculativeScope scope(*this);
  ArchiveFiles f;
  TRYV(readArchive(a.get(), f, scope.layers));
  std::vector<LoadedImage> loaded;
  if (auto m = f.resolve("manifest.json"); m && f.text.count(*m)) {
    TRY(loaded, dockerArchiveImages(f, *m, scope.layers));
  } else if (auto ix = f.resolve("index.json"); ix && f.text.count(*ix)) {
    TRY(loaded, ociLayoutImages(f, *ix, scope.layers));
  } else {
    return invalid(
        "not an image archive: it has neither manifest.json (docker save) nor index.json (OCI layout)");
  }
  // Durable blobs (one syncfs), then the metadata of each image (recordImage syncs the unpacked layers).
  TRYV(content_->commitAll(f.pending));
  std::vector<std::string> out;
  for (auto& l : loaded) {
    TRY(Digest id, recordImage(l.config, l.cfg, l.layers, l.tags));
    for (auto& t : l.tags) {
      auto r = parseReference(t);
      out.push_back("Loaded image: " + (r ? r->familiar() : t));
    }
    if (l.tags.empty()) out.push_back("Loaded image ID: " + id.str());
  }
  // Blobs of this load that no image uses (docker's v1 json files, VERSION, repositories). Left, while other
  // loads run (one of them may be about to use such a blob), to the next removal's or prune's collection.
  if (ingests_ > 1) return out;
  TRY(auto images, list());
  for (auto& img : images) {
    f.referenced.insert(img.id.hex());
    for (auto& l : img.layers) f.referenced.insert(l.blob.hex());
  }
  for (auto& h : f.ingested)
    if (!f.referenced.count(h)) (void)content_->remove(Digest::fromHex(h));
  return out;
}

Result<Digest> ImageService::import(int fd, const ImportOptions& opts) {
  json cfg = json::object();
  for (auto& c : opts.changes) TRYV(applyChange(cfg, c));
  std::vector<std::string> tags;
  if (!opts.reference.empty()) {
    auto r = parseReference(opts.reference);
    if (!r) return std::unexpected(r.error().context("invalid reference format \"" + opts.reference + "\""));
    if (r->digest) return invalid("import: a tag cannot be a digest reference: " + opts.reference);
    tags.push_back(r->str());
  }
  std::shared_lock gc(gc_);
  ++ingests_;
  Defer done([&] { --ingests_; });
  BackgroundFlusher flusher(content_->root());
  std::vector<BlobWriter> pending;
  SpeculativeScope scope(*this);
  auto& speculative = scope.layers;
  TRY(BlobWriter w, content_->writer());
  std::vector<char> first(1 << 20);
  ssize_t firstLen;
  do {
    firstLen = ::read(fd, first.data(), first.size());
  } while (firstLen < 0 && errno == EINTR);
  if (firstLen < 0) return sysFail("reading the import tarball");
  TRYV(w.write(first.data(), static_cast<size_t>(firstLen)));
  size_t head = static_cast<size_t>(firstLen);
  bool plain =
      detectCompression(first.data(), head) == Compression::None && startsLikeTar(first.data(), head);
  std::string readErr;
  auto readMore = [&](char* chunk, size_t cap) -> long {
    for (;;) {
      ssize_t n = ::read(fd, chunk, cap);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) readErr = std::string("reading the import tarball: ") + std::strerror(errno);
      return static_cast<long>(n);
    }
  };
  // The tarball is unpacked while it is read; its blob is written and hashed on a second thread.
  std::string key = extractKey("import-");
  speculative[key].key = key;
  auto sp = streamUnpack(key, w, first.data(), static_cast<size_t>(firstLen), plain, readMore, readErr);
  if (!sp) return std::unexpected(sp.error().context("import"));
  speculative.erase(key);
  Digest blob = w.digest();
  if (plain && !sp->error) sp->diffId = blob;
  speculative[blob.hex()] = std::move(*sp);
  LayerSource src{blob, blobMediaType(w.tempPath(), false), w.tempPath(), static_cast<int64_t>(w.size())};
  pending.push_back(std::move(w));
  auto rec = ensureLayer(src, Digest(), Digest(), &speculative);
  if (!rec) return std::unexpected(rec.error().context("import"));
  std::string now = log::nowRfc3339();
  json history = {{"created", now}, {"comment", opts.message.empty() ? "Imported from -" : opts.message}};
  json image = {{"architecture", opts.platformArch.empty() ? hostArch() : opts.platformArch},
                {"os", "linux"},
                {"created", now},
                {"config", cfg},
                {"rootfs", {{"type", "layers"}, {"diff_ids", json::array({rec->diffId.str()})}}},
                {"history", json::array({history})}};
  std::string cfgText = image.dump();
  TRY(ImageConfig parsed, parseImageConfig(cfgText));
  {
    TRY(BlobWriter cw, content_->writer());
    TRYV(cw.write(cfgText.data(), cfgText.size()));
    cw.digest();
    pending.push_back(std::move(cw));
  }
  Digest cfgDigest = pending.back().digest();
  TRYV(content_->commitAll(pending));
  TRY(Digest id, recordImage(cfgDigest, parsed, {*rec}, tags));
  return id;
}

}  // namespace berth::image
