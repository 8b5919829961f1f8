// Commands that follow a container: logs, stats, events, attach, exec, diff, export.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>

#include "base/fd.h"
#include "base/file.h"
#include "berth.h"
#include "client/format.h"
#include "client/gotemplate.h"

namespace berth::cli {
namespace {

using client::urlEncode;

std::string cpath(const std::string& idOrName, const std::string& rest = "") {
  return "/containers/" + urlEncode(idOrName) + rest;
}

// docker's --since/--until: a duration before now ("10m"), RFC 3339, or Unix seconds → Unix seconds.
Result<std::string> timeArg(const std::string& v, const char* flag) {
  if (v.empty()) return std::string();
  char* end = nullptr;
  std::strtod(v.c_str(), &end);
  if (end && !*end) return v;
  if (auto d = parseDuration(v)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9f", client::nowSeconds() - static_cast<double>(*d) / 1e9);
    return std::string(buf);
  }
  std::string t = v;
  if (t.size() == 10) t += "T00:00:00Z";  // a date alone
  if (double s = client::parseTime(t); s > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9f", s);
    return std::string(buf);
  }
  return invalid(std::string("invalid value for ") + flag + ": \"" + v +
                 "\" is not a duration, RFC 3339 time or Unix timestamp");
}

Result<json> inspectContainer(client::Api& a, const std::string& name) {
  return a.callJson("GET", cpath(name, "/json"));
}

int exitCodeOf(client::Api& a, const std::string& id) {
  auto info = inspectContainer(a, id);
  if (!info) return 0;
  return (*info)["State"].value("ExitCode", 0);
}

// ---- stats ---------------------------------------------------------------------------------------------

json statsRow(const json& s, const std::string& id, const std::string& given, bool trunc) {
  auto num = [](const json& j, std::initializer_list<const char*> keys) -> double {
    const json* p = &j;
    for (auto k : keys) {
      if (!p->is_object() || !p->contains(k)) return 0;
      p = &(*p)[k];
    }
    return p->is_number() ? p->get<double>() : 0;
  };
  double cpuDelta = num(s, {"cpu_stats", "cpu_usage", "total_usage"}) -
                    num(s, {"precpu_stats", "cpu_usage", "total_usage"});
  double sysDelta = num(s, {"cpu_stats", "system_cpu_usage"}) - num(s, {"precpu_stats", "system_cpu_usage"});
  double cpus = num(s, {"cpu_stats", "online_cpus"});
  if (cpus == 0 && s["cpu_stats"]["cpu_usage"].contains("percpu_usage"))
    cpus = static_cast<double>(s["cpu_stats"]["cpu_usage"]["percpu_usage"].size());
  double cpu = sysDelta > 0 && cpuDelta > 0 ? cpuDelta / sysDelta * cpus * 100 : 0;
  double usage = num(s, {"memory_stats", "usage"});
  double inactive = num(s, {"memory_stats", "stats", "total_inactive_file"});
  if (inactive == 0) inactive = num(s, {"memory_stats", "stats", "inactive_file"});
  if (inactive < usage) usage -= inactive;
  double limit = num(s, {"memory_stats", "limit"});
  double rx = 0, tx = 0;
  if (s.contains("networks") && s["networks"].is_object())
    for (auto& [k, n] : s["networks"].items()) rx += num(n, {"rx_bytes"}), tx += num(n, {"tx_bytes"});
  double rd = 0, wr = 0;
  if (s.contains("blkio_stats") && s["blkio_stats"].is_object() &&
      s["blkio_stats"].contains("io_service_bytes_recursive") &&
      s["blkio_stats"]["io_service_bytes_recursive"].is_array())
    for (auto& e : s["blkio_stats"]["io_service_bytes_recursive"]) {
      std::string op = e.value("op", "");
      std::transform(op.begin(), op.end(), op.begin(), ::tolower);
      if (op == "read") rd += num(e, {"value"});
      if (op == "write") wr += num(e, {"value"});
    }
  char cpuS[32], memP[32];
  std::snprintf(cpuS, sizeof cpuS, "%.2f%%", cpu);
  std::snprintf(memP, sizeof memP, "%.2f%%", limit > 0 ? usage / limit * 100 : 0);
  std::string name = s.value("name", "");
  if (name.starts_with("/")) name = name.substr(1);
  return json{{"Container", given},
              {"Name", name},
              {"ID", trunc ? id.substr(0, 12) : id},
              {"CPUPerc", cpuS},
              {"MemUsage", client::bytesSize(usage) + " / " + client::bytesSize(limit)},
              {"MemPerc", memP},
              {"NetIO", client::humanSize(rx) + " / " + client::humanSize(tx)},
              {"BlockIO", client::humanSize(rd) + " / " + client::humanSize(wr)},
              {"PIDs", std::to_string(static_cast<int64_t>(num(s, {"pids_stats", "current"})))}};
}

const json& statsHeaders() {
  static const json h = {{"Container", "CONTAINER"},
                         {"Name", "NAME"},
                         {"ID", "CONTAINER ID"},
                         {"CPUPerc", "CPU %"},
                         {"MemUsage", "MEM USAGE / LIMIT"},
                         {"MemPerc", "MEM %"},
                         {"NetIO", "NET I/O"},
                         {"BlockIO", "BLOCK I/O"},
                         {"PIDs", "PIDS"}};
  return h;
}

struct StatsFlags {
  bool all = false, noStream = false, noTrunc = false;
  std::string format;
  std::vector<std::string> names;
};

int cmdStats(Globals& g, const StatsFlags& f) {
  auto api = g.api();
  if (!api) return fail(api.error());
  client::Api& a = **api;
  std::vector<std::pair<std::string, std::string>> targets;  // id, as given
  if (f.names.empty()) {
    auto list = a.callJson("GET", std::string("/containers/json") + (f.all ? "?all=1" : ""));
    if (!list) return fail(list.error());
    for (auto& c : *list) targets.push_back({c.value("Id", ""), c.value("Id", "").substr(0, 12)});
  } else {
    for (auto& n : f.names) {
      auto info = inspectContainer(a, n);
      if (!info) return fail(info.error());
      targets.push_back({info->value("Id", n), n});
    }
  }
  std::string def =
      "table "
      "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
  if (f.noStream) {
    std::vector<json> rows;
    for (auto& [id, given] : targets) {
      auto s = a.callJson("GET", cpath(id, "/stats?stream=0"));
      if (!s) return fail(s.error());
      rows.push_back(statsRow(*s, id, given, !f.noTrunc));
    }
    return printOut(client::formatRows(f.format, def, rows, statsHeaders()));
  }
  // Streaming: one connection per container feeding the latest sample; the screen redrawn every second.
  std::mutex mu;
  std::vector<json> rows(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    rows[i] = statsRow(json::object(), targets[i].first, targets[i].second, !f.noTrunc);
    std::thread([&, i, id = targets[i].first, given = targets[i].second, trunc = !f.noTrunc,
                 sock = a.socketPath()] {
      client::Api own(sock);
      std::string buf;
      (void)own.stream("GET", cpath(id, "/stats?stream=1"), "", [&](std::string_view s) {
        buf.append(s);
        for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
          auto j = json::parse(buf.substr(0, nl), nullptr, false);
          buf.erase(0, nl + 1);
          if (j.is_object()) {
            std::lock_guard l(mu);
            rows[i] = statsRow(j, id, given, trunc);
          }
        }
        return true;
      });
    }).detach();
  }
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    std::lock_guard l(mu);
    auto out = client::formatRows(f.format, def, rows, statsHeaders());
    if (!out) return printOut(out);
    std::printf("\033[2J\033[H%s", out->c_str());
    std::fflush(stdout);
  }
}

