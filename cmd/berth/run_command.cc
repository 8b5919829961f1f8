// berth run: a container from an image, in the foreground (until berthd exists, `berth` is the container's
// parent and removes it when it exits, as with --rm).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "base/fd.h"
#include "base/file.h"
#include "base/random_id.h"
#include "berth.h"
#include "image/reference.h"
#include "image/runspec.h"
#include "runtime/container.h"
#include "runtime/foreground.h"
#include "snapshot/snapshotter.h"
#include "sys/tty.h"

namespace berth::cli {
namespace {

constexpr const char* kRunRoot = "/run/berth";

// docker's RAMInBytes: 512, 64m, 1.5g, 10k.
std::optional<int64_t> parseBytes(std::string s) {
  if (s.empty()) return std::nullopt;
  int64_t mult = 1;
  char last = static_cast<char>(tolower(s.back()));
  if (last == 'b') s.pop_back(), last = s.empty() ? 0 : static_cast<char>(tolower(s.back()));
  if (last == 'k' || last == 'm' || last == 'g' || last == 't') {
    mult = last == 'k' ? 1LL << 10 : last == 'm' ? 1LL << 20 : last == 'g' ? 1LL << 30 : 1LL << 40;
    s.pop_back();
  }
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || !end || *end || v < 0) return std::nullopt;
  return static_cast<int64_t>(v * static_cast<double>(mult));
}

struct RunFlags {
  image::RunOptions o;
  bool rm = false, detach = false, interactive = false, init = false;
  std::string name, entrypoint, memory, memorySwap, shmSize, cpus, envFile, stopSignal;
  bool entrypointSet = false;
  std::vector<std::string> securityOpts, labels, rest;
  int stopTimeout = -1;
};

int runContainer(Globals& g, RunFlags f) {
  if (f.rest.empty())
    return usage("\"berth run\" requires at least 1 argument: berth run [OPTIONS] IMAGE [COMMAND] [ARG...]");
  if (f.detach)
    return usage("run --detach needs the berth daemon (berthd), which is not part of this build yet");
  if (f.init) return usage("--init needs the berth daemon (berthd), which is not part of this build yet");
  std::string imageRef = f.rest[0];
  image::RunOptions o = f.o;
  o.cmd.assign(f.rest.begin() + 1, f.rest.end());
  if (f.entrypointSet) o.entrypoint = f.entrypoint;
  for (auto& s : f.securityOpts) {
    if (s == "no-new-privileges" || s == "no-new-privileges=true" || s == "no-new-privileges:true") {
      o.noNewPrivileges = true;
    } else if (s.starts_with("seccomp=") || s.starts_with("seccomp:")) {
      o.seccomp = s.substr(8);
      if (o.seccomp != "unconfined" && !o.seccomp.starts_with("{")) {  // a file, as docker's CLI reads it
        auto text = readFile(o.seccomp);
        if (!text)
          return usage("opening seccomp profile (" + o.seccomp + ") failed: " + text.error().message());
        o.seccomp = *text;
      }
    } else {
      return usage("invalid --security-opt: " + s);
    }
  }
  for (auto& l : f.labels)
    o.labels[l.substr(0, l.find('='))] = l.find('=') == std::string::npos ? "" : l.substr(l.find('=') + 1);
  if (!f.envFile.empty()) {
    auto text = readFile(f.envFile);
    if (!text) return usage("open " + f.envFile + ": no such file or directory");
    std::vector<std::string> fromFile;
    for (auto& line : split(*text, '\n')) {
      std::string t = trim(line);
      if (!t.empty() && t[0] != '#') fromFile.push_back(t);
    }
    fromFile.insert(fromFile.end(), o.env.begin(), o.env.end());
    o.env = fromFile;
  }
  auto bytes = [&](const std::string& v, const char* flag, std::optional<int64_t>& out) -> bool {
    if (v.empty()) return true;
    if (v == "-1") return out = -1, true;
    out = parseBytes(v);
    if (!out) usage(std::string("invalid ") + flag + " value: " + v);
    return out.has_value();
  };
  if (!bytes(f.memory, "--memory", o.memory) || !bytes(f.memorySwap, "--memory-swap", o.memorySwap))
    return 125;
  if (!f.shmSize.empty()) {
    auto v = parseBytes(f.shmSize);
    if (!v || *v <= 0) return usage("invalid --shm-size: " + f.shmSize);
    o.shmSize = *v;
  }
  if (!f.cpus.empty()) {
    char* end = nullptr;
    double c = std::strtod(f.cpus.c_str(), &end);
    if (!end || *end || c <= 0) return usage("invalid --cpus: " + f.cpus);
    o.cpuPeriod = 100000;
    o.cpuQuota = static_cast<int64_t>(c * 100000);
  }
  if (o.network != "none" && o.network != "host" && o.network != "bridge" && o.network != "default")
    return usage("network " + o.network +
                 " not found (none and host are supported until bridge networking lands)");
  if (o.network != "host") o.network = "none";

  auto svc = g.images();
  if (!svc) return fail(svc.error());
  auto img = (*svc)->resolve(imageRef);
  if (!img) {
    auto r = image::parseReference(imageRef);
    std::fprintf(stderr, "Unable to find image '%s' locally\n", r ? r->familiar().c_str() : imageRef.c_str());
    std::fprintf(stderr,
                 "berth: pulling is not supported yet: load the image with `berth load` or `berth import`\n");
    return 125;
  }
  auto cfg = (*svc)->config(img->id);
  if (!cfg) return fail(cfg.error());

  o.id = randomHexId();
  std::string dir = std::string(kRunRoot) + "/containers/" + o.id;
  std::string rootfs = dir + "/rootfs";
  if (auto r = mkdirAll(rootfs, 0711); !r) return fail(r.error());
  auto& snap = (*svc)->snapshotter();
  std::string key = "container-" + o.id;
  std::string parent = img->layers.empty() ? "" : img->layers.back().chainId.str();
  bool mounted = false;
  Defer cleanup([&] {
    if (mounted) (void)snapshot::unmountAll(rootfs);
    (void)snap.remove(key);
    (void)removeAll(dir);
  });
  auto mounts = snap.prepare(key, parent, {{"berth.container", o.id}});
  if (!mounts) return fail(mounts.error());
  if (auto r = snapshot::mountAll(*mounts, rootfs); !r) return fail(r.error());
  mounted = true;
  auto spec = image::makeRuntimeConfig(*cfg, o, rootfs);
  if (!spec) {
    std::fprintf(stderr, "berth: %s\n", spec.error().message().c_str());
    return 125;
  }
  if (auto r = writeFileAtomic(dir + "/config.json", *spec, 0600); !r) return fail(r.error());

  runtime::Runtime rt(std::string(kRunRoot) + "/runtime");
  runtime::CreateOptions co;
  co.id = o.id;
  co.bundle = dir;
  UniqueFd ours, theirs;
  if (o.tty) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
      return fail(Error(ErrorCategory::Internal, "socketpair"));
    ours.reset(sp[0]);
    theirs.reset(sp[1]);
    co.consoleSocketFd = theirs.get();
  }
  if (!f.interactive && !o.tty) {
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) ::dup3(null, 0, 0), ::close(null);
  }
  runtime::blockForwardedSignals();
  auto pid = rt.create(co);
  if (!pid) {
    auto& e = pid.error();
    std::fprintf(stderr, "berth: Error response from daemon: failed to create the container: %s\n",
                 e.message().c_str());
    int code = e.category() == ErrorCategory::NotFound           ? 127
               : e.category() == ErrorCategory::PermissionDenied ? 126
                                                                 : 125;
    return code;
  }
  UniqueFd master;
  if (o.tty) {
    theirs.reset();
    auto m = sys::tty::recvFd(ours.get(), true);
    if (!m) {
      (void)rt.remove(o.id, true);
      return fail(m.error());
    }
    master = std::move(*m);
  }
  if (auto r = rt.start(o.id); !r) {
    (void)rt.remove(o.id, true);
    return fail(r.error());
  }
  auto status = runtime::waitForeground(*pid, master.get());
  (void)rt.remove(o.id, true);
  if (!status) return fail(status.error());
  return *status;
}

}  // namespace

