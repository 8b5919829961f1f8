// Connecting to berthd, starting it when none answers, and helpers shared by the commands.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "base/file.h"
#include "berth.h"
#include "client/format.h"
#include "client/http_client.h"

extern char** environ;

namespace berth::cli {
namespace {

constexpr const char* kDefaultSocket = "/run/berth/berth.sock";

std::string dirOf(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? "." : s == 0 ? "/" : p.substr(0, s);
}

std::string selfDir() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  self[n] = 0;
  return dirOf(self);
}

// berthd next to this berth (installed side by side, or the build tree's cmd/berthd), else on PATH.
std::string findBerthd() {
  if (const char* e = std::getenv("BERTHD"); e && *e) return e;
  if (std::string dir = selfDir(); !dir.empty())
    for (std::string c : {dir + "/berthd", dir + "/../berthd/berthd"})
      if (::access(c.c_str(), X_OK) == 0) return c;
  return "berthd";
}

Result<void> startDaemon(const Globals& g, const std::string& sock) {
  if (::geteuid() != 0)
    return berth::fail(ErrorCategory::Unavailable,
                       "Cannot connect to the berth daemon at unix://" + sock +
                           ". Is berthd running? (berth starts it when run as root)");
  std::string dataRoot = g.dataRoot.empty() ? "/var/lib/berth" : g.dataRoot;
  TRYV(mkdirAll(dataRoot, 0711));
  std::string log = dataRoot + "/berthd.log";
  std::vector<std::string> args = {findBerthd(), "-H", "unix://" + sock};
  // A data root of its own brings its own exec root (shim sockets, runtime state, pid file).
  std::string execRoot = g.dataRoot.empty() ? "/run/berth" : g.dataRoot + "/run";
  if (!g.dataRoot.empty()) args.insert(args.end(), {"--data-root", g.dataRoot, "--exec-root", execRoot});
  if (!g.driver.empty()) args.insert(args.end(), {"-s", g.driver});
  args.insert(args.end(), {"--pidfile", execRoot + "/berthd.pid"});
  UniqueFd logFd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!logFd) return sysFail("opening " + log);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, logFd.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, logFd.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = args[0].find('/') == std::string::npos
               ? posix_spawnp(&pid, args[0].c_str(), &fa, &attr, argv.data(), environ)
               : posix_spawn(&pid, args[0].c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return sysFail("starting " + args[0] + " (install berthd next to berth or on PATH)", rc);
  client::Api probe(sock);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto pause = std::chrono::milliseconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe.ping()) {
      std::fprintf(stderr, "berth: no daemon answered on unix://%s; started berthd (pid %d, log %s)\n",
                   sock.c_str(), pid, log.c_str());
      return {};
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      auto text = readFile(log);
      std::string tail = text ? *text : "";
      if (tail.size() > 600) tail = "…" + tail.substr(tail.size() - 600);
      while (!tail.empty() && tail.back() == '\n') tail.pop_back();
      return berth::fail(ErrorCategory::Unavailable, "Cannot connect to the berth daemon at unix://" + sock +
                                                         ": berthd (started by berth) exited: " + tail);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return berth::fail(ErrorCategory::Unavailable, "Cannot connect to the berth daemon at unix://" + sock +
                                                     ": berthd (pid " + std::to_string(pid) +
                                                     ") did not answer within 30 s; see " + log);
}

}  // namespace

std::string Globals::socketPath() const {
  if (!host.empty()) {
    auto p = client::socketPathOf(host);
    return p ? *p : host;
  }
  if (!dataRoot.empty()) return dataRoot + "/run/berth.sock";
  return kDefaultSocket;
}

