// berth run / berth create: docker's flags → a ContainerCreate body; run then attaches, waits and starts as
// the docker CLI does (create, attach, wait, start), and exits with the container's status.
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "base/file.h"
#include "berth.h"
#include "client/http_client.h"

namespace berth::cli {
namespace {

struct RunFlags {
  bool rm = false, detach = false, interactive = false, tty = false, init = false, readOnly = false,
       privileged = false, noHealthcheck = false, restartOnUnhealthy = false, sigProxy = true, quiet = false;
  std::string name, entrypoint, memory, memorySwap, memoryReservation, shmSize, cpus, cpusetCpus, workdir,
      user, hostname, ip, network = "default", stopSignal, restart = "no", logDriver, cgroupParent, healthCmd,
                          healthInterval, healthTimeout, healthStartPeriod, pull = "missing", platform;
  bool entrypointSet = false, stopTimeoutSet = false, healthRetriesSet = false;
  int64_t cpuShares = 0, cpuPeriod = 0, cpuQuota = 0, pidsLimit = 0;
  int stopTimeout = 0, healthRetries = 0;
  std::vector<std::string> env, envFiles, labels, labelFiles, tmpfs, ulimits, capAdd, capDrop, securityOpts,
      logOpts, attach, volumes, volumesFrom, publish, dns, dnsSearch, addHost, mounts, devices, groupAdd,
      networkAlias, exposes, rest;
  bool publishAll = false;
};

// The process: its streams, name, environment, user, labels, entrypoint.
void addProcessFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f) {
  if (flagWanted("-i,--interactive"))
    c->add_flag("-i,--interactive", f->interactive, "keep STDIN open even if not attached");
  if (flagWanted("-t,--tty")) c->add_flag("-t,--tty", f->tty, "allocate a pseudo-TTY");
  if (flagWanted("-a,--attach"))
    c->add_option("-a,--attach", f->attach, "attach to STDIN, STDOUT or STDERR")->allow_extra_args(false);
  if (flagWanted("--init"))
    c->add_flag("--init", f->init,
                "run an init inside the container that forwards signals and reaps processes");
  if (flagWanted("--name")) c->add_option("--name", f->name, "assign a name to the container");
  if (flagWanted("-e,--env"))
    c->add_option("-e,--env", f->env, "set environment variables")->allow_extra_args(false);
  if (flagWanted("--env-file"))
    c->add_option("--env-file", f->envFiles, "read in a file of environment variables")
        ->allow_extra_args(false);
  if (flagWanted("-w,--workdir"))
    c->add_option("-w,--workdir", f->workdir, "working directory inside the container");
  if (flagWanted("-u,--user"))
    c->add_option("-u,--user", f->user, "username or UID (format: <name|uid>[:<group|gid>])");
  if (flagWanted("--group-add"))
    c->add_option("--group-add", f->groupAdd, "add additional groups to join")->allow_extra_args(false);
  if (flagWanted("-h,--hostname")) c->add_option("-h,--hostname", f->hostname, "container host name");
  if (flagWanted("-l,--label"))
    c->add_option("-l,--label", f->labels, "set metadata on a container")->allow_extra_args(false);
  if (flagWanted("--label-file"))
    c->add_option("--label-file", f->labelFiles, "read in a line delimited file of labels")
        ->allow_extra_args(false);
  if (flagWanted("--entrypoint"))
    c->add_option("--entrypoint", f->entrypoint, "overwrite the default ENTRYPOINT of the image")
        ->each([f](const std::string&) { f->entrypointSet = true; });
}

// The root filesystem and the resources: memory, CPUs, pids, ulimits, /dev/shm.
void addResourceFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f) {
  if (flagWanted("--read-only"))
    c->add_flag("--read-only", f->readOnly, "mount the container's root filesystem as read only");
  if (flagWanted("--tmpfs"))
    c->add_option("--tmpfs", f->tmpfs, "mount a tmpfs directory (/path[:options])")->allow_extra_args(false);
  if (flagWanted("-m,--memory")) c->add_option("-m,--memory", f->memory, "memory limit");
  if (flagWanted("--memory-swap"))
    c->add_option("--memory-swap", f->memorySwap, "swap limit equal to memory plus swap: -1 for unlimited");
  if (flagWanted("--memory-reservation"))
    c->add_option("--memory-reservation", f->memoryReservation, "memory soft limit");
  if (flagWanted("--cpus")) c->add_option("--cpus", f->cpus, "number of CPUs");
  if (flagWanted("-c,--cpu-shares"))
    c->add_option("-c,--cpu-shares", f->cpuShares, "CPU shares (relative weight)");
  if (flagWanted("--cpu-period"))
    c->add_option("--cpu-period", f->cpuPeriod, "limit CPU CFS (Completely Fair Scheduler) period");
  if (flagWanted("--cpu-quota"))
    c->add_option("--cpu-quota", f->cpuQuota, "limit CPU CFS (Completely Fair Scheduler) quota");
  if (flagWanted("--cpuset-cpus"))
    c->add_option("--cpuset-cpus", f->cpusetCpus, "CPUs in which to allow execution (0-3, 0,1)");
  if (flagWanted("--pids-limit"))
    c->add_option("--pids-limit", f->pidsLimit, "tune container pids limit (-1 for unlimited)");
  if (flagWanted("--ulimit"))
    c->add_option("--ulimit", f->ulimits, "ulimit options (name=soft[:hard])")->allow_extra_args(false);
  if (flagWanted("--shm-size")) c->add_option("--shm-size", f->shmSize, "size of /dev/shm");
}

