// info, version, system df, system prune, and shell completion scripts.
#include <sys/utsname.h>

#include <functional>
#include <set>

#include "berth.h"
#include "client/format.h"

namespace berth::cli {
namespace {

// The volumes among a container summary's mounts (docker's LOCAL VOLUMES column).
std::string localVolumes(const json& ct) {
  int n = 0;
  if (ct.contains("Mounts") && ct["Mounts"].is_array())
    for (auto& m : ct["Mounts"])
      if (m.value("Driver", "") == "local") ++n;
  return std::to_string(n);
}

}  // namespace

namespace {

std::string str(const json& j, const char* k) {
  if (!j.is_object() || !j.contains(k)) return "";
  const json& v = j[k];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string clientArch() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  return m == "x86_64" ? "amd64" : m == "aarch64" ? "arm64" : m;
}

}  // namespace

void addInfo(CLI::App* c, Globals& g, Runner& run) {
  auto format = state<std::string>();
  c->add_option("-f,--format", *format, "format output using a Go template or 'json'");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      auto i = (*api)->callJson("GET", "/info");
      if (!i) return fail(i.error());
      if (!format->empty()) return printOut(client::formatOne(*format, *i));
      auto& j = *i;
      std::printf("Client:\n Version:    %s\n Context:    default\n Debug Mode: false\n\nServer:\n",
                  BERTH_VERSION);
      std::printf(" Containers: %s\n  Running: %s\n  Paused: %s\n  Stopped: %s\n",
                  str(j, "Containers").c_str(), str(j, "ContainersRunning").c_str(),
                  str(j, "ContainersPaused").c_str(), str(j, "ContainersStopped").c_str());
      std::printf(" Images: %s\n Server Version: %s\n Storage Driver: %s\n Logging Driver: %s\n",
                  str(j, "Images").c_str(), str(j, "ServerVersion").c_str(), str(j, "Driver").c_str(),
                  str(j, "LoggingDriver").c_str());
      std::printf(" Cgroup Driver: %s\n Cgroup Version: %s\n", str(j, "CgroupDriver").c_str(),
                  str(j, "CgroupVersion").c_str());
      std::string runtimes;
      if (j.contains("Runtimes") && j["Runtimes"].is_object())
        for (auto& [k, v] : j["Runtimes"].items()) runtimes += (runtimes.empty() ? "" : " ") + k;
      std::printf(" Runtimes: %s\n Default Runtime: %s\n", runtimes.c_str(),
                  str(j, "DefaultRuntime").c_str());
      if (j.contains("SecurityOptions") && j["SecurityOptions"].is_array()) {
        std::printf(" Security Options:\n");
        for (auto& s : j["SecurityOptions"]) {
          std::string v = s.get<std::string>();
          auto comma = v.find(',');
          std::printf("  %s\n",
                      v.substr(5, comma == std::string::npos ? std::string::npos : comma - 5).c_str());
          if (comma != std::string::npos) std::printf("   %s\n", v.substr(comma + 1).c_str());
        }
      }
      std::printf(" Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n CPUs: %s\n",
                  str(j, "KernelVersion").c_str(), str(j, "OperatingSystem").c_str(),
                  str(j, "OSType").c_str(), str(j, "Architecture").c_str(), str(j, "NCPU").c_str());
      std::printf(
          " Total Memory: %s\n Name: %s\n ID: %s\n Docker Root Dir: %s\n Debug Mode: false\n Live Restore "
          "Enabled: %s\n",
          client::bytesSize(static_cast<double>(j.value("MemTotal", int64_t(0)))).c_str(),
          str(j, "Name").c_str(), str(j, "ID").c_str(), str(j, "DockerRootDir").c_str(),
          str(j, "LiveRestoreEnabled").c_str());
      if (j.contains("Warnings") && j["Warnings"].is_array())
        for (auto& w : j["Warnings"]) std::fprintf(stderr, "%s\n", w.get<std::string>().c_str());
      return 0;
    };
  });
}

