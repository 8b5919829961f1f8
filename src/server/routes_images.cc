// /images/...: list, inspect, history, tag, delete, prune, load, save (get), import (create with fromSrc).
#include <fcntl.h>
#include <unistd.h>

#include <ctime>
#include <vector>

#include "base/file.h"
#include "base/log.h"
#include "image/reference.h"
#include "server/http.h"

namespace berth::server {

using nlohmann::json;

namespace {

// An unlinked file under the data root (not /tmp: archives are as large as images).
Result<UniqueFd> tempFile(const std::string& dataRoot) {
  std::string dir = dataRoot + "/tmp";
  TRYV(mkdirAll(dir, 0700));
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) return sysFail("creating a temporary file in " + dir);
  return fd;
}

// The request body of a streaming route in a temporary file, read back from its start.
Result<UniqueFd> spoolBody(Request& req, const std::string& dataRoot) {
  TRY(UniqueFd fd, tempFile(dataRoot));
  std::vector<char> buf(1 << 16);
  for (;;) {
    long n = req.readBody(buf.data(), buf.size());
    if (n < 0) return fail(ErrorCategory::InvalidArgument, "reading the request body failed");
    if (n == 0) break;
    for (size_t off = 0; off < static_cast<size_t>(n);) {
      ssize_t w = ::write(fd.get(), buf.data() + off, static_cast<size_t>(n) - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return sysFail("spooling the request body");
      off += static_cast<size_t>(w);
    }
  }
  if (::lseek(fd.get(), 0, SEEK_SET) < 0) return sysFail("lseek");
  return fd;
}

int64_t unixOf(const std::string& rfc3339) {
  return log::parseRfc3339Ns(rfc3339).value_or(0) / 1000000000;
}

json familiarTags(const image::ImageRecord& img) {
  json tags = json::array();
  for (auto& t : img.tags)
    if (auto r = image::parseReference(t)) tags.push_back(r->familiar());
  return tags;
}

}  // namespace

namespace {
// Go's path.Match for the reference filter: '*' (not across '/'), '?', literal characters. The pattern comes
// from the client: matched by dynamic programming (O(pattern x name)), never by backtracking, which a
// pattern of many stars would make exponential.
bool globMatch(const std::string& pat, const std::string& s) {
  // row[j]: pat[i:] matches s[j:], computed from the pattern's end backwards.
  std::vector<char> row(s.size() + 1, 0), next(s.size() + 1, 0);
  next[s.size()] = 1;
  for (size_t i = pat.size(); i-- > 0;) {
    row.assign(s.size() + 1, 0);
    for (size_t j = s.size() + 1; j-- > 0;) {
      if (pat[i] == '*')
        row[j] = next[j] || (j < s.size() && s[j] != '/' && row[j + 1]);
      else
        row[j] = j < s.size() && (pat[i] == '?' ? s[j] != '/' : pat[i] == s[j]) && next[j + 1];
    }
    std::swap(row, next);
  }
  return next[0];
}
void listImages(engine::Engine& e, Request& req, Responder& r) {
  auto f = parseFilters(req.queryStr("filters"));
  if (!f) return r.error(f.error());
  auto list = e.images().list();
  if (!list) return r.error(list.error());
  json out = json::array();
  for (auto& img : *list) {
    bool dangling = img.tags.empty();
    if (f->count("dangling")) {
      bool want = (*f)["dangling"].empty() || (*f)["dangling"][0] == "true" || (*f)["dangling"][0] == "1";
      if (want != dangling) continue;
    }
    json tags = familiarTags(img);
    if (f->count("reference")) {
      // docker: the image matches when one of its references does (path.Match globs on "repo" or
      // "repo:tag"), and only the matching tags are listed.
      json kept = json::array();
      for (auto& t : tags) {
        std::string tag = t.get<std::string>();
        std::string repo = tag.substr(0, tag.rfind(':'));
        for (auto& pat : (*f)["reference"])
          if (globMatch(pat, tag) || globMatch(pat, repo)) {
            kept.push_back(t);
            break;
          }
      }
      if (kept.empty()) continue;
      tags = kept;
    }
    json labels = json::object();
    if (auto cfg = e.images().config(img.id))
      for (auto& [k, v] : cfg->config.labels) labels[k] = v;
    out.push_back({{"Id", img.id.str()},
                   {"ParentId", ""},
                   {"RepoTags", tags},
                   {"RepoDigests", json::array()},
                   {"Created", unixOf(img.created)},
                   {"Size", img.size},
                   {"SharedSize", -1},
                   {"VirtualSize", img.size},
                   {"Labels", labels},
                   {"Containers", -1}});
  }
  r.json(200, out);
}

void inspectImage(engine::Engine& e, Request& req, Responder& r) {
  auto img = e.images().resolve(req.params[0]);
  if (!img) return r.error(Error(ErrorCategory::NotFound, "No such image: " + req.params[0]));
  auto text = e.images().configJson(img->id);
  if (!text) return r.error(text.error());
  auto cfg = json::parse(*text, nullptr, false);
  if (cfg.is_discarded()) cfg = json::object();
  json layers = json::array();
  for (auto& l : img->layers) layers.push_back(l.diffId.str());
  json graph = {{"Name", e.options().driver}, {"Data", nullptr}};
  // docker's Comment: the last history entry's (docker import -m)
  std::string comment;
  if (cfg.contains("history") && cfg["history"].is_array() && !cfg["history"].empty() &&
      cfg["history"].back().is_object())
    comment = cfg["history"].back().value("comment", "");
  json out = {{"Id", img->id.str()},
              {"RepoTags", familiarTags(*img)},
              {"RepoDigests", json::array()},
              {"Parent", ""},
              {"Comment", comment},
              {"Created", cfg.value("created", img->created)},
              {"DockerVersion", cfg.value("docker_version", "")},
              {"Author", cfg.value("author", "")},
              {"Config", cfg.value("config", json::object())},
              {"Architecture", cfg.value("architecture", "")},
              {"Os", cfg.value("os", "linux")},
              {"Size", img->size},
              {"VirtualSize", img->size},
              {"GraphDriver", graph},
              {"RootFS", {{"Type", "layers"}, {"Layers", layers}}},
              {"Metadata", {{"LastTagTime", "0001-01-01T00:00:00Z"}}}};
  // The building container's Container and ContainerConfig, which API 1.45 dropped: docker-compose 1.29
  // reads ContainerConfig.Volumes when it recreates a container and fails with a KeyError without it
  // (against dockerd 25+ too, since it negotiates the daemon's newest version). Kept at every version.
  out["Container"] = cfg.value("container", "");
  out["ContainerConfig"] = cfg.value("container_config", cfg.value("config", json::object()));
  r.json(200, out);
}

void imageHistory(engine::Engine& e, Request& req, Responder& r) {
  auto img = e.images().resolve(req.params[0]);
  if (!img) return r.error(Error(ErrorCategory::NotFound, "No such image: " + req.params[0]));
  auto cfg = e.images().config(img->id);
  if (!cfg) return r.error(cfg.error());
  json out = json::array();
  size_t layer = img->layers.size();
  for (auto it = cfg->history.rbegin(); it != cfg->history.rend(); ++it) {
    int64_t size = 0;
    bool top = it == cfg->history.rbegin();
    if (!it->emptyLayer && layer > 0) size = img->layers[--layer].size;
    out.push_back({{"Id", top ? img->id.str() : "<missing>"},
                   {"Created", unixOf(it->created)},
                   {"CreatedBy", it->createdBy},
                   {"Tags", top ? familiarTags(*img) : json(nullptr)},
                   {"Size", size},
                   {"Comment", it->comment}});
  }
  r.json(200, out);
}

void removeImage(engine::Engine& e, Request& req, Responder& r) {
  auto report = e.images().remove(req.params[0], req.queryBool("force"),
                                  [&e](const image::Digest& d) { return e.imageInUse(d); });
  if (!report) {
    if (report.error().category() == ErrorCategory::NotFound)
      return r.error(Error(ErrorCategory::NotFound, "No such image: " + req.params[0]));
    return r.error(report.error());
  }
  json out = json::array();
  for (auto& u : report->untagged) {
    out.push_back({{"Untagged", u}});
    e.emit("image", "untag", u, {{"name", u}});
  }
  for (auto& d : report->deleted) {
    out.push_back({{"Deleted", d}});
    e.emit("image", "delete", d, {{"name", d}});
  }
  r.json(200, out);
}

// list, inspect, history, tag, remove.
void addImageQueryRoutes(Router& router, engine::Engine& e) {
  router.add("GET", "/images/json", [&e](Request& req, Responder& r) { listImages(e, req, r); });

  router.add("GET", "/images/(.+)/json", [&e](Request& req, Responder& r) { inspectImage(e, req, r); });

  router.add("GET", "/images/(.+)/history", [&e](Request& req, Responder& r) { imageHistory(e, req, r); });

  router.add("POST", "/images/(.+)/tag", [&e](Request& req, Responder& r) {
    std::string repo = req.queryStr("repo"), tag = req.queryStr("tag");
    if (repo.empty())
      return r.error(
          Error(ErrorCategory::InvalidArgument, "repository name must have at least one component"));
    auto t = e.images().tag(req.params[0], tag.empty() ? repo : repo + ":" + tag);
    if (!t) return r.error(t.error());
    std::string target = tag.empty() ? repo : repo + ":" + tag;
    e.emit("image", "tag", req.params[0], {{"name", target}});
    r.text(201, "", "");
  });

  router.add("DELETE", "/images/(.+)", [&e](Request& req, Responder& r) { removeImage(e, req, r); });
}

void createImage(engine::Engine& e, Request& req, Responder& r) {
  std::string from = req.queryStr("fromImage");
  std::string src = req.queryStr("fromSrc");
  if (from.empty() && src != "-")
    return r.error(
        Error(ErrorCategory::InvalidArgument, src.empty() ? "fromImage or fromSrc is required"
                                                          : "importing from a URL is not supported: give the "
                                                            "tarball as the request body (fromSrc=-)"));
  if (!from.empty()) {
    // An image that is here already is "up to date" (there is no registry to ask): clients that pull
    // after a create's 404 (docker run, docker-py) then show the create's real error.
    std::string tag = req.queryStr("tag");
    std::string ref = tag.empty() || from.find('@') != std::string::npos ? from : from + ":" + tag;
    if (e.images().resolve(ref).has_value()) {
      r.beginStream("application/json");
      r.chunk(json{{"status", "Status: Image is up to date for " + ref}}.dump() + "\r\n");
      return;
    }
    return r.error(
        Error(ErrorCategory::NotFound, "pull access denied for " + from +
                                           ", repository does not exist or may require 'docker login': "
                                           "berthd cannot pull yet (no registry client); load the image "
                                           "with docker load or berth load"));
  }
  auto spooled = spoolBody(req, e.options().dataRoot);
  if (!spooled) return r.error(spooled.error());
  image::ImportOptions o;
  std::string repo = req.queryStr("repo"), tag = req.queryStr("tag");
  if (!repo.empty()) o.reference = tag.empty() ? repo : repo + ":" + tag;
  if (auto it = req.queryAll.find("changes"); it != req.queryAll.end()) o.changes = it->second;
  o.message = req.queryStr("message");
  auto id = e.images().import(spooled->get(), o);
  if (!id) return r.error(id.error());
  e.emit("image", "import", id->str(), {{"name", o.reference.empty() ? id->str() : o.reference}});
  r.beginStream("application/json");
  r.chunk(json{{"status", id->str()}}.dump() + "\n");
}

void loadImages(engine::Engine& e, Request& req, Responder& r) {
  auto spooled = spoolBody(req, e.options().dataRoot);
  if (!spooled) return r.error(spooled.error());
  auto lines = e.images().load(spooled->get());
  if (!lines) return r.error(lines.error());
  r.beginStream("application/json");
  for (auto& l : *lines) {
    e.emit("image", "load", l.substr(l.find(':') + 2), {{"name", l.substr(l.find(':') + 2)}});
    if (!req.queryBool("quiet")) r.chunk(json{{"stream", l + "\n"}}.dump() + "\n");
  }
  if (req.queryBool("quiet"))
    for (auto& l : *lines) r.chunk(json{{"stream", l + "\n"}}.dump() + "\n");
}

void pruneImages(engine::Engine& e, Request& req, Responder& r) {
  auto f = parseFilters(req.queryStr("filters"));
  if (!f) return r.error(f.error());
  bool all = f->count("dangling") && !(*f)["dangling"].empty() && (*f)["dangling"][0] == "false";
  auto report = e.images().prune(all, [&e](const image::Digest& d) { return e.imageInUse(d); });
  if (!report) return r.error(report.error());
  json deleted = json::array();
  for (auto& u : report->untagged) deleted.push_back({{"Untagged", u}});
  for (auto& d : report->deleted) deleted.push_back({{"Deleted", d}});
  r.json(200, {{"ImagesDeleted", deleted}, {"SpaceReclaimed", 0}});
}

// import (and pull), load, save, mount, prune.
void addImageTransferRoutes(Router& router, engine::Engine& e) {
  // Pulls need the registry client (a later issue): answer as docker does for an image it cannot get, so
  // clients report "not found" instead of a protocol error.
  // docker import (fromSrc=-: the body is the root filesystem tarball); pulling needs a registry client.
  router.add(
      "POST", "/images/create", [&e](Request& req, Responder& r) { createImage(e, req, r); },
      /*streamBody=*/true);

  // Not built yet: say so rather than "page not found" (the build context in the body is drained).
  router.add(
      "POST", "/build",
      [](Request&, Responder& r) {
        r.error(Error(ErrorCategory::NotImplemented,
                      "berthd cannot build images yet (no Dockerfile builder): build with another "
                      "engine and `docker save | docker load` the result"));
      },
      /*streamBody=*/true);

  // docker load: the archive is spooled to an unlinked file first, so a slow client never holds the image
  // store's lock.
  router.add(
      "POST", "/images/load", [&e](Request& req, Responder& r) { loadImages(e, req, r); },
      /*streamBody=*/true);

  // docker save: one image (/images/{name}/get) or several (/images/get?names=a&names=b).
  // ?format=oci (a berth extension, used by `berth save --format oci`) writes an OCI image layout instead.
  auto save = [&e](const std::vector<std::string>& names, Responder& r, bool oci) {
    if (names.empty()) return r.error(Error(ErrorCategory::InvalidArgument, "no image names given"));
    auto out = tempFile(e.options().dataRoot);
    if (!out) return r.error(out.error());
    auto saved =
        e.images().save(names, out->get(),
                        oci ? image::ImageService::SaveFormat::Oci : image::ImageService::SaveFormat::Docker);
    if (!saved) return r.error(saved.error());
    e.emit("image", "save", names[0], {{"name", names[0]}});
    r.beginStream("application/x-tar");
    char buf[65536];
    for (off_t off = 0;;) {
      ssize_t n = ::pread(out->get(), buf, sizeof buf, off);
      if (n <= 0 || !r.chunk({buf, static_cast<size_t>(n)})) break;
      off += n;
    }
  };
  router.add("GET", "/images/get", [save](Request& req, Responder& r) {
    auto it = req.queryAll.find("names");
    save(it == req.queryAll.end() ? std::vector<std::string>{} : it->second, r,
         req.queryStr("format") == "oci");
  });
  router.add("GET", "/images/(.+)/get", [save](Request& req, Responder& r) {
    save({req.params[0]}, r, req.queryStr("format") == "oci");
  });

  // podman's `image mount` as a berth extension: the image's root filesystem, read-only, on the host.
  router.add("POST", "/images/(.+)/mount", [&e](Request& req, Responder& r) {
    auto path = e.images().mount(req.params[0]);
    if (!path) return r.error(path.error());
    r.json(200, {{"Path", *path}});
  });
  router.add("POST", "/images/(.+)/unmount", [&e](Request& req, Responder& r) {
    auto done = e.images().unmount(req.params[0]);
    if (!done) return r.error(done.error());
    r.text(204, "", "");
  });

  router.add("POST", "/images/prune", [&e](Request& req, Responder& r) { pruneImages(e, req, r); });
}

}  // namespace

void addImageRoutes(Router& router, engine::Engine& e) {
  addImageQueryRoutes(router, e);
  addImageTransferRoutes(router, e);
}

}  // namespace berth::server