// Capabilities, privileges, security options.
void addSecurityFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f) {
  if (flagWanted("--cap-add"))
    c->add_option("--cap-add", f->capAdd, "add Linux capabilities")->allow_extra_args(false);
  if (flagWanted("--cap-drop"))
    c->add_option("--cap-drop", f->capDrop, "drop Linux capabilities")->allow_extra_args(false);
  if (flagWanted("--privileged"))
    c->add_flag("--privileged", f->privileged, "give extended privileges to this container");
  if (flagWanted("--security-opt"))
    c->add_option("--security-opt", f->securityOpts, "security options")->allow_extra_args(false);
}

// Networks, addresses, published and exposed ports.
void addNetworkFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f) {
  if (flagWanted("--network,--net"))
    c->add_option("--network,--net", f->network,
                  "connect a container to a network (bridge, none, host or a network name)");
  if (flagWanted("--ip")) c->add_option("--ip", f->ip, "IPv4 address (e.g., 172.30.100.104)");
  if (flagWanted("--network-alias"))
    c->add_option("--network-alias", f->networkAlias, "add network-scoped alias for the container")
        ->allow_extra_args(false);
  if (flagWanted("-p,--publish"))
    c->add_option("-p,--publish", f->publish, "publish a container's port(s) to the host")
        ->allow_extra_args(false);
  if (flagWanted("-P,--publish-all"))
    c->add_flag("-P,--publish-all", f->publishAll, "publish all exposed ports to random ports");
  if (flagWanted("--expose"))
    c->add_option("--expose", f->exposes, "expose a port or a range of ports")->allow_extra_args(false);
}

// Volumes, mounts and devices.
void addMountFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f) {
  if (flagWanted("-v,--volume"))
    c->add_option("-v,--volume", f->volumes, "bind mount a volume")->allow_extra_args(false);
  if (flagWanted("--mount"))
    c->add_option("--mount", f->mounts, "attach a filesystem mount to the container")
        ->allow_extra_args(false);
  if (flagWanted("--volumes-from"))
    c->add_option("--volumes-from", f->volumesFrom, "mount volumes from the specified container(s)")
        ->allow_extra_args(false);
  if (flagWanted("--device"))
    c->add_option("--device", f->devices, "add a host device to the container")->allow_extra_args(false);
}

// Names: DNS servers, search domains, /etc/hosts entries.
void addNameFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f) {
  if (flagWanted("--dns")) c->add_option("--dns", f->dns, "set custom DNS servers")->allow_extra_args(false);
  if (flagWanted("--dns-search"))
    c->add_option("--dns-search", f->dnsSearch, "set custom DNS search domains")->allow_extra_args(false);
  if (flagWanted("--add-host"))
    c->add_option("--add-host", f->addHost, "add a custom host-to-IP mapping (host:ip)")
        ->allow_extra_args(false);
}

// Stopping, restarting, logging, the cgroup parent.
void addLifecycleFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f) {
  if (flagWanted("--stop-signal"))
    c->add_option("--stop-signal", f->stopSignal, "signal to stop the container");
  if (flagWanted("--stop-timeout"))
    c->add_option("--stop-timeout", f->stopTimeout, "timeout (in seconds) to stop a container")
        ->each([f](const std::string&) { f->stopTimeoutSet = true; });
  if (flagWanted("--restart"))
    c->add_option("--restart", f->restart,
                  "restart policy: no, on-failure[:max-retries], always, unless-stopped");
  if (flagWanted("--restart-on-unhealthy"))
    c->add_flag("--restart-on-unhealthy", f->restartOnUnhealthy,
                "restart the container when its health check reports unhealthy (berth)");
  if (flagWanted("--log-driver"))
    c->add_option("--log-driver", f->logDriver, "logging driver for the container (json-file)");
  if (flagWanted("--log-opt"))
    c->add_option("--log-opt", f->logOpts, "log driver options (max-size, max-file)")
        ->allow_extra_args(false);
  if (flagWanted("--cgroup-parent"))
    c->add_option("--cgroup-parent", f->cgroupParent, "optional parent cgroup for the container");
}