void addVersion(CLI::App* c, Globals& g, Runner& run) {
  auto format = state<std::string>();
  c->add_option("-f,--format", *format, "format output using a Go template or 'json'");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      json client = {{"Platform", {{"Name", "berth"}}},
                     {"Version", BERTH_VERSION},
                     {"ApiVersion", "1.45"},
                     {"DefaultAPIVersion", "1.45"},
                     {"Os", "linux"},
                     {"Arch", clientArch()}};
      auto api = g.api();
      json server;
      if (api) {
        auto v = (*api)->callJson("GET", "/version");
        if (v) server = *v;
      }
      if (!format->empty()) {
        int rc = printOut(client::formatOne(*format, json{{"Client", client}, {"Server", server}}));
        return api ? rc : fail(api.error());
      }
      std::printf("Client:\n Version:           %s\n API version:       1.45\n OS/Arch:           linux/%s\n",
                  BERTH_VERSION, clientArch().c_str());
      if (!api) {
        std::printf("\n");
        return fail(api.error());
      }
      std::printf(
          "\nServer: %s\n Engine:\n  Version:          %s\n  API version:      %s (minimum version %s)\n",
          server.contains("Platform") ? str(server["Platform"], "Name").c_str() : "berth",
          str(server, "Version").c_str(), str(server, "ApiVersion").c_str(),
          str(server, "MinAPIVersion").c_str());
      std::printf("  Git commit:       %s\n  OS/Arch:          %s/%s\n  Kernel Version:   %s\n",
                  str(server, "GitCommit").c_str(), str(server, "Os").c_str(), str(server, "Arch").c_str(),
                  str(server, "KernelVersion").c_str());
      return 0;
    };
  });
}

// docker system df's summary: one row per type (images, containers, local volumes, build cache).
std::vector<json> dfSummaryRows(const json& d) {
  int64_t imgTotal = 0, imgActive = 0, imgSize = d.value("LayersSize", int64_t(0)), imgReclaim = 0;
  for (auto& i : d["Images"]) {
    ++imgTotal;
    if (i.value("Containers", 0) > 0)
      ++imgActive;
    else
      imgReclaim += i.value("Size", int64_t(0));
  }
  int64_t cTotal = 0, cActive = 0, cSize = 0, cReclaim = 0;
  for (auto& ct : d["Containers"]) {
    ++cTotal;
    int64_t sz = ct.value("SizeRw", int64_t(0));
    cSize += sz;
    if (ct.value("State", "") == "running")
      ++cActive;
    else
      cReclaim += sz;
  }
  int64_t vTotal = 0, vActive = 0, vSize = 0, vReclaim = 0;
  if (d.contains("Volumes") && d["Volumes"].is_array())
    for (auto& v : d["Volumes"]) {
      ++vTotal;
      json u = v.value("UsageData", json::object());
      int64_t sz = u.is_object() ? u.value("Size", int64_t(0)) : 0;
      vSize += sz;
      if (u.is_object() && u.value("RefCount", int64_t(0)) > 0)
        ++vActive;
      else
        vReclaim += sz;
    }
  auto pct = [](int64_t part, int64_t whole) {
    return whole > 0 ? " (" + std::to_string(part * 100 / whole) + "%)" : std::string();
  };
  auto hs = [](int64_t n) { return client::humanSize(static_cast<double>(n)); };
  return std::vector<json>{
      {{"Type", "Images"},
       {"TotalCount", std::to_string(imgTotal)},
       {"Active", std::to_string(imgActive)},
       {"Size", hs(imgSize)},
       {"Reclaimable", hs(imgReclaim) + pct(imgReclaim, imgSize)}},
      {{"Type", "Containers"},
       {"TotalCount", std::to_string(cTotal)},
       {"Active", std::to_string(cActive)},
       {"Size", hs(cSize)},
       {"Reclaimable", hs(cReclaim) + pct(cReclaim, cSize)}},
      {{"Type", "Local Volumes"},
       {"TotalCount", std::to_string(vTotal)},
       {"Active", std::to_string(vActive)},
       {"Size", hs(vSize)},
       {"Reclaimable", hs(vReclaim) + pct(vReclaim, vSize)}},
      {{"Type", "Build Cache"}, {"TotalCount", "0"}, {"Active", "0"}, {"Size", "0B"}, {"Reclaimable", "0B"}}};
}

