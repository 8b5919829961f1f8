// ImageService::save: docker-archive (manifest.json, repositories) and OCI image-layout archives.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>

#include "base/fd.h"
#include "image/reference.h"
#include "image/service.h"

namespace berth::image {
namespace {

using nlohmann::json;

struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

class TarOut {
 public:
  Result<void> open(int fd) {
    a_.reset(archive_write_new());
    if (!a_) return fail("libarchive: out of memory");
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_in_last_block(a_.get(), 1);
    if (archive_write_open_fd(a_.get(), fd) != ARCHIVE_OK) return err("opening the output");
    return {};
  }
  Result<void> dir(const std::string& path) { return header(path, AE_IFDIR, 0755, 0); }
  Result<void> text(const std::string& path, const std::string& data) {
    TRYV(header(path, AE_IFREG, 0644, static_cast<int64_t>(data.size())));
    if (archive_write_data(a_.get(), data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
      return err("writing " + path);
    return {};
  }
  Result<void> file(const std::string& path, const std::string& src) {
    UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return sysFail("opening " + src);
    struct stat st;
    if (::fstat(in.get(), &st) < 0) return sysFail("stat " + src);
    TRYV(header(path, AE_IFREG, 0644, st.st_size));
    std::vector<char> buf(1 << 20);
    for (;;) {
      ssize_t n = ::read(in.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return sysFail("reading " + src);
      if (n == 0) break;
      if (archive_write_data(a_.get(), buf.data(), static_cast<size_t>(n)) != n)
        return err("writing " + path);
    }
    return {};
  }
  Result<void> close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return err("finishing the archive");
    return {};
  }

 private:
  Result<void> header(const std::string& path, unsigned type, unsigned mode, int64_t size) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, size);
    archive_entry_set_mtime(e, 0, 0);
    int r = archive_write_header(a_.get(), e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK) return err("writing " + path);
    return {};
  }
  Result<void> err(const std::string& what) {
    const char* m = archive_error_string(a_.get());
    return fail(what + ": " + (m ? m : "write error"));
  }
  std::unique_ptr<archive, WriteDeleter> a_;
};

std::string ociLayerType(const std::string& mediaType) {
  if (mediaType.find("zstd") != std::string::npos) return media::kOciLayerZstd;
  if (mediaType.find("gzip") != std::string::npos) return media::kOciLayerGzip;
  return media::kOciLayer;
}

// An image to save and the names it goes by in the archive: the familiar forms of the references asked for,
// or all its tags when it was named by ID; an image named twice is one item.
struct SaveItem {
  ImageRecord img;
  std::vector<std::string> tags;
};

Result<std::vector<SaveItem>> saveItems(ImageService& s, const std::vector<std::string>& refs) {
  std::vector<SaveItem> items;
  for (auto& r : refs) {
    TRY(ImageRecord img, s.resolve(r));
    std::vector<std::string> tags;
    auto ref = parseReference(r);
    bool byTag = false;
    if (ref)
      for (auto& t : img.tags)
        if (t == ref->str()) byTag = true;
    if (byTag) {
      tags.push_back(ref->familiar());
    } else {
      for (auto& t : img.tags) {
        auto p = parseReference(t);
        tags.push_back(p ? p->familiar() : t);
      }
    }
    bool merged = false;
    for (auto& it : items)
      if (it.img.id == img.id) {
        for (auto& t : tags) it.tags.push_back(t);
        merged = true;
      }
    if (!merged) items.push_back({std::move(img), std::move(tags)});
  }
  return items;
}

}  // namespace

Result<void> ImageService::save(const std::vector<std::string>& refs, int fd, SaveFormat format) {
  if (refs.empty()) return invalid("save: name at least one image");
  std::shared_lock gc(gc_);  // no removal deletes a blob while it is written out
  TRY(std::vector<SaveItem> items, saveItems(*this, refs));
  TarOut out;
  TRYV(out.open(fd));
  std::set<std::string> written;
  json manifest = json::array();
  json index = {{"schemaVersion", 2}, {"mediaType", media::kOciIndex}, {"manifests", json::array()}};
  json repositories = json::object();
  if (format == SaveFormat::Oci) {
    TRYV(out.text("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
    TRYV(out.dir("blobs/"));
    TRYV(out.dir("blobs/sha256/"));
  }
  auto blob = [&](const Digest& d) -> Result<std::string> {
    std::string path = "blobs/sha256/" + d.hex();
    if (written.insert(path).second) TRYV(out.file(path, content_->blobPath(d)));
    return path;
  };
  for (auto& it : items) {
    json layerPaths = json::array();
    std::string cfgPath;
    if (format == SaveFormat::Oci) {
      TRY(cfgPath, blob(it.img.id));
      json layers = json::array();
      for (auto& l : it.img.layers) {
        TRY(std::string p, blob(l.blob));
        layerPaths.push_back(p);
        layers.push_back(
            {{"mediaType", ociLayerType(l.mediaType)}, {"digest", l.blob.str()}, {"size", l.blobSize}});
      }
      TRY(uint64_t cfgSize, content_->size(it.img.id));
      json man = {
          {"schemaVersion", 2},
          {"mediaType", media::kOciManifest},
          {"config", {{"mediaType", media::kOciConfig}, {"digest", it.img.id.str()}, {"size", cfgSize}}},
          {"layers", layers}};
      std::string manText = man.dump();
      Digest manDigest = Sha256::of(manText);
      std::string manPath = "blobs/sha256/" + manDigest.hex();
      if (written.insert(manPath).second) TRYV(out.text(manPath, manText));
      auto entry = [&](const std::string* tag) {
        json d = {{"mediaType", media::kOciManifest}, {"digest", manDigest.str()}, {"size", manText.size()}};
        if (tag) {
          auto r = parseReference(*tag);
          d["annotations"] = {{"io.containerd.image.name", r ? r->str() : *tag},
                              {"org.opencontainers.image.ref.name", r ? r->tag : *tag}};
        }
        index["manifests"].push_back(d);
      };
      if (it.tags.empty()) entry(nullptr);
      for (auto& t : it.tags) entry(&t);
    } else {
      cfgPath = it.img.id.hex() + ".json";
      if (written.insert(cfgPath).second) TRYV(out.file(cfgPath, content_->blobPath(it.img.id)));
      std::string parent;
      for (auto& l : it.img.layers) {
        std::string dir = l.chainId.hex();
        if (written.insert(dir).second) {
          TRYV(out.dir(dir + "/"));
          TRYV(out.text(dir + "/VERSION", "1.0"));
          json v1 = {{"id", dir}, {"created", "1970-01-01T00:00:00Z"}};
          if (!parent.empty()) v1["parent"] = parent;
          TRYV(out.text(dir + "/json", v1.dump()));
          TRYV(out.file(dir + "/layer.tar", content_->blobPath(l.blob)));
        }
        layerPaths.push_back(dir + "/layer.tar");
        parent = dir;
      }
      for (auto& t : it.tags) {
        auto r = parseReference(t);
        if (r && !parent.empty()) repositories[r->familiarName()][r->tag] = parent;
      }
    }
    json tagList = json::array();
    for (auto& t : it.tags) tagList.push_back(t);
    manifest.push_back({{"Config", cfgPath},
                        {"RepoTags", it.tags.empty() ? json(nullptr) : tagList},
                        {"Layers", layerPaths}});
  }
  if (format == SaveFormat::Oci) TRYV(out.text("index.json", index.dump()));
  TRYV(out.text("manifest.json", manifest.dump()));
  if (format == SaveFormat::Docker && !repositories.empty())
    TRYV(out.text("repositories", repositories.dump()));
  return out.close();
}

}  // namespace berth::image