// ---- events --------------------------------------------------------------------------------------------

std::string eventLine(const json& e) {
  int64_t nano = e.value("timeNano", int64_t(0));
  time_t secs = static_cast<time_t>(nano / 1000000000);
  struct tm tm;
  localtime_r(&secs, &tm);
  char ts[64], zone[16];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::strftime(zone, sizeof zone, "%z", &tm);
  std::string z = zone;
  z = z == "+0000" ? "Z" : z.substr(0, 3) + ":" + z.substr(3);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(nano % 1000000000));
  std::string line =
      std::string(ts) + frac + z + " " + e.value("Type", "") + " " + e.value("Action", "") + " ";
  json actor = e.value("Actor", json::object());
  line += actor.value("ID", "");
  json attrs = actor.value("Attributes", json::object());
  if (attrs.is_object() && !attrs.empty()) {
    line += " (";
    bool first = true;
    for (auto& [k, v] : attrs.items()) {
      line += (first ? "" : ", ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
      first = false;
    }
    line += ")";
  }
  return line;
}

}  // namespace

void addLogs(CLI::App* c, Globals& g, Runner& run) {
  struct F {
    bool follow = false, timestamps = false, details = false;
    std::string tail = "all", since, until, name;
  };
  auto f = state<F>();
  c->add_flag("-f,--follow", f->follow, "follow log output");
  c->add_flag("-t,--timestamps", f->timestamps, "show timestamps");
  c->add_flag("--details", f->details, "show extra details provided to logs");
  c->add_option("-n,--tail", f->tail, "number of lines to show from the end of the logs (default all)");
  c->add_option("--since", f->since, "show logs since timestamp (2013-01-02T13:23:37Z) or relative (42m)");
  c->add_option("--until", f->until, "show logs before a timestamp or relative (42m)");
  c->add_option("CONTAINER", f->name, "container")->required();
  c->callback([f, &g, &run] {
    run = [f, &g] {
      auto since = timeArg(f->since, "--since");
      auto until = timeArg(f->until, "--until");
      if (!since) return usage(since.error().message(), 1);
      if (!until) return usage(until.error().message(), 1);
      auto api = g.api();
      if (!api) return fail(api.error());
      auto info = inspectContainer(**api, f->name);
      if (!info) return fail(info.error());
      bool tty = (*info)["Config"].value("Tty", false);
      std::string q = "/logs?stdout=1&stderr=1&tail=" + urlEncode(f->tail);
      if (f->follow) q += "&follow=1";
      if (f->timestamps) q += "&timestamps=1";
      if (f->details) q += "&details=1";
      if (!since->empty()) q += "&since=" + *since;
      if (!until->empty()) q += "&until=" + *until;
      auto r = (*api)->stream("GET", cpath(info->value("Id", f->name), q), "", outputSink(tty));
      return r ? 0 : fail(r.error());
    };
  });
}

