#include "image/manifest.h"

#include "base/json_bounded.h"

#include <nlohmann/json.hpp>

namespace berth::image {

using nlohmann::json;

namespace {

struct Doc {
  std::string what;  // "manifest", "index", "image config"
  Result<void> err(const std::string& path, const std::string& msg) const {
    return invalid(what + ": " + (path.empty() ? "" : path + ": ") + msg);
  }
};

std::string join(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "." + b;
}

// Bounded as docker's registry client bounds manifests (4 MiB); configs may carry a long history.
Result<json> parse(const std::string& text, const std::string& what) {
  TRY(json j,
      parseJsonBounded(text, JsonLimits{.maxDepth = 128, .maxValues = 1'000'000, .maxBytes = 16 << 20},
                       what + ": invalid JSON"));
  if (!j.is_object()) return invalid(what + ": the document must be a JSON object");
  return j;
}

Result<void> str(const Doc& d, const json& o, const char* key, const std::string& path, std::string& out,
                 bool required = false) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) {
    if (required) return d.err(join(path, key), "is required");
    return {};
  }
  if (!it->is_string()) return d.err(join(path, key), "must be a string");
  out = it->get<std::string>();
  return {};
}

Result<void> strList(const Doc& d, const json& o, const char* key, const std::string& path,
                     std::vector<std::string>& out, bool* present = nullptr) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (present) *present = true;
  if (it->is_string()) {  // docker accepts "Cmd": "sh" in old configs
    out = {it->get<std::string>()};
    return {};
  }
  if (!it->is_array()) return d.err(join(path, key), "must be an array of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string())
      return d.err(join(path, key) + "[" + std::to_string(i) + "]", "must be a string");
    out.push_back((*it)[i].get<std::string>());
  }
  return {};
}

Result<void> strMap(const Doc& d, const json& o, const char* key, const std::string& path,
                    std::map<std::string, std::string>& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (!it->is_object()) return d.err(join(path, key), "must be an object");
  for (auto& [k, v] : it->items()) {
    if (!v.is_string()) return d.err(join(join(path, key), k), "must be a string");
    out[k] = v.get<std::string>();
  }
  return {};
}

// {"80/tcp": {}} → ["80/tcp"]
Result<void> keySet(const Doc& d, const json& o, const char* key, const std::string& path,
                    std::vector<std::string>& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (!it->is_object()) return d.err(join(path, key), "must be an object");
  for (auto& [k, v] : it->items()) out.push_back(k);
  return {};
}

Result<Descriptor> descriptor(const Doc& d, const json& o, const std::string& path) {
  if (!o.is_object()) return std::unexpected(d.err(path, "must be an object").error());
  Descriptor desc;
  TRYV(str(d, o, "mediaType", path, desc.mediaType));
  std::string digest;
  TRYV(str(d, o, "digest", path, digest, true));
  auto dg = Digest::parse(digest);
  if (!dg) return std::unexpected(d.err(join(path, "digest"), dg.error().message()).error());
  desc.digest = *dg;
  auto sz = o.find("size");
  if (sz == o.end() || !sz->is_number_integer() || sz->get<int64_t>() < 0)
    return std::unexpected(d.err(join(path, "size"), "must be a non-negative integer").error());
  desc.size = sz->get<int64_t>();
  if (auto p = o.find("platform"); p != o.end() && !p->is_null()) {
    if (!p->is_object()) return std::unexpected(d.err(join(path, "platform"), "must be an object").error());
    Platform pl;
    std::string pp = join(path, "platform");
    TRYV(str(d, *p, "os", pp, pl.os));
    TRYV(str(d, *p, "architecture", pp, pl.architecture));
    TRYV(str(d, *p, "variant", pp, pl.variant));
    TRYV(str(d, *p, "os.version", pp, pl.osVersion));
    desc.platform = pl;
  }
  TRYV(strMap(d, o, "annotations", path, desc.annotations));
  return desc;
}

Result<void> schemaVersion(const Doc& d, const json& j) {
  auto it = j.find("schemaVersion");
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() != 2)
    return d.err("schemaVersion", "must be 2 (schema 1 manifests are not supported)");
  return {};
}

}  // namespace