Result<client::Api*> Globals::api() {
  if (api_) return api_.get();
  if (!host.empty()) TRYV(client::socketPathOf(host));
  std::string sock = socketPath();
  auto api = std::make_unique<client::Api>(sock);
  // The first connection is the check: nothing listening → start berthd (no /_ping round trip: berth
  // speaks the daemon's unversioned API).
  auto ping = api->connect();
  if (!ping) {
    int e = ping.error().sysErrno();
    const char* noStart = std::getenv("BERTH_NO_START");  // completion scripts must not start daemons
    // -H alone names a daemon someone else runs: berth starts one for its own socket, or for the data
    // root it was given.
    bool ours = host.empty() || !dataRoot.empty();
    if ((e == ENOENT || e == ECONNREFUSED) && ours && !(noStart && *noStart)) {
      TRYV(startDaemon(*this, sock));
    } else if (e == ENOENT || e == ECONNREFUSED) {
      return berth::fail(ErrorCategory::Unavailable,
                         "Cannot connect to the berth daemon at unix://" + sock + ". Is berthd running?");
    } else if (e == EACCES || e == EPERM) {
      return berth::fail(
          ErrorCategory::PermissionDenied,
          "permission denied while trying to connect to the berth daemon socket at unix://" + sock);
    } else {
      return std::unexpected(ping.error());
    }
  }
  api_ = std::move(api);
  return api_.get();
}

json labelMap(const std::vector<std::string>& kv) {
  json m = json::object();
  for (auto& l : kv) {
    auto eq = l.find('=');
    m[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  return m;
}

std::string filtersQuery(const std::vector<std::string>& filters) {
  json f = json::object();
  for (auto& s : filters) {
    auto eq = s.find('=');
    std::string k = s.substr(0, eq), v = eq == std::string::npos ? "" : s.substr(eq + 1);
    f[k].push_back(v);
  }
  return client::urlEncode(f.dump());
}

std::optional<int64_t> parseBytes(std::string s) {
  if (s.empty()) return std::nullopt;
  int64_t mult = 1;
  char last = static_cast<char>(std::tolower(s.back()));
  if (last == 'b') s.pop_back(), last = s.empty() ? 0 : static_cast<char>(std::tolower(s.back()));
  if (last == 'k' || last == 'm' || last == 'g' || last == 't') {
    mult = last == 'k' ? 1LL << 10 : last == 'm' ? 1LL << 20 : last == 'g' ? 1LL << 30 : 1LL << 40;
    s.pop_back();
  }
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || !end || *end || v < 0) return std::nullopt;
  return static_cast<int64_t>(v * static_cast<double>(mult));
}

std::optional<int64_t> parseDuration(const std::string& s) {
  if (s.empty()) return std::nullopt;
  if (s == "0") return 0;
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    char* end = nullptr;
    double v = std::strtod(s.c_str() + i, &end);
    size_t j = static_cast<size_t>(end - s.c_str());
    if (j == i) return std::nullopt;
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string unit = s.substr(j, k - j);
    double mult = unit == "ns"                   ? 1
                  : unit == "us" || unit == "µs" ? 1e3
                  : unit == "ms"                 ? 1e6
                  : unit == "s"                  ? 1e9
                  : unit == "m"                  ? 60e9
                  : unit == "h"                  ? 3600e9
                                                 : -1;
    if (mult < 0) return std::nullopt;
    total += v * mult;
    i = k;
  }
  return static_cast<int64_t>(total);
}

bool confirm(const std::string& question) {
  if (!::isatty(0)) return false;
  std::printf("%s [y/N] ", question.c_str());
  std::fflush(stdout);
  char ans[16] = {};
  return std::fgets(ans, sizeof ans, stdin) && (ans[0] == 'y' || ans[0] == 'Y');
}