void addStats(CLI::App* c, Globals& g, Runner& run) {
  auto f = state<StatsFlags>();
  c->add_flag("-a,--all", f->all, "show all containers (default shows just running)");
  c->add_flag("--no-stream", f->noStream, "disable streaming stats and only pull the first result");
  c->add_flag("--no-trunc", f->noTrunc, "do not truncate output");
  c->add_option("--format", f->format,
                "format output using a Go template, 'table', 'table TEMPLATE' or 'json'");
  c->add_option("CONTAINER", f->names, "containers (default: all running)");
  c->callback([f, &g, &run] { run = [f, &g] { return cmdStats(g, *f); }; });
}

void addEvents(CLI::App* c, Globals& g, Runner& run) {
  struct F {
    std::string since, until, format;
    std::vector<std::string> filters;
  };
  auto f = state<F>();
  c->add_option("--since", f->since, "show all events created since timestamp");
  c->add_option("--until", f->until, "stream events until this timestamp");
  c->add_option("-f,--filter", f->filters, "filter output based on conditions provided")
      ->allow_extra_args(false);
  c->add_option("--format", f->format, "format output using a Go template or 'json'");
  c->callback([f, &g, &run] {
    run = [f, &g] {
      auto since = timeArg(f->since, "--since");
      auto until = timeArg(f->until, "--until");
      if (!since) return usage(since.error().message(), 1);
      if (!until) return usage(until.error().message(), 1);
      std::optional<client::Template> tmpl;
      if (!f->format.empty() && f->format != "json") {
        std::string fmt = f->format;
        for (size_t p; (p = fmt.find("\\t")) != std::string::npos;) fmt.replace(p, 2, "\t");
        auto t = client::Template::parse(fmt);
        if (!t) return usage(t.error().message(), 1);
        tmpl.emplace(std::move(*t));
      }
      auto api = g.api();
      if (!api) return fail(api.error());
      std::string q = "/events?";
      if (!since->empty()) q += "since=" + *since + "&";
      if (!until->empty()) q += "until=" + *until + "&";
      if (!f->filters.empty()) q += "filters=" + filtersQuery(f->filters);
      std::string buf;
      auto r = (*api)->stream("GET", q, "", [&](std::string_view s) {
        buf.append(s);
        for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
          std::string line = buf.substr(0, nl);
          buf.erase(0, nl + 1);
          auto e = json::parse(line, nullptr, false);
          if (!e.is_object()) continue;
          std::string out;
          if (f->format == "json")
            out = e.dump();
          else if (tmpl)
            out = tmpl->render(e).value_or("");
          else
            out = eventLine(e);
          std::printf("%s\n", out.c_str());
          std::fflush(stdout);
        }
        return true;
      });
      return r ? 0 : fail(r.error());
    };
  });
}

