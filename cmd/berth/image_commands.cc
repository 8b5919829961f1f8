// berth's image commands (docker's names, flags and columns) over the Engine API.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "base/fd.h"
#include "base/file.h"
#include "berth.h"
#include "client/format.h"

namespace berth::cli {
namespace {

using client::urlEncode;

std::string shortId(const std::string& id) {
  std::string h = id.starts_with("sha256:") ? id.substr(7) : id;
  return h.substr(0, 12);
}

// "repo:tag" → {repo, tag}; a port in the registry host is not a tag.
std::pair<std::string, std::string> splitRepoTag(const std::string& rt) {
  auto colon = rt.rfind(':');
  if (colon == std::string::npos || rt.find('/', colon) != std::string::npos) return {rt, "<none>"};
  return {rt.substr(0, colon), rt.substr(colon + 1)};
}

const json& imageHeaders() {
  static const json h = {{"Repository", "REPOSITORY"},
                         {"Tag", "TAG"},
                         {"Digest", "DIGEST"},
                         {"ID", "IMAGE ID"},
                         {"CreatedSince", "CREATED"},
                         {"CreatedAt", "CREATED AT"},
                         {"Size", "SIZE"},
                         {"Containers", "CONTAINERS"},
                         {"VirtualSize", "VIRTUAL SIZE"},
                         {"SharedSize", "SHARED SIZE"},
                         {"UniqueSize", "UNIQUE SIZE"}};
  return h;
}

struct ImagesFlags {
  std::vector<std::string> filters;
  bool all = false, quiet = false, digests = false, noTrunc = false;
  std::string format, repo;
};

int cmdImages(Globals& g, const ImagesFlags& f) {
  auto api = g.api();
  if (!api) return fail(api.error());
  std::vector<std::string> filters = f.filters;
  if (!f.repo.empty()) filters.push_back("reference=" + f.repo);
  std::string q = "/images/json?";
  if (f.all) q += "all=1&";
  if (!filters.empty()) q += "filters=" + filtersQuery(filters);
  auto list = (*api)->callJson("GET", q);
  if (!list) return fail(list.error());
  std::vector<json> rows;
  std::set<std::string> seen;
  for (auto& img : *list) {
    std::string id = img.value("Id", "");
    std::string shown = f.noTrunc ? id : shortId(id);
    if (f.quiet && f.format.empty()) {
      if (seen.insert(shown).second) std::printf("%s\n", shown.c_str());
      continue;
    }
    std::vector<std::string> tags;
    if (img.contains("RepoTags") && img["RepoTags"].is_array())
      for (auto& t : img["RepoTags"])
        if (t.is_string() && t != "<none>:<none>") tags.push_back(t);
    if (tags.empty()) tags.push_back("<none>:<none>");
    std::string digest = "<none>";
    if (img.contains("RepoDigests") && img["RepoDigests"].is_array() && !img["RepoDigests"].empty()) {
      std::string d = img["RepoDigests"][0].get<std::string>();
      digest = d.substr(d.find('@') + 1);
    }
    int64_t created = img.value("Created", int64_t(0));
    double size = static_cast<double>(img.value("Size", int64_t(0)));
    for (auto& t : tags) {
      auto [repo, tag] = splitRepoTag(t);
      int64_t containers = img.value("Containers", int64_t(-1));
      rows.push_back({{"Repository", repo},
                      {"Tag", tag},
                      {"Digest", digest},
                      {"ID", shown},
                      {"CreatedSince",
                       client::humanDuration(static_cast<int64_t>(client::nowSeconds()) - created) + " ago"},
                      {"CreatedAt", client::goTime(created)},
                      {"Size", client::humanSize(size)},
                      {"VirtualSize", client::humanSize(size)},
                      {"SharedSize", "N/A"},
                      {"UniqueSize", "N/A"},
                      {"Containers", containers < 0 ? "N/A" : std::to_string(containers)}});
    }
  }
  if (f.quiet && f.format.empty()) return 0;
  std::string def =
      f.digests ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                : "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
  return printOut(client::formatRows(f.format, def, rows, imageHeaders()));
}

// The JSON-lines progress of load/import/pull: "stream" and "status" lines printed, "error" fails.
int printProgress(const std::string& body, bool quiet) {
  int rc = 0;
  for (auto& line : split(body, '\n')) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    if (j.contains("errorDetail") || j.contains("error")) {
      std::fprintf(stderr, "%s\n", j.value("error", std::string("failed")).c_str());
      rc = 1;
    } else if (!quiet && j.contains("stream")) {
      std::printf("%s", j["stream"].get<std::string>().c_str());
    } else if (!quiet && j.contains("status")) {
      std::printf("%s\n", j["status"].get<std::string>().c_str());
    }
  }
  return rc;
}

}  // namespace