// docker system df -v: every image, container and volume with its size.
std::string dfVerbose(const json& d) {
  auto hs = [](int64_t n) { return client::humanSize(static_cast<double>(n)); };
  std::string text = "Images space usage:\n\n";
  std::string t = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n";
  for (auto& i : d["Images"]) {
    std::vector<std::string> tags;
    for (auto& rt : i["RepoTags"]) tags.push_back(rt.get<std::string>());
    if (tags.empty()) tags.push_back("<none>:<none>");
    for (auto& rt : tags) {
      auto colon = rt.rfind(':');
      std::string id = i.value("Id", "");
      id = id.starts_with("sha256:") ? id.substr(7, 12) : id.substr(0, 12);
      t +=
          rt.substr(0, colon) + "\t" + rt.substr(colon + 1) + "\t" + id + "\t" +
          client::humanDuration(static_cast<int64_t>(client::nowSeconds()) - i.value("Created", int64_t(0))) +
          " ago\t" + hs(i.value("Size", int64_t(0))) + "\t0B\t" + hs(i.value("Size", int64_t(0))) + "\t" +
          std::to_string(i.value("Containers", 0)) + "\n";
    }
  }
  text += client::tabwrite(t) + "\nContainers space usage:\n\n";
  t = "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n";
  for (auto& ct : d["Containers"]) {
    std::string name = ct["Names"].empty() ? "" : ct["Names"][0].get<std::string>();
    if (name.starts_with("/")) name = name.substr(1);
    t += ct.value("Id", "").substr(0, 12) + "\t" + ct.value("Image", "") + "\t" +
         json(client::ellipsis(ct.value("Command", ""), 20)).dump() + "\t" + localVolumes(ct) + "\t" +
         hs(ct.value("SizeRw", int64_t(0))) + "\t" +
         client::humanDuration(static_cast<int64_t>(client::nowSeconds()) - ct.value("Created", int64_t(0))) +
         " ago\t" + ct.value("Status", "") + "\t" + name + "\n";
  }
  text += client::tabwrite(t) + "\nLocal Volumes space usage:\n\n";
  t = "VOLUME NAME\tLINKS\tSIZE\n";
  if (d.contains("Volumes") && d["Volumes"].is_array())
    for (auto& v : d["Volumes"]) {
      json u = v.value("UsageData", json::object());
      if (!u.is_object()) u = json::object();
      t += v.value("Name", "") + "\t" + std::to_string(u.value("RefCount", int64_t(0))) + "\t" +
           hs(u.value("Size", int64_t(0))) + "\n";
    }
  text += client::tabwrite(t) + "\nBuild cache usage: 0B\n";
  return text;
}

void addSystemDf(CLI::App* c, Globals& g, Runner& run) {
  auto verbose = state<bool>();
  auto format = state<std::string>();
  c->add_flag("-v,--verbose", *verbose, "show detailed information on space usage");
  c->add_option("--format", *format,
                "format output using a Go template, 'table', 'table TEMPLATE' or 'json'");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      auto r = (*api)->callJson("GET", "/system/df");
      if (!r) return fail(r.error());
      auto& d = *r;
      std::vector<json> rows = dfSummaryRows(d);
      static const json headers = {{"Type", "TYPE"},
                                   {"TotalCount", "TOTAL"},
                                   {"Active", "ACTIVE"},
                                   {"Size", "SIZE"},
                                   {"Reclaimable", "RECLAIMABLE"}};
      if (!*verbose)
        return printOut(client::formatRows(
            *format, "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", rows,
            headers));
      std::string text = dfVerbose(d);
      std::fwrite(text.data(), 1, text.size(), stdout);
      return 0;
    };
  });
}

void addSystemPrune(CLI::App* c, Globals& g, Runner& run) {
  auto all = state<bool>(), force = state<bool>(), volumes = state<bool>();
  auto filters = state<std::vector<std::string>>();
  c->add_flag("-a,--all", *all, "remove all unused images not just dangling ones");
  c->add_flag("-f,--force", *force, "do not prompt for confirmation");
  c->add_flag("--volumes", *volumes, "prune anonymous volumes");
  c->add_option("--filter", *filters, "provide filter values (e.g. 'label=<key>=<value>')")
      ->allow_extra_args(false);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      std::string warn = "WARNING! This will remove:\n  - all stopped containers\n";
      if (*volumes) warn += "  - all anonymous volumes not used by at least one container\n";
      warn += *all ? "  - all images without at least one container associated to them\n"
                   : "  - all dangling images\n";
      if (!*force && !confirm(warn + "\nAre you sure you want to continue?")) return 0;
      auto api = g.api();
      if (!api) return fail(api.error());
      int64_t reclaimed = 0;
      std::string fq = filters->empty() ? "" : "?filters=" + filtersQuery(*filters);
      auto cr = (*api)->callJson("POST", "/containers/prune" + fq);
      if (!cr) return fail(cr.error());
      reclaimed += printDeleted(*cr, "ContainersDeleted", "Containers");
      if (*volumes) {  // anonymous volumes no container uses (as docker's since API 1.42)
        auto vr = (*api)->callJson("POST", "/volumes/prune" + fq);
        if (!vr) return fail(vr.error());
        reclaimed += printDeleted(*vr, "VolumesDeleted", "Volumes");
      }
      std::vector<std::string> fs = *filters;
      fs.push_back(*all ? "dangling=false" : "dangling=true");
      auto ir = (*api)->callJson("POST", "/images/prune?filters=" + filtersQuery(fs));
      if (!ir) return fail(ir.error());
      if ((*ir)["ImagesDeleted"].is_array() && !(*ir)["ImagesDeleted"].empty()) {
        std::printf("Deleted Images:\n");
        for (auto& d : (*ir)["ImagesDeleted"]) {
          if (d.contains("Untagged")) std::printf("untagged: %s\n", d["Untagged"].get<std::string>().c_str());
          if (d.contains("Deleted")) std::printf("deleted: %s\n", d["Deleted"].get<std::string>().c_str());
        }
        std::printf("\n");
      }
      reclaimed += ir->value("SpaceReclaimed", int64_t(0));
      std::printf("Total reclaimed space: %s\n", client::humanSize(static_cast<double>(reclaimed)).c_str());
      return 0;
    };
  });
}