void addAttach(CLI::App* c, Globals& g, Runner& run) {
  struct F {
    bool noStdin = false, sigProxy = true;
    std::string name, detachKeys;
  };
  auto f = state<F>();
  c->add_flag("--no-stdin", f->noStdin, "do not attach STDIN");
  c->add_flag("--sig-proxy{true}", f->sigProxy, "proxy all received signals to the process (default true)");
  c->add_option("--detach-keys", f->detachKeys, "override the key sequence for detaching a container");
  c->add_option("CONTAINER", f->name, "container")->required();
  c->callback([f, &g, &run] {
    run = [f, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      client::Api& a = **api;
      auto info = inspectContainer(a, f->name);
      if (!info) return fail(info.error());
      std::string id = info->value("Id", f->name);
      if (!(*info)["State"].value("Running", false))
        return fail(
            Error(ErrorCategory::Conflict, "You cannot attach to a stopped container, start it first"));
      if ((*info)["State"].value("Paused", false))
        return fail(
            Error(ErrorCategory::Conflict, "You cannot attach to a paused container, unpause it first"));
      bool tty = (*info)["Config"].value("Tty", false);
      bool in = !f->noStdin && (*info)["Config"].value("OpenStdin", false);
      auto conn = a.hijack(
          "POST", cpath(id, std::string("/attach?stream=1&stdout=1&stderr=1&stdin=") + (in ? "1" : "0")));
      if (!conn) return fail(conn.error());
      StreamOptions so = streamOptions(a, cpath(id), tty, in, f->sigProxy ? cpath(id, "/kill") : "");
      if (auto r = relayStreams(*conn, so); !r) return fail(r.error());
      // The stream ends when the container does: its exit code is ours, as docker attach.
      auto w = a.callJson("POST", cpath(id, "/wait"));
      if (w) return static_cast<int>(w->value("StatusCode", 0));
      return exitCodeOf(a, id);
    };
  });
}