void addImages(CLI::App* c, Globals& g, Runner& run) {
  auto f = state<ImagesFlags>();
  c->add_option("-f,--filter", f->filters, "filter output (dangling=true|false, reference=PATTERN)")
      ->allow_extra_args(false);
  c->add_flag("-a,--all", f->all, "show all images (default hides intermediate images)");
  c->add_flag("-q,--quiet", f->quiet, "only show image IDs");
  c->add_flag("--digests", f->digests, "show digests");
  c->add_flag("--no-trunc", f->noTrunc, "don't truncate output");
  c->add_option("--format", f->format,
                "format output using a Go template, 'table', 'table TEMPLATE' or 'json'");
  c->add_option("REPOSITORY", f->repo, "repository[:tag]");
  c->callback([f, &g, &run] { run = [f, &g] { return cmdImages(g, *f); }; });
}

void addImageInspect(CLI::App* c, Globals& g, Runner& run) {
  addInspectCommand(c, g, run, "IMAGE",
                    [](const std::string& n) { return "/images/" + urlEncode(n) + "/json"; });
}

void addLoad(CLI::App* c, Globals& g, Runner& run) {
  auto input = state<std::string>();
  auto quiet = state<bool>();
  c->add_option("-i,--input", *input, "read from a tar archive file instead of STDIN");
  c->add_flag("-q,--quiet", *quiet, "suppress the load output");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      UniqueFd fd(input->empty() ? ::dup(0) : ::open(input->c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return failLocal("open " + *input + ": " + std::strerror(errno));
      if (input->empty() && ::isatty(0))
        return usage("requested load from stdin, but stdin is empty (use -i FILE or a pipe)", 1);
      auto api = g.api();
      if (!api) return fail(api.error());
      auto r = (*api)->upload("POST", std::string("/images/load") + (*quiet ? "?quiet=1" : ""), fd.get(),
                              "application/x-tar");
      if (!r) return fail(r.error());
      return printProgress(r->body, *quiet);
    };
  });
}

void addSave(CLI::App* c, Globals& g, Runner& run) {
  auto output = state<std::string>(), format = std::make_shared<std::string>("docker");
  auto names = state<std::vector<std::string>>();
  c->add_option("-o,--output", *output, "write to a file, instead of STDOUT");
  c->add_option("--format", *format, "archive format: docker (docker-archive) or oci (OCI image layout)")
      ->check(CLI::IsMember({"docker", "oci"}));
  c->add_option("IMAGE", *names)->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      if (output->empty() && ::isatty(1))
        return usage("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1);
      auto api = g.api();
      if (!api) return fail(api.error());
      std::string q = "/images/get?";
      for (auto& n : *names) q += "names=" + urlEncode(n) + "&";
      if (*format == "oci") q += "format=oci";
      return streamTo(**api, q, *output);
    };
  });
}