// The health check.
void addHealthFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f) {
  if (flagWanted("--health-cmd"))
    c->add_option("--health-cmd", f->healthCmd, "command to run to check health");
  if (flagWanted("--health-interval"))
    c->add_option("--health-interval", f->healthInterval, "time between running the check (ms|s|m|h)");
  if (flagWanted("--health-timeout"))
    c->add_option("--health-timeout", f->healthTimeout, "maximum time to allow one check to run (ms|s|m|h)");
  if (flagWanted("--health-start-period"))
    c->add_option("--health-start-period", f->healthStartPeriod,
                  "start period for the container to initialize before starting health-retries countdown");
  if (flagWanted("--health-retries"))
    c->add_option("--health-retries", f->healthRetries, "consecutive failures needed to report unhealthy")
        ->each([f](const std::string&) { f->healthRetriesSet = true; });
  if (flagWanted("--no-healthcheck"))
    c->add_flag("--no-healthcheck", f->noHealthcheck, "disable any container-specified HEALTHCHECK");
}

// Pulling the image.
void addPullFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f) {
  if (flagWanted("--pull"))
    c->add_option("--pull", f->pull, "pull image before running (always, missing, never)");
  if (flagWanted("--platform"))
    c->add_option("--platform", f->platform, "set platform if server is multi-platform capable");
  if (flagWanted("-q,--quiet")) c->add_flag("-q,--quiet", f->quiet, "suppress the pull output");
}

void addRunFlags(CLI::App* c, const std::shared_ptr<RunFlags>& f, bool isRun) {
  c->prefix_command();                        // the image's command and its arguments are not ours
  c->set_help_flag("--help", "print usage");  // -h is --hostname, as in docker
  if (isRun) {
    if (flagWanted("--rm")) c->add_flag("--rm", f->rm, "automatically remove the container when it exits");
    if (flagWanted("-d,--detach"))
      c->add_flag("-d,--detach", f->detach, "run the container in the background and print its ID");
    if (flagWanted("--sig-proxy{true}"))
      c->add_flag("--sig-proxy{true}", f->sigProxy, "proxy received signals to the process (default true)");
  } else {
    if (flagWanted("--rm")) c->add_flag("--rm", f->rm, "automatically remove the container when it exits");
  }
  addProcessFlags(c, f);
  addResourceFlags(c, f);
  addSecurityFlags(c, f);
  addNetworkFlags(c, f);
  addMountFlags(c, f);
  addNameFlags(c, f);
  addLifecycleFlags(c, f);
  addHealthFlags(c, f);
  addPullFlags(c, f);
}

// "K=V" as given; "K" alone takes K from our environment (or is dropped), as docker.
void appendEnv(json& env, const std::string& kv) {
  if (kv.find('=') != std::string::npos) {
    env.push_back(kv);
  } else if (const char* v = std::getenv(kv.c_str())) {
    env.push_back(kv + "=" + v);
  }
}

Result<std::vector<std::string>> readLinesFile(const std::string& path, const char* what) {
  auto text = readFile(path);
  if (!text) return invalid(std::string("open ") + path + ": no such file or directory (" + what + ")");
  std::vector<std::string> out;
  for (auto& line : split(*text, '\n')) {
    std::string t = trim(line);
    if (!t.empty() && t[0] != '#') out.push_back(t);
  }
  return out;
}

