// berth's image commands (docker's names, flags and columns), over image::ImageService.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "berth.h"
#include "image/reference.h"

namespace berth::cli {
namespace {

using image::ImageRecord;
using nlohmann::json;

std::string shortId(const image::Digest& d) {
  return d.hex().substr(0, 12);
}

std::pair<std::string, std::string> repoTag(const std::string& full) {
  auto r = image::parseReference(full);
  if (!r) return {full, ""};
  return {r->familiarName(), r->tag};
}

// docker's tabwriter: columns padded to the widest cell plus three spaces.
void printTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

// A small subset of Go templates: {{.Field}} and {{json .Field}} over a flat map, "\t" as tab.
std::string applyFormat(const std::string& fmt, const std::map<std::string, std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fmt.size();) {
    if (fmt.compare(i, 2, "{{") == 0) {
      size_t end = fmt.find("}}", i);
      if (end == std::string::npos) break;
      std::string expr = trim(fmt.substr(i + 2, end - i - 2));
      bool asJson = expr.starts_with("json ");
      if (asJson) expr = trim(expr.substr(5));
      if (expr.starts_with(".")) expr = expr.substr(1);
      auto it = fields.find(expr);
      std::string v = it == fields.end() ? "" : it->second;
      out += asJson ? json(v).dump() : v;
      i = end + 2;
    } else if (fmt.compare(i, 2, "\\t") == 0) {
      out += '\t';
      i += 2;
    } else if (fmt.compare(i, 2, "\\n") == 0) {
      out += '\n';
      i += 2;
    } else {
      out += fmt[i++];
    }
  }
  return out;
}

int cmdImages(Globals& g, const std::vector<std::string>& filters, bool all, bool quiet, bool digests,
              bool noTrunc, const std::string& format, const std::string& repoArg) {
  (void)all;  // no intermediate images exist without a builder: -a shows the same list
  auto svc = g.images();
  if (!svc) return fail(svc.error());
  auto list = (*svc)->list();
  if (!list) return fail(list.error());
  std::optional<bool> dangling;
  std::vector<std::string> refPatterns;
  for (auto& f : filters) {
    auto eq = f.find('=');
    std::string k = f.substr(0, eq), v = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (k == "dangling") {
      if (v != "true" && v != "false") return usage("invalid filter 'dangling=" + v + "': use true or false");
      dangling = v == "true";
    } else if (k == "reference") {
      refPatterns.push_back(v);
    } else {
      return usage("invalid filter '" + k + "' (supported: dangling, reference)");
    }
  }
  if (!repoArg.empty())
    refPatterns.push_back(repoArg.find(':') == std::string::npos ? repoArg + ":*" : repoArg);
  auto matches = [](const std::string& pat, const std::string& s) {
    // shell-style * only, as docker's reference filter
    size_t p = 0, q = 0, star = std::string::npos, mark = 0;
    while (q < s.size()) {
      if (p < pat.size() && (pat[p] == s[q]))
        ++p, ++q;
      else if (p < pat.size() && pat[p] == '*')
        star = p++, mark = q;
      else if (star != std::string::npos)
        p = star + 1, q = ++mark;
      else
        return false;
    }
    while (p < pat.size() && pat[p] == '*') ++p;
    return p == pat.size();
  };
  std::vector<std::vector<std::string>> rows;
  if (format.empty() && !quiet) {
    if (digests)
      rows.push_back({"REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"});
    else
      rows.push_back({"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"});
  }
  std::set<std::string> printedIds;
  for (auto& img : *list) {
    bool isDangling = img.tags.empty();
    if (dangling && *dangling != isDangling) continue;
    std::vector<std::pair<std::string, std::string>> names;
    for (auto& t : img.tags) {
      auto rt = repoTag(t);
      if (!refPatterns.empty()) {
        bool ok = false;
        for (auto& p : refPatterns)
          if (matches(p, rt.first + ":" + rt.second) || matches(p, rt.first)) ok = true;
        if (!ok) continue;
      }
      names.push_back(rt);
    }
    if (img.tags.empty()) {
      if (!refPatterns.empty()) continue;
      names.push_back({"<none>", "<none>"});
    }
    if (names.empty()) continue;
    std::string id = noTrunc ? img.id.str() : shortId(img.id);
    for (auto& [repo, tag] : names) {
      if (quiet) {
        if (printedIds.insert(id).second) std::printf("%s\n", id.c_str());
        continue;
      }
      std::map<std::string, std::string> f = {{"Repository", repo},
                                              {"Tag", tag},
                                              {"ID", id},
                                              {"CreatedSince", image::humanAgo(img.created)},
                                              {"CreatedAt", img.created},
                                              {"Size", image::humanSize(img.size)},
                                              {"Digest", "<none>"}};
      if (!format.empty()) {
        std::string fmt = format.starts_with("table ") ? format.substr(6) : format;
        std::printf("%s\n", applyFormat(fmt, f).c_str());
        continue;
      }
      // Repository digests come from registries (pull/push); a loaded or imported image has none, as in
      // docker.
      if (digests)
        rows.push_back({repo, tag, f["Digest"], id, f["CreatedSince"], f["Size"]});
      else
        rows.push_back({repo, tag, id, f["CreatedSince"], f["Size"]});
    }
  }
  if (!rows.empty()) printTable(rows);
  return 0;
}

nlohmann::ordered_json inspectJson(image::ImageService& svc, const ImageRecord& img,
                                   const std::string& driver) {
  auto text = svc.configJson(img.id);
  json cfg = text ? json::parse(*text, nullptr, false) : json::object();
  if (!cfg.is_object()) cfg = json::object();
  json tags = json::array();
  for (auto& t : img.tags) {
    auto r = image::parseReference(t);
    tags.push_back(r ? r->familiar() : t);
  }
  json layers = json::array();
  for (auto& l : img.layers) layers.push_back(l.diffId.str());
  return nlohmann::ordered_json{
      {"Id", img.id.str()},
      {"RepoTags", tags},
      {"RepoDigests", json::array()},
      {"Parent", ""},
      {"Comment", cfg.contains("history") && cfg["history"].is_array() && !cfg["history"].empty() &&
                          cfg["history"].back().is_object()
                      ? cfg["history"].back().value("comment", "")
                      : ""},
      {"Created", img.created},
      {"Container", cfg.value("container", "")},
      {"ContainerConfig", cfg.value("container_config", json::object())},
      {"DockerVersion", cfg.value("docker_version", "")},
      {"Author", cfg.value("author", "")},
      {"Config", cfg.value("config", json::object())},
      {"Architecture", cfg.value("architecture", "")},
      {"Variant", cfg.value("variant", "")},
      {"Os", cfg.value("os", "")},
      {"Size", img.size},
      {"VirtualSize", img.size},
      {"GraphDriver", {{"Name", driver}, {"Data", json::object()}}},
      {"RootFS", {{"Type", "layers"}, {"Layers", layers}}},
      {"Metadata", {{"LastTagTime", "0001-01-01T00:00:00Z"}}}};
}

}  // namespace