// ---- completion ----------------------------------------------------------------------------------------

namespace {

struct CmdInfo {
  std::string path;  // "ps", "container ls"
  std::vector<std::string> flags;
  std::string args;  // what positional arguments complete to: containers, images, files
};

std::vector<std::string> flagsOf(CLI::App* a) {
  std::vector<std::string> out;
  for (auto* o : a->get_options()) {
    for (auto& s : o->get_snames()) out.push_back("-" + s);
    for (auto& l : o->get_lnames()) out.push_back("--" + l);
  }
  return out;
}

std::string argKind(const std::string& name) {
  static const std::set<std::string> images = {"run",   "create",  "images",  "ls",      "save",
                                               "tag",   "rmi",     "history", "inspect", "rm",
                                               "mount", "unmount", "pull"};
  static const std::set<std::string> none = {"ps", "info",  "version", "events",
                                             "df", "prune", "load",    "completion"};
  if (none.count(name)) return "";
  if (name == "cp" || name == "import") return "files";
  return images.count(name) ? "images" : "containers";
}

std::vector<CmdInfo> collect() {
  CLI::App app;
  Globals g;
  Runner r;
  std::vector<CmdInfo> out;
  for (auto& d : topCommands()) {
    auto* c = app.add_subcommand(d.name);
    d.add(c, g, r);
    out.push_back({d.name, flagsOf(c), argKind(d.name)});
  }
  for (const char* group : {"container", "image", "network", "volume", "system"})
    for (auto& d : groupCommands(group)) {
      auto* c = app.add_subcommand(std::string(group) + "-" + d.name);
      d.add(c, g, r);
      std::string kind =
          std::string(group) == "network" || std::string(group) == "volume" ? "" : argKind(d.name);
      if (std::string(group) == "container" &&
          (std::string(d.name) == "rm" || std::string(d.name) == "inspect"))
        kind = "containers";
      if (std::string(group) == "image" && std::string(d.name) == "inspect") kind = "images";
      if (std::string(group) == "image" && std::string(d.name) == "ls") kind = "";
      out.push_back({std::string(group) + " " + d.name, flagsOf(c), kind});
      if (d.alias) out.push_back({std::string(group) + " " + d.alias, flagsOf(c), kind});
    }
  return out;
}

std::string joinWords(const std::vector<std::string>& w) {
  std::string s;
  for (auto& x : w) s += (s.empty() ? "" : " ") + x;
  return s;
}

std::string bashScript() {
  auto cmds = collect();
  std::vector<std::string> top = {"container", "image", "network", "volume", "system"};
  std::map<std::string, std::vector<std::string>> groups;
  for (auto& c : cmds) {
    auto sp = c.path.find(' ');
    if (sp == std::string::npos)
      top.push_back(c.path);
    else
      groups[c.path.substr(0, sp)].push_back(c.path.substr(sp + 1));
  }
  std::string s =
      "# bash completion for berth (berth completion bash > /etc/bash_completion.d/berth)\n"
      "_berth_names() {\n"
      "  local berth=\"${COMP_WORDS[0]}\"\n"
      "  case \"$1\" in\n"
      "    containers) BERTH_NO_START=1 \"$berth\" \"${_berth_globals[@]}\" ps -a --format '{{.Names}}' "
      "2>/dev/null ;;\n"
      "    images) BERTH_NO_START=1 \"$berth\" \"${_berth_globals[@]}\" images --format "
      "'{{.Repository}}:{{.Tag}}' "
      "2>/dev/null | grep -v '<none>' ;;\n"
      "  esac\n"
      "}\n"
      "_berth() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" cmd=\"\" i w\n"
      "  _berth_globals=()\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    w=\"${COMP_WORDS[i]}\"\n"
      "    case \"$w\" in\n"
      "      -H|--host|--data-root|-s|--storage-driver) _berth_globals+=(\"$w\" \"${COMP_WORDS[i+1]}\"); "
      "((i++)); continue ;;\n"
      "      -*) continue ;;\n"
      "    esac\n"
      "    if [[ -z \"$cmd\" ]]; then cmd=\"$w\"\n"
      "    elif [[ \"$cmd\" == container || \"$cmd\" == image || \"$cmd\" == system ]]; then cmd=\"$cmd "
      "$w\"; break\n"
      "    else break; fi\n"
      "  done\n"
      "  local flags=\"\" kind=\"\" words=\"\"\n"
      "  case \"$cmd\" in\n"
      "    \"\") words=\"" +
      joinWords(top) + "\"; flags=\"-H --host --data-root -s --storage-driver -v --version --help\" ;;\n";
  for (auto& [grp, subs] : groups) s += "    " + grp + ") words=\"" + joinWords(subs) + "\" ;;\n";
  for (auto& c : cmds)
    s += "    \"" + c.path + "\") flags=\"" + joinWords(c.flags) + "\"; kind=\"" + c.args + "\" ;;\n";
  s += "  esac\n"
       "  if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\")); return; fi\n"
       "  if [[ -n \"$words\" ]]; then COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")); return; fi\n"
       "  case \"$kind\" in\n"
       "    files) COMPREPLY=($(compgen -f -- \"$cur\") $(compgen -W \"$(_berth_names containers | sed "
       "'s/$/:/')\" -- \"$cur\")) ;;\n"
       "    containers|images) COMPREPLY=($(compgen -W \"$(_berth_names $kind)\" -- \"$cur\")) ;;\n"
       "  esac\n"
       "}\n"
       "complete -F _berth berth\n";
  return s;
}