// --mount type=bind|volume|tmpfs,source=…,target=…,readonly,… (docker's CSV fields) → a Mount object.
Result<json> parseMountFlag(const std::string& spec) {
  json m = json::object();
  auto bad = [&](const std::string& why) {
    return invalid("invalid argument \"" + spec + "\" for \"--mount\" flag: " + why);
  };
  std::string type = "volume";
  json bind = json::object(), vol = json::object(), tmpfs = json::object();
  for (auto& field : split(spec, ',')) {
    if (field.empty()) continue;
    auto eq = field.find('=');
    std::string key = trim(field.substr(0, eq)), val = eq == std::string::npos ? "" : field.substr(eq + 1);
    std::string lower = key;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto boolVal = [&]() -> Result<bool> {
      if (eq == std::string::npos || val == "1" || val == "true" || val == "True") return true;
      if (val == "0" || val == "false" || val == "False") return false;
      return bad("invalid value for " + key + ": " + val);
    };
    if (eq == std::string::npos && lower != "readonly" && lower != "ro" && lower != "volume-nocopy" &&
        lower != "bind-recursive" && lower != "bind-nonrecursive")
      return bad("invalid field '" + field + "' must be a key=value pair");
    if (lower == "type")
      type = val;
    else if (lower == "source" || lower == "src")
      m["Source"] = val;
    else if (lower == "target" || lower == "dst" || lower == "destination")
      m["Target"] = val;
    else if (lower == "readonly" || lower == "ro") {
      TRY(bool b, boolVal());
      m["ReadOnly"] = b;
    } else if (lower == "consistency")
      m["Consistency"] = val;
    else if (lower == "bind-propagation")
      bind["Propagation"] = val;
    else if (lower == "bind-nonrecursive") {
      TRY(bool b, boolVal());
      bind["NonRecursive"] = b;
    } else if (lower == "bind-create-mountpoint") {
      TRY(bool b, boolVal());
      bind["CreateMountpoint"] = b;
    } else if (lower == "volume-nocopy") {
      TRY(bool b, boolVal());
      vol["NoCopy"] = b;
    } else if (lower == "volume-subpath")
      vol["Subpath"] = val;
    else if (lower == "volume-label") {
      auto e2 = val.find('=');
      vol["Labels"][val.substr(0, e2)] = e2 == std::string::npos ? "" : val.substr(e2 + 1);
    } else if (lower == "volume-driver")
      vol["DriverConfig"]["Name"] = val;
    else if (lower == "volume-opt") {
      auto e2 = val.find('=');
      if (e2 == std::string::npos) return bad("invalid volume-opt '" + val + "' must be a key=value pair");
      vol["DriverConfig"]["Options"][val.substr(0, e2)] = val.substr(e2 + 1);
    } else if (lower == "tmpfs-size") {
      auto size = parseBytes(val);
      if (!size) return bad("invalid value for tmpfs-size: " + val);
      tmpfs["SizeBytes"] = *size;
    } else if (lower == "tmpfs-mode") {
      char* end = nullptr;
      long mode = std::strtol(val.c_str(), &end, 8);
      if (val.empty() || *end) return bad("invalid value for tmpfs-mode: " + val);
      tmpfs["Mode"] = mode;
    } else
      return bad("unexpected key '" + key + "' in '" + field + "'");
  }
  m["Type"] = type;
  if (!bind.empty()) {
    if (type != "bind") return bad("cannot mix 'bind-*' options with mount type '" + type + "'");
    m["BindOptions"] = bind;
  }
  if (!vol.empty()) {
    if (type != "volume") return bad("cannot mix 'volume-*' options with mount type '" + type + "'");
    m["VolumeOptions"] = vol;
  }
  if (!tmpfs.empty()) {
    if (type != "tmpfs") return bad("cannot mix 'tmpfs-*' options with mount type '" + type + "'");
    m["TmpfsOptions"] = tmpfs;
  }
  if (!m.contains("Target")) return bad("target is required");
  return m;
}

// Config from the flags: command, environment, labels, the streams attached, stop and exposed ports.
Result<void> configFromFlags(const RunFlags& f, json& cfg) {
  cfg["Image"] = f.rest[0];
  if (f.rest.size() > 1) cfg["Cmd"] = std::vector<std::string>(f.rest.begin() + 1, f.rest.end());
  if (f.entrypointSet)
    cfg["Entrypoint"] = f.entrypoint.empty() ? json::array({""}) : json::array({f.entrypoint});
  json env = json::array();
  for (auto& file : f.envFiles) {
    TRY(auto lines, readLinesFile(file, "--env-file"));
    for (auto& l : lines) appendEnv(env, l);
  }
  for (auto& e : f.env) appendEnv(env, e);
  cfg["Env"] = env;
  std::vector<std::string> labels;
  for (auto& file : f.labelFiles) {
    TRY(auto lines, readLinesFile(file, "--label-file"));
    labels.insert(labels.end(), lines.begin(), lines.end());
  }
  labels.insert(labels.end(), f.labels.begin(), f.labels.end());
  cfg["Labels"] = labelMap(labels);
  cfg["WorkingDir"] = f.workdir;
  cfg["User"] = f.user;
  cfg["Hostname"] = f.hostname;
  cfg["Tty"] = f.tty;
  cfg["OpenStdin"] = f.interactive;
  cfg["StdinOnce"] = f.interactive && !f.detach;
  bool attachAll = f.attach.empty() && !f.detach;
  auto attached = [&](const char* s) {
    for (auto& a : f.attach)
      if (strcasecmp(a.c_str(), s) == 0) return true;
    return false;
  };
  for (auto& a : f.attach)
    if (strcasecmp(a.c_str(), "stdin") && strcasecmp(a.c_str(), "stdout") && strcasecmp(a.c_str(), "stderr"))
      return invalid("invalid argument \"" + a +
                     "\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR");
  if (f.detach && !f.attach.empty()) return invalid("Conflicting options: -a and -d");
  cfg["AttachStdin"] = !f.detach && f.interactive && (attachAll || attached("stdin"));
  cfg["AttachStdout"] = attachAll || attached("stdout");
  cfg["AttachStderr"] = attachAll || attached("stderr");
  if (!f.stopSignal.empty()) cfg["StopSignal"] = f.stopSignal;
  if (f.stopTimeoutSet) cfg["StopTimeout"] = f.stopTimeout;
  if (!f.exposes.empty()) {
    json ex = json::object();
    for (auto& p : f.exposes) ex[p.find('/') == std::string::npos ? p + "/tcp" : p] = json::object();
    cfg["ExposedPorts"] = ex;
  }
  return {};
}