void addImport(CLI::App* c, Globals& g, Runner& run) {
  struct F {
    std::vector<std::string> changes;
    std::string message, file, ref, platform;
  };
  auto f = state<F>();
  c->add_option("-c,--change", f->changes, "apply a Dockerfile instruction to the created image")
      ->allow_extra_args(false);
  c->add_option("-m,--message", f->message, "set a commit message for the imported image");
  c->add_option("--platform", f->platform, "set the platform (linux/ARCH)");
  c->add_option("file", f->file, "tarball file or - for STDIN")->required();
  c->add_option("REPOSITORY", f->ref, "repository[:tag]");
  c->callback([f, &g, &run] {
    run = [f, &g] {
      UniqueFd fd(f->file == "-" ? ::dup(0) : ::open(f->file.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return failLocal("open " + f->file + ": " + std::strerror(errno));
      auto api = g.api();
      if (!api) return fail(api.error());
      std::string q = "/images/create?fromSrc=-";
      if (!f->ref.empty()) {
        auto [repo, tag] = splitRepoTag(f->ref);
        q += "&repo=" + urlEncode(repo);
        if (tag != "<none>") q += "&tag=" + urlEncode(tag);
      }
      for (auto& ch : f->changes) q += "&changes=" + urlEncode(ch);
      if (!f->message.empty()) q += "&message=" + urlEncode(f->message);
      if (!f->platform.empty()) q += "&platform=" + urlEncode(f->platform);
      auto r = (*api)->upload("POST", q, fd.get(), "application/x-tar");
      if (!r) return fail(r.error());
      return printProgress(r->body, false);
    };
  });
}

void addTag(CLI::App* c, Globals& g, Runner& run) {
  auto src = state<std::string>(), dst = state<std::string>();
  c->add_option("SOURCE_IMAGE", *src)->required();
  c->add_option("TARGET_IMAGE", *dst)->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      auto [repo, tag] = splitRepoTag(*dst);
      std::string q = "/images/" + urlEncode(*src) + "/tag?repo=" + urlEncode(repo);
      if (tag != "<none>") q += "&tag=" + urlEncode(tag);
      auto r = (*api)->call("POST", q);
      return r ? 0 : fail(r.error());
    };
  });
}

void addRmi(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  auto force = state<bool>(), noPrune = state<bool>();
  c->add_flag("-f,--force", *force, "force removal of the image");
  c->add_flag("--no-prune", *noPrune, "do not delete untagged parents");
  c->add_option("IMAGE", *names, "images")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      int rc = 0;
      for (auto& n : *names) {
        auto r = (*api)->callJson("DELETE", "/images/" + urlEncode(n) + "?force=" + (*force ? "1" : "0") +
                                                "&noprune=" + (*noPrune ? "1" : "0"));
        if (!r) {
          rc = fail(r.error());
          continue;
        }
        for (auto& item : *r) {
          if (item.contains("Untagged"))
            std::printf("Untagged: %s\n", item["Untagged"].get<std::string>().c_str());
          if (item.contains("Deleted"))
            std::printf("Deleted: %s\n", item["Deleted"].get<std::string>().c_str());
        }
      }
      return rc;
    };
  });
}

void addHistory(CLI::App* c, Globals& g, Runner& run) {
  struct F {
    std::string name, format;
    bool noTrunc = false, quiet = false, human = true;
  };
  auto f = state<F>();
  c->add_flag("--no-trunc", f->noTrunc, "don't truncate output");
  c->add_flag("-q,--quiet", f->quiet, "only show image IDs");
  c->add_flag("-H,--human{true}", f->human, "print sizes and dates in human readable format");
  c->add_option("--format", f->format,
                "format output using a Go template, 'table', 'table TEMPLATE' or 'json'");
  c->add_option("IMAGE", f->name)->required();
  c->callback([f, &g, &run] {
    run = [f, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      auto h = (*api)->callJson("GET", "/images/" + urlEncode(f->name) + "/history");
      if (!h) return fail(h.error());
      std::vector<json> rows;
      for (auto& e : *h) {
        std::string id = e.value("Id", "<missing>");
        if (id != "<missing>" && !f->noTrunc) id = shortId(id);
        if (f->quiet) {
          std::printf("%s\n", id.c_str());
          continue;
        }
        int64_t created = e.value("Created", int64_t(0));
        std::string by = e.value("CreatedBy", "");
        if (!f->noTrunc) by = client::ellipsis(by, 45);
        int64_t size = e.value("Size", int64_t(0));
        rows.push_back(
            {{"ID", id},
             {"CreatedSince",
              f->human ? client::humanDuration(static_cast<int64_t>(client::nowSeconds()) - created) + " ago"
                       : client::goTime(created)},
             {"CreatedAt", client::goTime(created)},
             {"CreatedBy", by},
             {"Size", f->human ? client::humanSize(static_cast<double>(size)) : std::to_string(size)},
             {"Comment", e.value("Comment", "")}});
      }
      if (f->quiet) return 0;
      static const json headers = {{"ID", "IMAGE"},
                                   {"CreatedSince", "CREATED"},
                                   {"CreatedAt", "CREATED AT"},
                                   {"CreatedBy", "CREATED BY"},
                                   {"Size", "SIZE"},
                                   {"Comment", "COMMENT"}};
      return printOut(client::formatRows(
          f->format, "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", rows,
          headers));
    };
  });
}