void addExec(CLI::App* c, Globals& g, Runner& run) {
  struct F {
    bool detach = false, interactive = false, tty = false, privileged = false;
    std::string user, workdir, detachKeys;
    std::vector<std::string> env, envFiles, rest;
  };
  auto f = state<F>();
  c->prefix_command();
  c->add_flag("-d,--detach", f->detach, "detached mode: run command in the background");
  c->add_flag("-i,--interactive", f->interactive, "keep STDIN open even if not attached");
  c->add_flag("-t,--tty", f->tty, "allocate a pseudo-TTY");
  c->add_flag("--privileged", f->privileged, "give extended privileges to the command");
  c->add_option("-u,--user", f->user, "username or UID (format: <name|uid>[:<group|gid>])");
  c->add_option("-w,--workdir", f->workdir, "working directory inside the container");
  c->add_option("-e,--env", f->env, "set environment variables")->allow_extra_args(false);
  c->add_option("--env-file", f->envFiles, "read in a file of environment variables")
      ->allow_extra_args(false);
  c->add_option("--detach-keys", f->detachKeys, "override the key sequence for detaching a container");
  c->callback([f, c, &g, &run] {
    f->rest = c->remaining();
    run = [f, &g] {
      if (f->rest.size() < 2)
        return usage(
            "\"berth exec\" requires at least 2 arguments.\nUsage:  berth exec [OPTIONS] CONTAINER COMMAND "
            "[ARG...]",
            1);
      auto api = g.api();
      if (!api) return fail(api.error());
      client::Api& a = **api;
      json env = json::array();
      for (auto& file : f->envFiles) {
        auto text = readFile(file);
        if (!text) return failLocal("open " + file + ": no such file or directory");
        for (auto& line : split(*text, '\n'))
          if (auto t = trim(line); !t.empty() && t[0] != '#') env.push_back(t);
      }
      for (auto& e : f->env) env.push_back(e);
      json body = {{"AttachStdin", f->interactive && !f->detach},
                   {"AttachStdout", !f->detach},
                   {"AttachStderr", !f->detach},
                   {"Tty", f->tty},
                   {"Cmd", std::vector<std::string>(f->rest.begin() + 1, f->rest.end())},
                   {"Env", env},
                   {"Privileged", f->privileged}};
      if (!f->user.empty()) body["User"] = f->user;
      if (!f->workdir.empty()) body["WorkingDir"] = f->workdir;
      auto created = a.callJson("POST", cpath(f->rest[0], "/exec"), body.dump());
      if (!created) return fail(created.error());
      std::string id = created->value("Id", "");
      if (f->detach) {
        auto r = a.call("POST", "/exec/" + id + "/start", json{{"Detach", true}, {"Tty", f->tty}}.dump());
        return r ? 0 : fail(r.error());
      }
      auto conn = a.hijack("POST", "/exec/" + id + "/start", json{{"Detach", false}, {"Tty", f->tty}}.dump());
      if (!conn) return fail(conn.error());
      StreamOptions so = streamOptions(a, "/exec/" + id, f->tty, f->interactive);
      if (auto r = relayStreams(*conn, so); !r) return fail(r.error());
      auto info = a.callJson("GET", "/exec/" + id + "/json");
      if (!info) return fail(info.error());
      // The exit code is recorded just after the stream ends.
      for (int i = 0; i < 200 && info->value("Running", false); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        auto again = a.callJson("GET", "/exec/" + id + "/json");
        if (!again) break;
        info = std::move(again);
      }
      auto code = (*info)["ExitCode"];
      return code.is_number() ? code.get<int>() : 0;
    };
  });
}

void addDiff(CLI::App* c, Globals& g, Runner& run) {
  auto name = state<std::string>();
  c->add_option("CONTAINER", *name, "container")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      auto r = (*api)->callJson("GET", cpath(*name, "/changes"));
      if (!r) return fail(r.error());
      if (r->is_array())
        for (auto& ch : *r) {
          int k = ch.value("Kind", 0);
          std::printf("%c %s\n", k == 1 ? 'A' : k == 2 ? 'D' : 'C', ch.value("Path", "").c_str());
        }
      return 0;
    };
  });
}

void addExport(CLI::App* c, Globals& g, Runner& run) {
  auto name = state<std::string>(), output = state<std::string>();
  c->add_option("-o,--output", *output, "write to a file, instead of STDOUT");
  c->add_option("CONTAINER", *name, "container")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      if (output->empty() && ::isatty(1))
        return usage("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1);
      auto api = g.api();
      if (!api) return fail(api.error());
      return streamTo(**api, cpath(*name, "/export"), *output);
    };
  });
}

}  // namespace berth::cli