// Health check: the flags override the image's; --no-healthcheck disables it.
Result<void> healthFromFlags(const RunFlags& f, json& cfg) {
  bool anyHealth = !f.healthCmd.empty() || !f.healthInterval.empty() || !f.healthTimeout.empty() ||
                   !f.healthStartPeriod.empty() || f.healthRetriesSet;
  if (f.noHealthcheck && anyHealth) return invalid("--no-healthcheck conflicts with --health-* options");
  if (f.noHealthcheck) cfg["Healthcheck"] = {{"Test", {"NONE"}}};
  if (anyHealth) {
    json h = json::object();
    if (!f.healthCmd.empty()) h["Test"] = {"CMD-SHELL", f.healthCmd};
    auto dur = [&](const std::string& v, const char* flag, const char* key) -> Result<void> {
      if (v.empty()) return {};
      auto d = parseDuration(v);
      if (!d || *d < 0)
        return invalid(std::string("invalid argument \"") + v + "\" for \"" + flag +
                       "\" flag: time: invalid duration");
      h[key] = *d;
      return {};
    };
    TRYV(dur(f.healthInterval, "--health-interval", "Interval"));
    TRYV(dur(f.healthTimeout, "--health-timeout", "Timeout"));
    TRYV(dur(f.healthStartPeriod, "--health-start-period", "StartPeriod"));
    if (f.healthRetriesSet) {
      if (f.healthRetries < 0) return invalid("--health-retries cannot be negative");
      h["Retries"] = f.healthRetries;
    }
    cfg["Healthcheck"] = h;
  }
  return {};
}

// --ulimit NAME=SOFT[:HARD], as docker's CLI checks it.
Result<json> ulimitOf(const std::string& u) {
  auto eq = u.find('=');
  if (eq == std::string::npos)
    return invalid("invalid argument \"" + u + "\" for \"--ulimit\" flag: invalid ulimit argument: " + u);
  std::string name = u.substr(0, eq), val = u.substr(eq + 1);
  auto colon = val.find(':');
  char* e1 = nullptr;
  char* e2 = nullptr;
  std::string softS = val.substr(0, colon),
              hardS = colon == std::string::npos ? softS : val.substr(colon + 1);
  long long soft = std::strtoll(softS.c_str(), &e1, 10), hard = std::strtoll(hardS.c_str(), &e2, 10);
  if (softS.empty() || hardS.empty() || *e1 || *e2)
    return invalid("invalid argument \"" + u + "\" for \"--ulimit\" flag: invalid ulimit value");
  if (soft > hard)
    return invalid("invalid argument \"" + u +
                   "\" for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: " +
                   std::to_string(soft) + " > " + std::to_string(hard));
  return json{{"Name", name}, {"Soft", soft}, {"Hard", hard}};
}

// HostConfig's resources: memory and shm sizes, CPUs, pids, ulimits.
Result<void> resourcesFromFlags(const RunFlags& f, json& hc) {
  auto bytes = [&](const std::string& v, const char* flag, const char* key) -> Result<void> {
    if (v.empty()) return {};
    if (v == "-1") {
      hc[key] = -1;
      return {};
    }
    auto b = parseBytes(v);
    if (!b)
      return invalid(std::string("invalid argument \"") + v + "\" for \"" + flag +
                     "\" flag: invalid size: '" + v + "'");
    hc[key] = *b;
    return {};
  };
  TRYV(bytes(f.memory, "-m, --memory", "Memory"));
  TRYV(bytes(f.memorySwap, "--memory-swap", "MemorySwap"));
  TRYV(bytes(f.memoryReservation, "--memory-reservation", "MemoryReservation"));
  TRYV(bytes(f.shmSize, "--shm-size", "ShmSize"));
  if (!f.cpus.empty()) {
    char* end = nullptr;
    double c = std::strtod(f.cpus.c_str(), &end);
    if (!end || *end || c < 0)
      return invalid("invalid argument \"" + f.cpus + "\" for \"--cpus\" flag: failed to parse " + f.cpus +
                     " as a rational number");
    hc["NanoCpus"] = static_cast<int64_t>(c * 1e9);
  }
  if (f.cpuShares) hc["CpuShares"] = f.cpuShares;
  if (f.cpuPeriod) hc["CpuPeriod"] = f.cpuPeriod;
  if (f.cpuQuota) hc["CpuQuota"] = f.cpuQuota;
  if (!f.cpusetCpus.empty()) hc["CpusetCpus"] = f.cpusetCpus;
  if (f.pidsLimit) hc["PidsLimit"] = f.pidsLimit;
  json ulimits = json::array();
  for (auto& u : f.ulimits) {
    TRY(json limit, ulimitOf(u));
    ulimits.push_back(std::move(limit));
  }
  if (!ulimits.empty()) hc["Ulimits"] = ulimits;
  return {};
}