void addImagePrune(CLI::App* c, Globals& g, Runner& run) {
  auto all = state<bool>(), force = state<bool>();
  auto filters = state<std::vector<std::string>>();
  c->add_flag("-a,--all", *all, "remove all unused images, not just dangling ones");
  c->add_flag("-f,--force", *force, "do not prompt for confirmation");
  c->add_option("--filter", *filters, "provide filter values (e.g. 'until=<timestamp>')")
      ->allow_extra_args(false);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      if (!*force &&
          !confirm(std::string("WARNING! This will remove all ") +
                   (*all ? "images without at least one container associated to them" : "dangling images") +
                   ".\nAre you sure you want to continue?"))
        return 0;
      auto api = g.api();
      if (!api) return fail(api.error());
      std::vector<std::string> fs = *filters;
      fs.push_back(*all ? "dangling=false" : "dangling=true");
      auto r = (*api)->callJson("POST", "/images/prune?filters=" + filtersQuery(fs));
      if (!r) return fail(r.error());
      auto& del = (*r)["ImagesDeleted"];
      if (del.is_array() && !del.empty()) {
        std::printf("Deleted Images:\n");
        for (auto& d : del) {
          if (d.contains("Untagged")) std::printf("untagged: %s\n", d["Untagged"].get<std::string>().c_str());
          if (d.contains("Deleted")) std::printf("deleted: %s\n", d["Deleted"].get<std::string>().c_str());
        }
        std::printf("\n");
      }
      std::printf("Total reclaimed space: %s\n",
                  client::humanSize(static_cast<double>(r->value("SpaceReclaimed", int64_t(0)))).c_str());
      return 0;
    };
  });
}

void addImageMount(CLI::App* c, Globals& g, Runner& run) {
  auto name = state<std::string>();
  c->add_option("IMAGE", *name)->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      auto r = (*api)->callJson("POST", "/images/" + urlEncode(*name) + "/mount");
      if (!r) return fail(r.error());
      std::printf("%s\n", r->value("Path", "").c_str());
      return 0;
    };
  });
}

void addImageUnmount(CLI::App* c, Globals& g, Runner& run) {
  auto name = state<std::string>();
  c->add_option("IMAGE", *name)->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      auto r = (*api)->call("POST", "/images/" + urlEncode(*name) + "/unmount");
      return r ? 0 : fail(r.error());
    };
  });
}

void addPull(CLI::App* c, Globals& g, Runner& run) {
  auto name = state<std::string>();
  auto quiet = state<bool>(), allTags = state<bool>();
  auto platform = state<std::string>();
  c->add_flag("-q,--quiet", *quiet, "suppress verbose output");
  c->add_flag("-a,--all-tags", *allTags, "download all tagged images in the repository");
  c->add_option("--platform", *platform, "set platform if server is multi-platform capable");
  c->add_option("NAME", *name, "image name[:tag]")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      auto [repo, tag] = splitRepoTag(*name);
      auto r = (*api)->call("POST", "/images/create?fromImage=" + urlEncode(repo) +
                                        "&tag=" + urlEncode(tag == "<none>" ? "latest" : tag));
      if (!r) return fail(r.error());
      return printProgress(r->body, *quiet);
    };
  });
}

}  // namespace berth::cli