bool isLayerMediaType(const std::string& m) {
  return m == media::kDockerLayer || m == media::kOciLayer || m == media::kOciLayerGzip ||
         m == media::kOciLayerZstd || m == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" ||
         m == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
}

Result<DocumentKind> documentKind(const std::string& text) {
  TRY(json j, parse(text, "manifest"));
  std::string mt;
  TRYV(str(Doc{"manifest"}, j, "mediaType", "", mt));
  if (mt == media::kDockerManifestList || mt == media::kOciIndex) return DocumentKind::Index;
  if (mt == media::kDockerManifest || mt == media::kOciManifest) return DocumentKind::Manifest;
  if (!mt.empty()) return invalid("manifest: mediaType: unsupported \"" + mt + "\"");
  if (j.contains("manifests")) return DocumentKind::Index;
  if (j.contains("layers") || j.contains("config")) return DocumentKind::Manifest;
  return invalid("manifest: neither an image manifest nor an index");
}

namespace {

// schemaVersion 2 and a mediaType that is the Docker or the OCI one (OCI documents may omit it).
Result<std::string> header(const Doc& d, const json& j, const char* docker, const char* oci,
                           const char* kind) {
  TRYV(schemaVersion(d, j));
  std::string mt;
  TRYV(str(d, j, "mediaType", "", mt));
  if (mt.empty()) mt = oci;
  if (mt != docker && mt != oci)
    return std::unexpected(d.err("mediaType", std::string("not ") + kind + ": \"" + mt + "\"").error());
  return mt;
}

// An array of descriptors, at most 1000 of them (untrusted documents).
Result<std::vector<Descriptor>> descriptors(const Doc& d, const json& j, const char* key, bool required) {
  std::vector<Descriptor> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return std::unexpected(d.err(key, "must be an array").error());
    return out;
  }
  if (!it->is_array()) return std::unexpected(d.err(key, "must be an array").error());
  if (it->size() > 1000) return std::unexpected(d.err(key, "more than 1000 entries").error());
  for (size_t i = 0; i < it->size(); ++i) {
    TRY(Descriptor desc, descriptor(d, (*it)[i], std::string(key) + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(desc));
  }
  return out;
}

}  // namespace

Result<Manifest> parseManifest(const std::string& text) {
  Doc d{"manifest"};
  TRY(json j, parse(text, d.what));
  Manifest m;
  TRY(m.mediaType, header(d, j, media::kDockerManifest, media::kOciManifest, "an image manifest"));
  auto c = j.find("config");
  if (c == j.end()) return std::unexpected(d.err("config", "is required").error());
  TRY(m.config, descriptor(d, *c, "config"));
  TRY(m.layers, descriptors(d, j, "layers", false));
  TRYV(strMap(d, j, "annotations", "", m.annotations));
  return m;
}

Result<Index> parseIndex(const std::string& text) {
  Doc d{"index"};
  TRY(json j, parse(text, d.what));
  Index idx;
  TRY(idx.mediaType, header(d, j, media::kDockerManifestList, media::kOciIndex, "an index"));
  TRY(idx.manifests, descriptors(d, j, "manifests", true));
  return idx;
}