// Capabilities, privileges and --security-opt (a seccomp profile file is sent as its JSON, as docker's CLI
// does).
Result<void> securityFromFlags(const RunFlags& f, json& hc) {
  if (!f.capAdd.empty()) hc["CapAdd"] = f.capAdd;
  if (!f.capDrop.empty()) hc["CapDrop"] = f.capDrop;
  hc["Privileged"] = f.privileged;
  hc["ReadonlyRootfs"] = f.readOnly;
  json secopts = json::array();
  for (auto& s : f.securityOpts) {
    // The docker CLI reads a seccomp profile file and sends its JSON; so do we.
    std::string sep = s.starts_with("seccomp=") ? "=" : s.starts_with("seccomp:") ? ":" : "";
    if (!sep.empty()) {
      std::string v = s.substr(8);
      if (v != "unconfined" && !v.starts_with("{")) {
        auto text = readFile(v);
        if (!text) return invalid("opening seccomp profile (" + v + ") failed: " + text.error().message());
        auto j = json::parse(*text, nullptr, false);
        if (j.is_discarded()) return invalid("decoding seccomp profile (" + v + ") failed: invalid JSON");
        secopts.push_back("seccomp=" + j.dump());
        continue;
      }
    }
    secopts.push_back(s);
  }
  if (!secopts.empty()) hc["SecurityOpt"] = secopts;
  return {};
}

// -v, --mount, --tmpfs, --volumes-from and --device.
Result<void> mountsFromFlags(const RunFlags& f, json& cfg, json& hc) {
  if (!f.tmpfs.empty()) {
    json t = json::object();
    for (auto& m : f.tmpfs) {
      auto colon = m.find(':');
      t[m.substr(0, colon)] = colon == std::string::npos ? "" : m.substr(colon + 1);
    }
    hc["Tmpfs"] = t;
  }
  // docker's split: "src:dst[:mode]" is a bind (or a named volume), a lone "/dst" an anonymous volume.
  for (auto& v : f.volumes) {
    if (v.empty()) return invalid("invalid empty volume spec");
    if (v.find(':') != std::string::npos)
      hc["Binds"].push_back(v);
    else
      cfg["Volumes"][v] = json::object();
  }
  for (auto& m : f.mounts) {
    TRY(json mount, parseMountFlag(m));
    hc["Mounts"].push_back(mount);
  }
  if (!f.volumesFrom.empty()) hc["VolumesFrom"] = f.volumesFrom;
  if (!f.devices.empty()) {
    json d = json::array();
    for (auto& dev : f.devices) {
      auto parts = split(dev, ':');
      d.push_back({{"PathOnHost", parts[0]},
                   {"PathInContainer", parts.size() > 1 ? parts[1] : parts[0]},
                   {"CgroupPermissions", parts.size() > 2 ? parts[2] : "rwm"}});
    }
    hc["Devices"] = d;
  }
  return {};
}

// One -p/--publish: its bindings into `pb` (PortBindings) and its ports into the config's ExposedPorts.
Result<void> publishOf(const std::string& p, json& pb, json& cfg) {
  // [ip:][hostPort[-end]:]containerPort[-end][/proto], as docker's CLI expands it: one binding per
  // container port; a host range for one container port is the daemon's to choose from.
  auto bad = [&](const std::string& why) {
    return invalid("invalid argument \"" + p + "\" for \"-p, --publish\" flag: " + why);
  };
  std::string spec = p, proto = "tcp";
  if (auto slash = spec.rfind('/'); slash != std::string::npos)
    proto = spec.substr(slash + 1), spec = spec.substr(0, slash);
  auto parts = split(spec, ':');
  if (parts.size() > 3) return bad("too many colons");
  std::string cport = parts.back(), hport = parts.size() >= 2 ? parts[parts.size() - 2] : "",
              ip = parts.size() >= 3 ? parts[0] : "";
  auto range = [](const std::string& r, int* lo, int* hi) {
    auto dash = r.find('-');
    char* end = nullptr;
    *lo = static_cast<int>(std::strtol(r.c_str(), &end, 10));
    if (end == r.c_str() || (*end && *end != '-')) return false;
    *hi = *lo;
    if (dash != std::string::npos) {
      *hi = static_cast<int>(std::strtol(r.c_str() + dash + 1, &end, 10));
      if (*end) return false;
    }
    return *lo >= 1 && *hi >= *lo && *hi <= 65535;
  };
  int clo, chi, hlo = 0, hhi = 0;
  if (!range(cport, &clo, &chi)) return bad("invalid containerPort: " + cport);
  if (!hport.empty() && !range(hport, &hlo, &hhi)) return bad("invalid hostPort: " + hport);
  bool hostRange = !hport.empty() && hhi > hlo;
  if (chi > clo && !hport.empty() && hhi - hlo != chi - clo)
    return bad("invalid ranges specified for container and host Ports");
  for (int cp = clo; cp <= chi; ++cp) {
    std::string key = std::to_string(cp) + "/" + proto;
    std::string host = hport.empty() ? ""
                       : chi > clo   ? std::to_string(hlo + (cp - clo))
                       : hostRange   ? hport
                                     : std::to_string(hlo);
    pb[key].push_back({{"HostIp", ip}, {"HostPort", host}});
    if (!cfg.contains("ExposedPorts")) cfg["ExposedPorts"] = json::object();
    cfg["ExposedPorts"][key] = json::object();
  }
  return {};
}

