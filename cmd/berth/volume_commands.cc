// berth volume create/ls/inspect/rm/prune: docker's flags, columns and messages.
#include <cstdio>

#include "berth.h"
#include "client/format.h"

namespace berth::cli {

using client::urlEncode;

namespace {

struct CreateFlags {
  std::string driver = "local", name;
  std::vector<std::string> labels, options;
};

int cmdCreate(Globals& g, const CreateFlags& f) {
  json body = {{"Name", f.name},
               {"Driver", f.driver},
               {"Labels", labelMap(f.labels)},
               {"DriverOpts", labelMap(f.options)}};
  auto api = g.api();
  if (!api) return fail(api.error());
  auto r = (*api)->callJson("POST", "/volumes/create", body.dump());
  if (!r) return fail(r.error());
  std::printf("%s\n", r->value("Name", "").c_str());
  return 0;
}

struct LsFlags {
  std::vector<std::string> filters;
  bool quiet = false;
  std::string format;
};

int cmdLs(Globals& g, const LsFlags& f) {
  auto api = g.api();
  if (!api) return fail(api.error());
  std::string q = "/volumes";
  if (!f.filters.empty()) q += "?filters=" + filtersQuery(f.filters);
  auto list = (*api)->callJson("GET", q);
  if (!list) return fail(list.error());
  json vols = list->value("Volumes", json::array());
  if (!vols.is_array()) vols = json::array();
  std::vector<json> rows;
  for (auto& v : vols) {
    std::string name = v.value("Name", "");
    if (f.quiet && f.format.empty()) {
      std::printf("%s\n", name.c_str());
      continue;
    }
    std::string labels;
    if (v.contains("Labels") && v["Labels"].is_object())
      for (auto& [k, val] : v["Labels"].items())
        labels += (labels.empty() ? "" : ",") + k + "=" + val.get<std::string>();
    rows.push_back({{"Name", name},
                    {"Driver", v.value("Driver", "")},
                    {"Scope", v.value("Scope", "local")},
                    {"Mountpoint", v.value("Mountpoint", "")},
                    {"Labels", labels},
                    {"CreatedAt", v.value("CreatedAt", "")}});
  }
  if (f.quiet && f.format.empty()) return 0;
  static const json headers = {{"Name", "VOLUME NAME"},      {"Driver", "DRIVER"}, {"Scope", "SCOPE"},
                               {"Mountpoint", "MOUNTPOINT"}, {"Labels", "LABELS"}, {"CreatedAt", "CREATED"}};
  return printOut(client::formatRows(f.format, "table {{.Driver}}\t{{.Name}}", rows, headers));
}

}  // namespace

void addVolumeCreate(CLI::App* c, Globals& g, Runner& run) {
  auto f = state<CreateFlags>();
  c->add_option("-d,--driver", f->driver, "specify volume driver name")->capture_default_str();
  c->add_option("--label", f->labels, "set metadata for a volume")->allow_extra_args(false);
  c->add_option("-o,--opt", f->options, "set driver specific options")->allow_extra_args(false);
  c->add_option("VOLUME", f->name, "volume name (a random one when not given)");
  c->callback([f, &g, &run] { run = [f, &g] { return cmdCreate(g, *f); }; });
}

void addVolumeLs(CLI::App* c, Globals& g, Runner& run) {
  auto f = state<LsFlags>();
  c->add_option("-f,--filter", f->filters, "provide filter values (e.g. 'dangling=true')")
      ->allow_extra_args(false);
  c->add_flag("-q,--quiet", f->quiet, "only display volume names");
  c->add_option("--format", f->format,
                "format output using a Go template, 'table', 'table TEMPLATE' or 'json'");
  c->callback([f, &g, &run] { run = [f, &g] { return cmdLs(g, *f); }; });
}

void addVolumeInspect(CLI::App* c, Globals& g, Runner& run) {
  addInspectCommand(c, g, run, "VOLUME", [](const std::string& n) { return "/volumes/" + urlEncode(n); });
}

void addVolumeRm(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  auto forced = state<bool>();
  c->add_flag("-f,--force", *forced, "force the removal of one or more volumes");
  c->add_option("VOLUME", *names)->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      int rc = 0;
      for (auto& n : *names) {
        auto r = (*api)->call("DELETE", "/volumes/" + urlEncode(n) + (*forced ? "?force=1" : ""));
        if (!r) {
          std::fprintf(stderr, "Error response from daemon: %s\n", r.error().message().c_str());
          rc = 1;
          continue;
        }
        std::printf("%s\n", n.c_str());
      }
      return rc;
    };
  });
}

void addVolumePrune(CLI::App* c, Globals& g, Runner& run) {
  auto force = state<bool>(), all = state<bool>();
  auto filters = state<std::vector<std::string>>();
  c->add_flag("-a,--all", *all, "remove all unused volumes, not just anonymous ones");
  c->add_flag("-f,--force", *force, "do not prompt for confirmation");
  c->add_option("--filter", *filters, "provide filter values (e.g. 'label=<label>')")
      ->allow_extra_args(false);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      std::string what = *all ? "all local volumes" : "anonymous local volumes";
      if (!*force && !confirm("WARNING! This will remove " + what +
                              " not used by at least one container.\nAre you sure you want to continue?"))
        return 0;
      auto api = g.api();
      if (!api) return fail(api.error());
      std::vector<std::string> fs = *filters;
      if (*all) fs.push_back("all=true");
      auto r =
          (*api)->callJson("POST", "/volumes/prune" + (fs.empty() ? "" : "?filters=" + filtersQuery(fs)));
      if (!r) return fail(r.error());
      int64_t reclaimed = printDeleted(*r, "VolumesDeleted", "Volumes");
      std::printf("Total reclaimed space: %s\n", client::humanSize(static_cast<double>(reclaimed)).c_str());
      return 0;
    };
  });
}

}  // namespace berth::cli