void registerRunCommand(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("run", "Create and run a new container from an image");
  c->prefix_command();
  c->set_help_flag("--help", "print usage");  // -h is --hostname, as in docker
  auto f = std::make_shared<RunFlags>();
  f->o.network = "default";
  c->add_flag("--rm", f->rm, "automatically remove the container when it exits");
  c->add_flag("-d,--detach", f->detach, "run the container in the background");
  c->add_flag("-i,--interactive", f->interactive, "keep STDIN open");
  c->add_flag("-t,--tty", f->o.tty, "allocate a pseudo-TTY");
  c->add_flag("--init", f->init, "run an init inside the container");
  c->add_option("--name", f->name, "assign a name to the container");
  c->add_option("-e,--env", f->o.env, "set environment variables")
      ->take_all()
      ->expected(1)
      ->allow_extra_args(false);
  c->add_option("--env-file", f->envFile, "read in a file of environment variables");
  c->add_option("-w,--workdir", f->o.workdir, "working directory inside the container");
  c->add_option("-u,--user", f->o.user, "username or UID (format: <name|uid>[:<group|gid>])");
  c->add_option("-h,--hostname", f->o.hostname, "container host name");
  c->add_option("-l,--label", f->labels, "set metadata on a container")->allow_extra_args(false);
  c->add_option("--entrypoint", f->entrypoint, "overwrite the default ENTRYPOINT of the image")
      ->each([f](const std::string&) { f->entrypointSet = true; });
  c->add_flag("--read-only", f->o.readOnly, "mount the container's root filesystem as read only");
  c->add_option("--tmpfs", f->o.tmpfs, "mount a tmpfs directory")->allow_extra_args(false);
  c->add_option("-m,--memory", f->memory, "memory limit");
  c->add_option("--memory-swap", f->memorySwap, "swap limit equal to memory plus swap: -1 for unlimited");
  c->add_option("--cpus", f->cpus, "number of CPUs");
  c->add_option("-c,--cpu-shares", f->o.cpuShares, "CPU shares (relative weight)");
  c->add_option("--cpuset-cpus", f->o.cpusetCpus, "CPUs in which to allow execution (0-3, 0,1)");
  c->add_option("--pids-limit", f->o.pidsLimit, "tune container pids limit (-1 for unlimited)");
  c->add_option("--ulimit", f->o.ulimits, "ulimit options")->allow_extra_args(false);
  c->add_option("--shm-size", f->shmSize, "size of /dev/shm");
  c->add_option("--cap-add", f->o.capAdd, "add Linux capabilities")->allow_extra_args(false);
  c->add_option("--cap-drop", f->o.capDrop, "drop Linux capabilities")->allow_extra_args(false);
  c->add_flag("--privileged", f->o.privileged, "give extended privileges to this container");
  c->add_option("--security-opt", f->securityOpts, "security options")->allow_extra_args(false);
  c->add_option("--network,--net", f->o.network, "connect a container to a network (none, host)");
  c->add_option("--stop-signal", f->stopSignal, "signal to stop the container");
  c->add_option("--stop-timeout", f->stopTimeout, "timeout (in seconds) to stop a container");
  c->callback([f, c, &g, &run] {
    f->rest = c->remaining();
    run = [f, &g] { return runContainer(g, *f); };
  });
}

}  // namespace berth::cli