void registerImageCommands(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto addImages = [&](CLI::App* c) {
    auto filters = std::make_shared<std::vector<std::string>>();
    auto all = std::make_shared<bool>(false), quiet = std::make_shared<bool>(false),
         digests = std::make_shared<bool>(false), noTrunc = std::make_shared<bool>(false);
    auto format = std::make_shared<std::string>(), repo = std::make_shared<std::string>();
    c->add_option("-f,--filter", *filters, "filter output (dangling=true|false, reference=PATTERN)");
    c->add_flag("-a,--all", *all, "show all images (default hides intermediate images)");
    c->add_flag("-q,--quiet", *quiet, "only show image IDs");
    c->add_flag("--digests", *digests, "show digests");
    c->add_flag("--no-trunc", *noTrunc, "don't truncate output");
    c->add_option("--format", *format, "format output using a Go-template subset");
    c->add_option("REPOSITORY", *repo, "repository[:tag]");
    c->callback([=, &g, &run] {
      run = [=, &g] { return cmdImages(g, *filters, *all, *quiet, *digests, *noTrunc, *format, *repo); };
    });
  };
  addImages(app.add_subcommand("images", "List images"));
  auto* image = app.add_subcommand("image", "Manage images");
  image->require_subcommand(1);
  addImages(image->add_subcommand("ls", "List images")->alias("list"));

  auto addLoad = [&](CLI::App* c) {
    auto input = std::make_shared<std::string>();
    auto quiet = std::make_shared<bool>(false);
    c->add_option("-i,--input", *input, "read from a tar archive file instead of STDIN");
    c->add_flag("-q,--quiet", *quiet, "suppress the load output");
    c->callback([=, &g, &run] {
      run = [=, &g] {
        UniqueFd fd(input->empty() ? ::dup(0) : ::open(input->c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) return fail(Error(ErrorCategory::NotFound, "open " + *input + ": " + std::strerror(errno)));
        if (input->empty() && ::isatty(0))
          return usage("requested load from stdin, but stdin is empty (use -i FILE or a pipe)");
        auto svc = g.images();
        if (!svc) return fail(svc.error());
        auto lines = (*svc)->load(fd.get());
        if (!lines) return fail(lines.error());
        if (!*quiet)
          for (auto& l : *lines) std::printf("%s\n", l.c_str());
        return 0;
      };
    });
  };
  addLoad(app.add_subcommand("load", "Load an image from a tar archive or STDIN"));
  addLoad(image->add_subcommand("load", "Load an image from a tar archive or STDIN"));

  auto addSave = [&](CLI::App* c) {
    auto output = std::make_shared<std::string>(), format = std::make_shared<std::string>("docker");
    auto names = std::make_shared<std::vector<std::string>>();
    c->add_option("-o,--output", *output, "write to a file, instead of STDOUT");
    c->add_option("--format", *format, "archive format: docker (docker-archive) or oci (OCI image layout)")
        ->check(CLI::IsMember({"docker", "oci"}));
    c->add_option("IMAGE", *names)->required();
    c->callback([=, &g, &run] {
      run = [=, &g] {
        if (output->empty() && ::isatty(1))
          return usage("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        auto svc = g.images();
        if (!svc) return fail(svc.error());
        // A file is written next to its final name and renamed when complete: no half archive under it.
        std::string tmp = output->empty() ? "" : *output + ".berth-tmp";
        UniqueFd fd(output->empty() ? ::dup(1)
                                    : ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!fd)
          return fail(Error(ErrorCategory::Internal,
                            "open " + (tmp.empty() ? "stdout" : tmp) + ": " + std::strerror(errno)));
        auto r = (*svc)->save(*names, fd.get(),
                              *format == "oci" ? image::ImageService::SaveFormat::Oci
                                               : image::ImageService::SaveFormat::Docker);
        if (!r) {
          if (!tmp.empty()) ::unlink(tmp.c_str());
          return fail(r.error());
        }
        if (!tmp.empty() && ::rename(tmp.c_str(), output->c_str()) < 0) {
          ::unlink(tmp.c_str());
          return fail(Error(ErrorCategory::Internal, "rename " + tmp + ": " + std::strerror(errno)));
        }
        return 0;
      };
    });
  };
  addSave(
      app.add_subcommand("save", "Save one or more images to a tar archive (streamed to STDOUT by default)"));
  addSave(image->add_subcommand("save",
                                "Save one or more images to a tar archive (streamed to STDOUT by default)"));

  auto addImport = [&](CLI::App* c) {
    auto changes = std::make_shared<std::vector<std::string>>();
    auto message = std::make_shared<std::string>(), file = std::make_shared<std::string>(),
         ref = std::make_shared<std::string>(), platform = std::make_shared<std::string>();
    c->add_option("-c,--change", *changes, "apply a Dockerfile instruction to the created image")
        ->allow_extra_args(false);
    c->add_option("-m,--message", *message, "set a commit message for the imported image");
    c->add_option("--platform", *platform, "set the platform (linux/ARCH)");
    c->add_option("file", *file, "tarball file or - for STDIN")->required();
    c->add_option("REPOSITORY", *ref, "repository[:tag]");
    c->callback([=, &g, &run] {
      run = [=, &g] {
        UniqueFd fd(*file == "-" ? ::dup(0) : ::open(file->c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) return fail(Error(ErrorCategory::NotFound, "open " + *file + ": " + std::strerror(errno)));
        image::ImportOptions o;
        o.changes = *changes;
        o.message = *message;
        o.reference = *ref;
        if (!platform->empty()) o.platformArch = platform->substr(platform->find('/') + 1);
        auto svc = g.images();
        if (!svc) return fail(svc.error());
        auto id = (*svc)->import(fd.get(), o);
        if (!id) return fail(id.error());
        std::printf("%s\n", id->str().c_str());
        return 0;
      };
    });
  };
  addImport(app.add_subcommand("import", "Import the contents from a tarball to create a filesystem image"));
  addImport(
      image->add_subcommand("import", "Import the contents from a tarball to create a filesystem image"));

  auto addTag = [&](CLI::App* c) {
    auto src = std::make_shared<std::string>(), dst = std::make_shared<std::string>();
    c->add_option("SOURCE_IMAGE", *src)->required();
    c->add_option("TARGET_IMAGE", *dst)->required();
    c->callback([=, &g, &run] {
      run = [=, &g] {
        auto svc = g.images();
        if (!svc) return fail(svc.error());
        auto r = (*svc)->tag(*src, *dst);
        return r ? 0 : fail(r.error());
      };
    });
  };
  addTag(app.add_subcommand("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"));
  addTag(image->add_subcommand("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"));

  auto addRmi = [&](CLI::App* c) {
    auto names = std::make_shared<std::vector<std::string>>();
    auto force = std::make_shared<bool>(false), noPrune = std::make_shared<bool>(false);
    c->add_flag("-f,--force", *force, "force removal of the image");
    c->add_flag("--no-prune", *noPrune, "do not delete untagged parents");
    c->add_option("IMAGE", *names, "images")->required();
    c->callback([=, &g, &run] {
      run = [=, &g] {
        auto svc = g.images();
        if (!svc) return fail(svc.error());
        int rc = 0;
        for (auto& n : *names) {
          auto r = (*svc)->remove(n, *force);
          if (!r) {
            rc = fail(r.error());
            continue;
          }
          for (auto& u : r->untagged) std::printf("Untagged: %s\n", u.c_str());
          for (auto& d : r->deleted) std::printf("Deleted: %s\n", d.c_str());
        }
        return rc;
      };
    });
  };
  addRmi(app.add_subcommand("rmi", "Remove one or more images"));
  addRmi(image->add_subcommand("rm", "Remove one or more images")->alias("remove"));

  auto* inspect = image->add_subcommand("inspect", "Display detailed information on one or more images");
  {
    auto names = std::make_shared<std::vector<std::string>>();
    auto format = std::make_shared<std::string>();
    inspect->add_option("-f,--format", *format, "format the output using a Go-template subset");
    inspect->add_option("IMAGE", *names)->required();
    inspect->callback([=, &g, &run] {
      run = [=, &g] {
        auto svc = g.images();
        if (!svc) return fail(svc.error());
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        int rc = 0;
        for (auto& n : *names) {
          auto img = (*svc)->resolve(n);
          if (!img) {
            rc = fail(img.error());
            continue;
          }
          out.push_back(inspectJson(**svc, *img, g.driver));
        }
        if (!format->empty()) {
          for (auto& o : out) {
            std::map<std::string, std::string> f;
            for (auto& [k, v] : o.items()) f[k] = v.is_string() ? v.get<std::string>() : v.dump();
            std::printf("%s\n", applyFormat(*format, f).c_str());
          }
          return rc;
        }
        std::printf("%s\n", out.dump(4).c_str());
        return rc;
      };
    });
  }

  auto addHistory = [&](CLI::App* c) {
    auto name = std::make_shared<std::string>();
    auto noTrunc = std::make_shared<bool>(false), quiet = std::make_shared<bool>(false),
         human = std::make_shared<bool>(true);
    c->add_flag("--no-trunc", *noTrunc, "don't truncate output");
    c->add_flag("-q,--quiet", *quiet, "only show image IDs");
    c->add_flag("-H,--human{true}", *human, "print sizes and dates in human readable format");
    c->add_option("IMAGE", *name)->required();
    c->callback([=, &g, &run] {
      run = [=, &g] {
        auto svc = g.images();
        if (!svc) return fail(svc.error());
        auto img = (*svc)->resolve(*name);
        if (!img) return fail(img.error());
        auto cfg = (*svc)->config(img->id);
        if (!cfg) return fail(cfg.error());
        std::vector<std::vector<std::string>> rows;
        if (!*quiet) rows.push_back({"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"});
        size_t layer = img->layers.size();
        auto& h = cfg->history;
        for (size_t i = h.size(); i-- > 0;) {
          int64_t size = 0;
          if (!h[i].emptyLayer && layer > 0) size = img->layers[--layer].size;
          std::string id = i + 1 == h.size() ? (*noTrunc ? img->id.str() : shortId(img->id)) : "<missing>";
          if (*quiet) {
            std::printf("%s\n", id.c_str());
            continue;
          }
          std::string by = h[i].createdBy;
          if (!*noTrunc && by.size() > 45) by = by.substr(0, 44) + "…";
          rows.push_back({id, image::humanAgo(h[i].created), by, image::humanSize(size), h[i].comment});
        }
        printTable(rows);
        return 0;
      };
    });
  };
  addHistory(app.add_subcommand("history", "Show the history of an image"));
  addHistory(image->add_subcommand("history", "Show the history of an image"));

  auto addPrune = [&](CLI::App* c) {
    auto all = std::make_shared<bool>(false), force = std::make_shared<bool>(false);
    c->add_flag("-a,--all", *all, "remove all unused images, not just dangling ones");
    c->add_flag("-f,--force", *force, "do not prompt for confirmation");
    c->callback([=, &g, &run] {
      run = [=, &g] {
        if (!*force && ::isatty(0)) {
          std::printf("WARNING! This will remove all %s images.\nAre you sure you want to continue? [y/N] ",
                      *all ? "images without at least one container associated to them" : "dangling");
          std::fflush(stdout);
          char ans[16] = {};
          if (!std::fgets(ans, sizeof ans, stdin) || (ans[0] != 'y' && ans[0] != 'Y')) return 0;
        }
        auto svc = g.images();
        if (!svc) return fail(svc.error());
        auto before = (*svc)->diskUsage();
        auto r = (*svc)->prune(*all);
        if (!r) return fail(r.error());
        auto after = (*svc)->diskUsage();
        if (!r->untagged.empty() || !r->deleted.empty()) {
          std::printf("Deleted Images:\n");
          for (auto& u : r->untagged) std::printf("untagged: %s\n", u.c_str());
          for (auto& d : r->deleted) std::printf("deleted: %s\n", d.c_str());
          std::printf("\n");
        }
        int64_t freed = before && after ? std::max<int64_t>(0, (before->imagesSize + before->blobsSize) -
                                                                   (after->imagesSize + after->blobsSize))
                                        : 0;
        std::printf("Total reclaimed space: %s\n", image::humanSize(freed).c_str());
        return 0;
      };
    });
  };
  addPrune(image->add_subcommand("prune", "Remove unused images"));

  for (bool mount : {true, false}) {
    auto* c = image->add_subcommand(mount ? "mount" : "unmount",
                                    mount ? "Mount an image's root filesystem read-only (as podman)"
                                          : "Unmount an image's root filesystem");
    if (!mount) c->alias("umount");
    auto name = std::make_shared<std::string>();
    c->add_option("IMAGE", *name)->required();
    c->callback([=, &g, &run] {
      run = [=, &g] {
        auto svc = g.images();
        if (!svc) return fail(svc.error());
        if (!mount) {
          auto r = (*svc)->unmount(*name);
          return r ? 0 : fail(r.error());
        }
        auto path = (*svc)->mount(*name);
        if (!path) return fail(path.error());
        std::printf("%s\n", path->c_str());
        return 0;
      };
    });
  }
}

int cmdSystemDf(Globals& g, bool verbose) {
  (void)verbose;
  auto svc = g.images();
  if (!svc) return fail(svc.error());
  auto u = (*svc)->diskUsage();
  if (!u) return fail(u.error());
  auto pct = [](int64_t part, int64_t whole) {
    return whole > 0 ? " (" + std::to_string(part * 100 / whole) + "%)" : std::string();
  };
  printTable(
      {{"TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"},
       {"Images", std::to_string(u->images), std::to_string(u->activeImages), image::humanSize(u->imagesSize),
        image::humanSize(u->reclaimable) + pct(u->reclaimable, u->imagesSize)},
       {"Containers", "0", "0", "0B", "0B"},
       {"Local Volumes", "0", "0", "0B", "0B"},
       {"Build Cache", "0", "0", "0B", "0B"}});
  std::printf("\nLayers: %lld unpacked, %s of layer and config blobs kept for save\n",
              static_cast<long long>(u->layers), image::humanSize(u->blobsSize).c_str());
  return 0;
}

}  // namespace berth::cli
