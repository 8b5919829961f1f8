// /images/...: list, inspect, history, tag, delete, prune.
#include <ctime>

#include "base/log.h"
#include "image/reference.h"
#include "server/http.h"

namespace berth::server {

using nlohmann::json;

namespace {

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

void addImageRoutes(Router& router, engine::Engine& e) {
  router.add("GET", "/images/json", [&e](Request& req, Responder& r) {
    auto f = parseFilters(req.queryStr("filters"));
    if (!f) return r.error(f.error());
    auto list = e.withImages([](image::ImageService& s) { return s.list(); });
    if (!list) return r.error(list.error());
    json out = json::array();
    for (auto& img : *list) {
      bool dangling = img.tags.empty();
      if (f->count("dangling")) {
        bool want = (*f)["dangling"].empty() || (*f)["dangling"][0] == "true" || (*f)["dangling"][0] == "1";
        if (want != dangling) continue;
      }
      if (f->count("reference")) {
        bool any = false;
        for (auto& pat : (*f)["reference"])
          for (auto& t : familiarTags(img)) {
            std::string tag = t.get<std::string>();
            any |= tag == pat || tag.substr(0, tag.rfind(':')) == pat;
          }
        if (!any) continue;
      }
      json labels = json::object();
      if (auto cfg = e.withImages([&](image::ImageService& s) { return s.config(img.id); }))
        for (auto& [k, v] : cfg->config.labels) labels[k] = v;
      out.push_back({{"Id", img.id.str()},
                     {"ParentId", ""},
                     {"RepoTags", familiarTags(img)},
                     {"RepoDigests", json::array()},
                     {"Created", unixOf(img.created)},
                     {"Size", img.size},
                     {"SharedSize", -1},
                     {"VirtualSize", img.size},
                     {"Labels", labels},
                     {"Containers", -1}});
    }
    r.json(200, out);
  });

  router.add("GET", "/images/(.+)/json", [&e](Request& req, Responder& r) {
    auto img = e.withImages([&](image::ImageService& s) { return s.resolve(req.params[0]); });
    if (!img) return r.json(404, {{"message", "No such image: " + req.params[0]}});
    auto text = e.withImages([&](image::ImageService& s) { return s.configJson(img->id); });
    if (!text) return r.error(text.error());
    auto cfg = json::parse(*text, nullptr, false);
    if (cfg.is_discarded()) cfg = json::object();
    json layers = json::array();
    for (auto& l : img->layers) layers.push_back(l.diffId.str());
    json graph = {{"Name", e.options().driver}, {"Data", nullptr}};
    r.json(200, {{"Id", img->id.str()},
                 {"RepoTags", familiarTags(*img)},
                 {"RepoDigests", json::array()},
                 {"Parent", ""},
                 {"Comment", ""},
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
                 {"Metadata", {{"LastTagTime", "0001-01-01T00:00:00Z"}}}});
  });

  router.add("GET", "/images/(.+)/history", [&e](Request& req, Responder& r) {
    auto img = e.withImages([&](image::ImageService& s) { return s.resolve(req.params[0]); });
    if (!img) return r.json(404, {{"message", "No such image: " + req.params[0]}});
    auto cfg = e.withImages([&](image::ImageService& s) { return s.config(img->id); });
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
  });

  router.add("POST", "/images/(.+)/tag", [&e](Request& req, Responder& r) {
    std::string repo = req.queryStr("repo"), tag = req.queryStr("tag");
    if (repo.empty()) return r.json(400, {{"message", "repository name must have at least one component"}});
    auto t = e.withImages(
        [&](image::ImageService& s) { return s.tag(req.params[0], tag.empty() ? repo : repo + ":" + tag); });
    if (!t) return r.error(t.error());
    std::string target = tag.empty() ? repo : repo + ":" + tag;
    e.emit("image", "tag", req.params[0], {{"name", target}});
    r.text(201, "", "");
  });

  router.add("DELETE", "/images/(.+)", [&e](Request& req, Responder& r) {
    auto report = e.withImages([&](image::ImageService& s) {
      return s.remove(req.params[0], req.queryBool("force"),
                      [&e](const image::Digest& d) { return e.imageInUseLocked(d); });
    });
    if (!report) {
      if (report.error().category() == ErrorCategory::NotFound)
        return r.json(404, {{"message", "No such image: " + req.params[0]}});
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
  });

  // Pulls need the registry client (a later issue): answer as docker does for an image it cannot get, so
  // clients report "not found" instead of a protocol error.
  router.add("POST", "/images/create", [](Request& req, Responder& r) {
    std::string from = req.queryStr("fromImage");
    if (from.empty())
      return r.json(
          400, {{"message", "importing through the API (fromSrc) is not supported yet: use berth import"}});
    r.json(404,
           {{"message", "pull access denied for " + from +
                            ", repository does not exist or may require 'docker login': berthd cannot pull "
                            "yet (no registry client); load the image with docker load or berth load"}});
  });

  router.add("POST", "/images/prune", [&e](Request& req, Responder& r) {
    auto f = parseFilters(req.queryStr("filters"));
    if (!f) return r.error(f.error());
    bool all = f->count("dangling") && !(*f)["dangling"].empty() && (*f)["dangling"][0] == "false";
    auto report = e.withImages([&](image::ImageService& s) {
      return s.prune(all, [&e](const image::Digest& d) { return e.imageInUseLocked(d); });
    });
    if (!report) return r.error(report.error());
    json deleted = json::array();
    for (auto& u : report->untagged) deleted.push_back({{"Untagged", u}});
    for (auto& d : report->deleted) deleted.push_back({{"Deleted", d}});
    r.json(200, {{"ImagesDeleted", deleted}, {"SpaceReclaimed", 0}});
  });
}

}  // namespace berth::server