std::string fishScript() {
  auto cmds = collect();
  std::string s =
      "# fish completion for berth (berth completion fish > ~/.config/fish/completions/berth.fish)\n";
  std::set<std::string> tops;
  for (auto& c : cmds) tops.insert(c.path.substr(0, c.path.find(' ')));
  s += "complete -c berth -f\n";
  s += "complete -c berth -n '__fish_use_subcommand' -a '" + joinWords({tops.begin(), tops.end()}) + "'\n";
  for (auto& c : cmds) {
    auto sp = c.path.find(' ');
    if (sp != std::string::npos) {
      s += "complete -c berth -n '__fish_seen_subcommand_from " + c.path.substr(0, sp) + "' -a '" +
           c.path.substr(sp + 1) + "'\n";
      continue;
    }
    for (auto& f : c.flags)
      if (f.starts_with("--"))
        s += "complete -c berth -n '__fish_seen_subcommand_from " + c.path + "' -l " + f.substr(2) + "\n";
    if (c.args == "containers")
      s += "complete -c berth -n '__fish_seen_subcommand_from " + c.path +
           "' -a '(env BERTH_NO_START=1 berth ps -a --format \"{{.Names}}\" 2>/dev/null)'\n";
    if (c.args == "images")
      s += "complete -c berth -n '__fish_seen_subcommand_from " + c.path +
           "' -a '(env BERTH_NO_START=1 berth images --format \"{{.Repository}}:{{.Tag}}\" 2>/dev/null)'\n";
  }
  return s;
}

}  // namespace

void addCompletion(CLI::App* c, Globals&, Runner& run) {
  auto shell = state<std::string>();
  c->add_option("SHELL", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  c->callback([=, &run] {
    run = [=] {
      std::string s = *shell == "fish"  ? fishScript()
                      : *shell == "zsh" ? "# zsh completion for berth (source it from .zshrc)\nautoload -U "
                                          "+X bashcompinit && bashcompinit\n" +
                                              bashScript()
                                        : bashScript();
      std::fwrite(s.data(), 1, s.size(), stdout);
      return 0;
    };
  });
}

}  // namespace berth::cli