// --restart NAME[:N] (docker's CLI's checks); --rm conflicts with any policy but "no".
Result<json> restartPolicyOf(const RunFlags& f) {
  std::string name = f.restart;
  int64_t count = 0;
  if (auto colon = name.find(':'); colon != std::string::npos) {
    char* end = nullptr;
    count = std::strtoll(name.c_str() + colon + 1, &end, 10);
    if (*end || count < 0)
      return invalid("invalid restart policy format: maximum retry count must be an integer");
    name = name.substr(0, colon);
    if (name != "on-failure")
      return invalid("invalid restart policy format: maximum retry count can only be used with 'on-failure'");
  }
  if (name != "no" && name != "always" && name != "on-failure" && name != "unless-stopped" && !name.empty())
    return invalid("invalid restart policy format: unknown policy '" + name +
                   "'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
  if (f.rm && name != "no" && !name.empty()) return invalid("Conflicting options: --restart and --rm");
  return json{{"Name", name.empty() ? "no" : name}, {"MaximumRetryCount", count}};
}

// NetworkingConfig: --network-alias and --ip, for a user network.
Result<void> networkingFromFlags(const RunFlags& f, json& cfg) {
  if ((!f.networkAlias.empty() || !f.ip.empty()) && f.network != "default" && f.network != "bridge") {
    json ec = json::object();
    if (!f.networkAlias.empty()) ec["Aliases"] = f.networkAlias;
    if (!f.ip.empty()) ec["IPAMConfig"] = {{"IPv4Address", f.ip}};
    cfg["NetworkingConfig"] = {{"EndpointsConfig", {{f.network, ec}}}};
  } else if (!f.ip.empty()) {
    return invalid("user specified IP address is supported on user defined networks only");
  }
  return {};
}

// The ContainerCreate body from the flags; InvalidArgument for what docker's CLI rejects itself.
Result<json> createBody(RunFlags& f) {
  if (f.rest.empty()) return invalid("requires at least 1 argument");
  json cfg = json::object();
  json hc = json::object();
  TRYV(configFromFlags(f, cfg));
  TRYV(healthFromFlags(f, cfg));
  TRYV(resourcesFromFlags(f, hc));
  TRYV(securityFromFlags(f, hc));
  hc["NetworkMode"] = f.network;
  TRYV(mountsFromFlags(f, cfg, hc));
  if (!f.publish.empty()) {
    json pb = json::object();
    for (auto& p : f.publish) TRYV(publishOf(p, pb, cfg));
    hc["PortBindings"] = pb;
  }
  hc["PublishAllPorts"] = f.publishAll;
  if (!f.dns.empty()) hc["Dns"] = f.dns;
  if (!f.dnsSearch.empty()) hc["DnsSearch"] = f.dnsSearch;
  if (!f.addHost.empty()) hc["ExtraHosts"] = f.addHost;
  if (!f.groupAdd.empty()) hc["GroupAdd"] = f.groupAdd;
  hc["AutoRemove"] = f.rm;
  if (f.init) hc["Init"] = true;
  TRY(hc["RestartPolicy"], restartPolicyOf(f));
  if (f.restartOnUnhealthy) hc["RestartOnUnhealthy"] = true;
  if (!f.logDriver.empty() || !f.logOpts.empty()) {
    json lc = {{"Type", f.logDriver.empty() ? "json-file" : f.logDriver}, {"Config", labelMap(f.logOpts)}};
    hc["LogConfig"] = lc;
  }
  if (!f.cgroupParent.empty()) hc["CgroupParent"] = f.cgroupParent;
  cfg["HostConfig"] = hc;
  TRYV(networkingFromFlags(f, cfg));
  return cfg;
}

std::string familiar(const std::string& ref) {
  auto slash = ref.rfind('/');
  std::string last = slash == std::string::npos ? ref : ref.substr(slash + 1);
  if (last.find(':') == std::string::npos && ref.find('@') == std::string::npos) return ref + ":latest";
  return ref;
}

// POST /containers/create; prints warnings. A missing image is reported as docker does before its pull.
Result<std::string> createContainer(client::Api& api, RunFlags& f, const json& body) {
  std::string target = "/containers/create";
  if (!f.name.empty()) target += "?name=" + client::urlEncode(f.name);
  auto r = api.callJson("POST", target, body.dump());
  if (!r) {
    if (r.error().category() == ErrorCategory::NotFound &&
        r.error().message().find("No such image") != std::string::npos) {
      std::fprintf(stderr, "Unable to find image '%s' locally\n", familiar(f.rest[0]).c_str());
      return berth::fail(ErrorCategory::NotFound,
                         "pull access denied for " + f.rest[0] +
                             ": berth cannot pull from registries yet; load the image with `berth load` or "
                             "`berth import`");
    }
    return std::unexpected(r.error());
  }
  if (r->contains("Warnings") && (*r)["Warnings"].is_array())
    for (auto& w : (*r)["Warnings"])
      if (w.is_string()) std::fprintf(stderr, "WARNING: %s\n", w.get<std::string>().c_str());
  return r->value("Id", "");
}

// docker's exit status for a failed start: 127 command not found, 126 not executable, 125 otherwise.
int startFailureCode(const Error& e) {
  const std::string& m = e.message();
  if (m.find("executable file not found") != std::string::npos ||
      m.find("no such file or directory") != std::string::npos)
    return 127;
  if (m.find("permission denied") != std::string::npos) return 126;
  return 125;
}

int runContainer(Globals& g, RunFlags& f) {
  if (f.rest.empty())
    return usage(
        "\"berth run\" requires at least 1 argument.\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]");
  if (f.rest[0].starts_with("-")) return usage("unknown flag: " + f.rest[0]);
  auto body = createBody(f);
  if (!body) return usage(body.error().message());
  auto api = g.api();
  if (!api) return fail(api.error(), 125);
  client::Api& a = **api;
  auto id = createContainer(a, f, *body);
  if (!id) {
    std::fprintf(stderr, "berth: ");
    return fail(id.error(), 125);
  }
  std::string cid = *id;
  if (f.detach) {
    if (auto r = a.call("POST", "/containers/" + cid + "/start"); !r) {
      std::fprintf(stderr, "berth: ");
      return fail(r.error(), startFailureCode(r.error()));
    }
    std::printf("%s\n", cid.c_str());
    return 0;
  }
  bool attachStdin =
      f.interactive && (f.attach.empty() || std::any_of(f.attach.begin(), f.attach.end(), [](auto& s) {
                          return strcasecmp(s.c_str(), "stdin") == 0;
                        }));
  std::string q = std::string("/containers/") + cid + "/attach?stream=1&stdin=" + (attachStdin ? "1" : "0") +
                  "&stdout=1&stderr=1";
  // The wait first: with --rm its answer is only read at the end, so it costs no round trip here.
  auto waiter = a.beginWait("/containers/" + cid, f.rm ? "removed" : "next-exit");
  if (!waiter) return fail(waiter.error(), 125);
  auto conn = a.hijack("POST", q);
  if (!conn) return fail(conn.error(), 125);
  if (auto r = a.call("POST", "/containers/" + cid + "/start"); !r) {
    std::fprintf(stderr, "berth: ");
    return fail(r.error(), startFailureCode(r.error()));
  }
  StreamOptions so = streamOptions(a, "/containers/" + cid, f.tty, attachStdin,
                                   f.sigProxy ? "/containers/" + cid + "/kill" : "");
  if (auto r = relayStreams(*conn, so); !r) return fail(r.error(), 125);
  auto status = waiter->finish();
  if (!status) return fail(status.error(), 125);
  return *status;
}

int createOnly(Globals& g, RunFlags& f) {
  if (f.rest.empty())
    return usage(
        "\"berth create\" requires at least 1 argument.\nUsage:  berth create [OPTIONS] IMAGE [COMMAND] "
        "[ARG...]");
  if (f.rest[0].starts_with("-")) return usage("unknown flag: " + f.rest[0]);
  f.detach = true;  // nothing attaches at create: StdinOnce stays false as in docker create
  auto body = createBody(f);
  if (!body) return usage(body.error().message());
  auto api = g.api();
  if (!api) return fail(api.error(), 125);
  auto id = createContainer(**api, f, *body);
  if (!id) return fail(id.error(), 125);
  std::printf("%s\n", id->c_str());
  return 0;
}

}  // namespace

void addRun(CLI::App* c, Globals& g, Runner& run) {
  auto f = state<RunFlags>();
  addRunFlags(c, f, true);
  c->callback([f, c, &g, &run] {
    f->rest = c->remaining();
    run = [f, &g] { return runContainer(g, *f); };
  });
}

void addCreate(CLI::App* c, Globals& g, Runner& run) {
  auto f = state<RunFlags>();
  addRunFlags(c, f, false);
  c->callback([f, c, &g, &run] {
    f->rest = c->remaining();
    run = [f, &g] { return createOnly(g, *f); };
  });
}

}  // namespace berth::cli