int streamTo(client::Api& a, const std::string& target, const std::string& output) {
  if (output.empty() && ::isatty(1))
    return usage("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1);
  std::string tmp = output.empty() ? "" : output + ".berth-tmp";
  UniqueFd fd(output.empty() ? ::dup(1)
                             : ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return failLocal("open " + (tmp.empty() ? "stdout" : tmp) + ": " + std::strerror(errno));
  bool ok = true;
  auto r = a.stream("GET", target, "", [&](std::string_view s) {
    for (size_t off = 0; off < s.size();) {
      ssize_t w = ::write(fd.get(), s.data() + off, s.size() - off);
      if (w <= 0) return ok = false;
      off += static_cast<size_t>(w);
    }
    return true;
  });
  if (!r || !ok) {
    if (!tmp.empty()) ::unlink(tmp.c_str());
    return r ? failLocal("writing " + (output.empty() ? "stdout" : output) + ": " + std::strerror(errno))
             : fail(r.error());
  }
  if (!tmp.empty() && (::fsync(fd.get()) < 0 || ::rename(tmp.c_str(), output.c_str()) < 0)) {
    ::unlink(tmp.c_str());
    return failLocal("rename " + tmp + ": " + std::strerror(errno));
  }
  return 0;
}

int printOut(const Result<std::string>& s) {
  if (!s) {
    std::fprintf(stderr, "berth: %s\n", s.error().message().c_str());
    return 1;
  }
  std::fwrite(s->data(), 1, s->size(), stdout);
  return 0;
}

int inspectEach(Globals& g, const std::vector<std::string>& names, const std::string& format,
                const std::function<Result<std::string>(client::Api&, const std::string&)>& fetch) {
  auto api = g.api();
  if (!api) return fail(api.error());
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  std::string rendered;
  int rc = 0;
  for (auto& n : names) {
    auto body = fetch(**api, n);
    if (!body) {
      std::fprintf(stderr, "Error: %s\n", body.error().message().c_str());
      rc = 1;
      continue;
    }
    if (!format.empty()) {
      auto s = client::formatOne(format, json::parse(*body, nullptr, false));
      if (!s) return printOut(s);
      rendered += *s;
    } else {
      out.push_back(nlohmann::ordered_json::parse(*body, nullptr, false));
    }
  }
  if (!format.empty())
    std::fwrite(rendered.data(), 1, rendered.size(), stdout);
  else
    std::printf("%s\n", out.dump(4).c_str());
  return rc;
}

std::function<Result<std::string>(client::Api&, const std::string&)> atPath(
    std::function<std::string(const std::string&)> pathOf) {
  return [pathOf = std::move(pathOf)](client::Api& api, const std::string& name) -> Result<std::string> {
    auto r = api.call("GET", pathOf(name));
    if (!r) return std::unexpected(r.error());
    return r->body;
  };
}

void addInspectCommand(CLI::App* c, Globals& g, Runner& run, const std::string& what,
                       std::function<std::string(const std::string&)> pathOf) {
  auto names = state<std::vector<std::string>>();
  auto format = state<std::string>();
  c->add_option("-f,--format", *format, "format output using a Go template or 'json'");
  c->add_option(what, *names)->required();
  c->callback([=, &g, &run] { run = [=, &g] { return inspectEach(g, *names, *format, atPath(pathOf)); }; });
}

int64_t printDeleted(const json& answer, const char* key, const char* title) {
  if (auto it = answer.find(key); it != answer.end() && it->is_array() && !it->empty()) {
    std::printf("Deleted %s:\n", title);
    for (auto& x : *it)
      if (x.is_string()) std::printf("%s\n", x.get<std::string>().c_str());
    std::printf("\n");
  }
  return answer.value("SpaceReclaimed", int64_t(0));
}

char** g_argv = nullptr;

int execTwin(const char* name) {
  std::string dir = selfDir();
  std::string twin = (dir.empty() ? std::string(".") : dir) + "/" + name;
  ::execv(twin.c_str(), g_argv);
  std::fprintf(stderr, "berth: cannot run %s (berth's twin for this command, installed next to berth): %s\n",
               twin.c_str(), std::strerror(errno));
  return 125;
}

}  // namespace berth::cli