Result<ImageConfig> parseImageConfig(const std::string& text) {
  Doc d{"image config"};
  TRY(json j, parse(text, d.what));
  ImageConfig c;
  TRYV(str(d, j, "architecture", "", c.architecture));
  TRYV(str(d, j, "os", "", c.os));
  TRYV(str(d, j, "variant", "", c.variant));
  TRYV(str(d, j, "created", "", c.created));
  TRYV(str(d, j, "author", "", c.author));
  if (auto cfg = j.find("config"); cfg != j.end() && !cfg->is_null()) {
    if (!cfg->is_object()) return std::unexpected(d.err("config", "must be an object").error());
    auto& o = *cfg;
    TRYV(str(d, o, "User", "config", c.config.user));
    TRYV(str(d, o, "WorkingDir", "config", c.config.workingDir));
    TRYV(str(d, o, "StopSignal", "config", c.config.stopSignal));
    TRYV(strList(d, o, "Env", "config", c.config.env));
    TRYV(strList(d, o, "Entrypoint", "config", c.config.entrypoint, &c.config.entrypointSet));
    TRYV(strList(d, o, "Cmd", "config", c.config.cmd, &c.config.cmdSet));
    TRYV(keySet(d, o, "ExposedPorts", "config", c.config.exposedPorts));
    TRYV(keySet(d, o, "Volumes", "config", c.config.volumes));
    TRYV(strMap(d, o, "Labels", "config", c.config.labels));
    if (auto hc = o.find("Healthcheck"); hc != o.end() && !hc->is_null()) {
      if (!hc->is_object()) return std::unexpected(d.err("config.Healthcheck", "must be an object").error());
      auto& h = c.config.healthcheck;
      h.set = true;
      TRYV(strList(d, *hc, "Test", "config.Healthcheck", h.test));
      for (auto [key, field] :
           {std::pair{"Interval", &h.interval}, std::pair{"Timeout", &h.timeout},
            std::pair{"StartPeriod", &h.startPeriod}, std::pair{"StartInterval", &h.startInterval}}) {
        auto v = hc->find(key);
        if (v == hc->end() || v->is_null()) continue;
        if (!v->is_number_integer() || v->get<int64_t>() < 0)
          return std::unexpected(
              d.err(std::string("config.Healthcheck.") + key, "must be a duration in nanoseconds").error());
        *field = v->get<int64_t>();
      }
      if (auto v = hc->find("Retries"); v != hc->end() && !v->is_null()) {
        if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > 1000000)
          return std::unexpected(
              d.err("config.Healthcheck.Retries", "must be a small non-negative integer").error());
        h.retries = static_cast<int>(v->get<int64_t>());
      }
    }
  }
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object())
    return std::unexpected(d.err("rootfs", "is required").error());
  std::string type;
  TRYV(str(d, *rootfs, "type", "rootfs", type, true));
  if (type != "layers") return std::unexpected(d.err("rootfs.type", "must be \"layers\"").error());
  auto ids = rootfs->find("diff_ids");
  if (ids != rootfs->end() && !ids->is_null()) {
    if (!ids->is_array()) return std::unexpected(d.err("rootfs.diff_ids", "must be an array").error());
    for (size_t i = 0; i < ids->size(); ++i) {
      std::string p = "rootfs.diff_ids[" + std::to_string(i) + "]";
      if (!(*ids)[i].is_string()) return std::unexpected(d.err(p, "must be a string").error());
      auto dg = Digest::parse((*ids)[i].get<std::string>());
      if (!dg) return std::unexpected(d.err(p, dg.error().message()).error());
      c.diffIds.push_back(*dg);
    }
  }
  if (auto h = j.find("history"); h != j.end() && !h->is_null()) {
    if (!h->is_array()) return std::unexpected(d.err("history", "must be an array").error());
    for (size_t i = 0; i < h->size(); ++i) {
      std::string p = "history[" + std::to_string(i) + "]";
      auto& e = (*h)[i];
      if (!e.is_object()) return std::unexpected(d.err(p, "must be an object").error());
      HistoryEntry he;
      TRYV(str(d, e, "created", p, he.created));
      TRYV(str(d, e, "created_by", p, he.createdBy));
      TRYV(str(d, e, "author", p, he.author));
      TRYV(str(d, e, "comment", p, he.comment));
      if (auto el = e.find("empty_layer"); el != e.end() && !el->is_null()) {
        if (!el->is_boolean()) return std::unexpected(d.err(p + ".empty_layer", "must be a boolean").error());
        he.emptyLayer = el->get<bool>();
      }
      c.history.push_back(std::move(he));
    }
  }
  return c;
}

Result<Descriptor> selectPlatform(const Index& index, const std::string& os, const std::string& arch,
                                  const std::string& variant) {
  std::string offered;
  for (auto& m : index.manifests) {
    if (!m.platform) continue;
    auto& p = *m.platform;
    offered += (offered.empty() ? "" : ", ") + p.os + "/" + p.architecture +
               (p.variant.empty() ? "" : "/" + p.variant);
    if (p.os == os && p.architecture == arch && (variant.empty() || p.variant == variant)) return m;
  }
  return fail(ErrorCategory::NotFound, "no manifest for " + os + "/" + arch + " in the index (it has: " +
                                           (offered.empty() ? "none with a platform" : offered) + ")");
}

}  // namespace berth::image
