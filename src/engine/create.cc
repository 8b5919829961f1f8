// Engine: create. A decoded request is checked (docker's 400s), merged with its image's config, given its
// networks and mounts, and stored with its writable layer.
#include <algorithm>

#include "base/file.h"
#include "base/log.h"
#include "base/random_id.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/spec_validate.h"
#include "image/service.h"
#include "snapshot/snapshotter.h"

namespace berth::engine {

namespace {

// docker's names-generator flavour: adjective_surname.
std::string randomName() {
  static const char* adj[] = {"admiring", "brave", "calm",  "eager",  "focused", "gallant", "happy",
                              "jolly",    "keen",  "lucid", "modest", "nifty",   "quirky",  "relaxed",
                              "serene",   "sharp", "stoic", "tender", "vibrant", "zealous"};
  static const char* who[] = {"hopper",    "lovelace", "turing",   "ritchie",  "thompson",
                              "torvalds",  "knuth",    "dijkstra", "hamilton", "liskov",
                              "kernighan", "pike",     "cerf",     "perlman",  "wozniak",
                              "noether",   "curie",    "shannon",  "babbage",  "goldberg"};
  auto r = randomBytes<2>();
  return std::string(adj[r[0] % std::size(adj)]) + "_" + who[r[1] % std::size(who)];
}

// The checks that need no engine state beyond the request: docker's, then berth's own limits.
Result<void> checkRequest(const spec::CreateRequest& req, std::vector<std::string>* warnings) {
  TRYV(spec::validateCreate(req, spec::HostFacts::cached(), warnings));
  const spec::HostConfig& hc = req.hostConfig;
  // What the later issues bring, refused clearly rather than ignored.
  if (!hc.links.empty()) return invalid("HostConfig.Links is not supported yet");
  if (!hc.resources.devices.empty()) return invalid("HostConfig.Devices is not supported yet");
  if (auto& hp = req.config.healthcheck; hp && !hp->test.empty()) {
    const std::string& kind = hp->test[0];
    if (kind != "NONE" && kind != "CMD" && kind != "CMD-SHELL")
      return invalid("Healthcheck.Test: the first element must be NONE, CMD or CMD-SHELL, not " + kind);
  }
  TRYV(extraHosts(hc));
  TRYV(portBindingsOf(hc, {}));
  const std::string& mode = hc.networkMode;
  if (mode.starts_with("container:")) {
    if (mode.size() == 10)
      return invalid("invalid network mode: invalid container format container:<name|id>");
    if (!req.config.hostname.empty()) return invalid("conflicting options: hostname and the network mode");
    if (!hc.portBindings.empty())
      return invalid("conflicting options: port publishing and the container type network mode");
    if (!hc.dns.empty()) return invalid("conflicting options: dns and the network mode");
    if (!hc.extraHosts.empty())
      return invalid("conflicting options: custom host-to-IP mapping and the network mode");
  }
  return {};
}

}  // namespace

Result<void> Engine::mergeImageConfig(Container& c, const spec::CreateRequest& req,
                                      const image::ImageConfig& icfg) {
  const spec::Config& rc = req.config;
  const auto& ic = icfg.config;
  c.config = rc;
  if (c.config.hostname.empty()) c.config.hostname = c.id.substr(0, 12);
  // The command as docker shows it: the image's Entrypoint/Cmd unless the request has its own; a new
  // entrypoint drops the image's Cmd.
  std::vector<std::string> ep = !rc.entrypoint.isNull() ? rc.entrypoint : ic.entrypoint;
  std::vector<std::string> cmd = !rc.cmd.empty() ? std::vector<std::string>(rc.cmd) : ic.cmd;
  if (!rc.entrypoint.isNull() && rc.cmd.isNull()) cmd.clear();
  std::vector<std::string> full = ep;
  full.insert(full.end(), cmd.begin(), cmd.end());
  if (full.empty()) return invalid("No command specified");
  c.path = full[0];
  c.args.assign(full.begin() + 1, full.end());
  if (c.config.cmd.isNull()) c.config.cmd = spec::StrSlice(cmd);
  if (c.config.entrypoint.isNull() && !ep.empty()) c.config.entrypoint = spec::StrSlice(ep);
  std::vector<std::string> env = ic.env;
  env.insert(env.end(), rc.env.begin(), rc.env.end());
  c.config.env = spec::Slice<std::string>(env);
  if (c.config.workingDir.empty()) c.config.workingDir = ic.workingDir;
  if (c.config.user.empty()) c.config.user = ic.user;
  std::map<std::string, std::string> labels(ic.labels.begin(), ic.labels.end());
  for (auto& [k, v] : rc.labels) labels[k] = v;
  c.config.labels = spec::Map<std::string>(labels);
  // The check: the request's, with the image's HEALTHCHECK filling what it leaves out (docker's merge).
  if (const auto& ih = ic.healthcheck; ih.set || rc.healthcheck) {
    spec::HealthConfig h = rc.healthcheck.value_or(spec::HealthConfig{});
    if (h.test.empty()) h.test = spec::Slice<std::string>(ih.test);
    for (auto [mine, image] :
         {std::pair{&h.interval, ih.interval}, std::pair{&h.timeout, ih.timeout},
          std::pair{&h.startPeriod, ih.startPeriod}, std::pair{&h.startInterval, ih.startInterval}})
      if (*mine == 0) *mine = image;
    if (h.retries == 0) h.retries = ih.retries;
    if (h.test.empty())
      c.config.healthcheck.reset();
    else
      c.config.healthcheck = h;
  }
  if (c.config.stopSignal.empty()) c.config.stopSignal = ic.stopSignal;
  return {};
}

Result<void> Engine::createNetworkingLocked(Container& c, const spec::CreateRequest& req) {
  std::string& mode = c.hostConfig.networkMode;
  if (mode.starts_with("container:")) {
    // Another container's network namespace (and its /etc/hosts, resolv.conf, hostname), by its id.
    TRY(std::string id, resolveId(mode.substr(10)));
    mode = "container:" + id;
    return {};
  }
  if (mode.empty() || mode == "default") mode = "bridge";  // docker's default network: the bridge
  // Its networks: NetworkMode's when that is a bridge network, then NetworkingConfig's others (API 1.44
  // takes several), each with its aliases (--network-alias, compose's service names) and --ip.
  std::optional<Network> first;
  if (mode != "none" && mode != "host") {
    TRY(first, networks_->find(mode));
    if (first->driver == "bridge") c.networks.push_back(first->name);
  }
  for (auto& [key, cfg] : req.networkingConfig.endpointsConfig) {
    std::string net = key == "default" ? "bridge" : key;  // the docker CLI names NetworkMode's as it is
    TRY(Network n, networks_->find(net));
    bool isPrimary = n.name == mode || n.id == mode || (first && first->id == n.id);
    if (!isPrimary && (n.driver != "bridge" || c.networks.empty()))
      return invalid("Container cannot be connected to network endpoints: " + mode + ", " + n.name);
    if (n.driver != "bridge") continue;
    if (std::find(c.networks.begin(), c.networks.end(), n.name) == c.networks.end())
      c.networks.push_back(n.name);
    TRYV(endpointConfigLocked(c, n, cfg));
  }
  return {};
}

Result<std::string> Engine::create(const std::string& nameIn, spec::CreateRequest req,
                                   std::vector<std::string>* warnings) {
  log::phase("create: begin");
  std::vector<std::string> unused;
  if (!warnings) warnings = &unused;
  std::string name = !nameIn.empty() && nameIn[0] == '/' ? nameIn.substr(1) : nameIn;
  if (!name.empty() && !validContainerName(name))
    return invalid("Invalid container name (" + nameIn + "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  if (req.config.image.empty()) return invalid("config.Image: an image is required");
  spec::normalizeCreate(req);
  TRYV(checkRequest(req, warnings));
  spec::applyCreateDefaults(req.hostConfig);
  const std::string imageRef = req.config.image;

  // The image and the writable layer first, without the engine's lock (the image service's metadata lock
  // is held only for the lookup and the layer's row, not through another client's image load).
  // The container's writable layer on the image's top layer. Relaxed: the record's synced commit below
  // carries it to the disk; a crash between the two leaves a layer without a container, which loadAll()
  // removes.
  const std::string id = randomHexId();
  auto prepared =
      images_->prepareContainer(imageRef, "container-" + id, {{"berth.container", id}}, db::Sync::Relaxed);
  if (!prepared) return std::unexpected(prepared.error());  // "No such image: <ref>" when it is not there
  image::ContainerLayer& prep = *prepared;
  log::phase("create: layer prepared");
  bool made = false;
  Defer dropLayer([&] {  // runs after the engine's lock below is let go
    if (!made) (void)images_->snapshotter().remove("container-" + id);
  });
  const image::ImageConfig& icfg = prep.config;

  std::unique_lock lock(m_);
  log::phase("create: checked");
  if (name.empty()) {
    do name = randomName();
    while (std::any_of(containers_.begin(), containers_.end(),
                       [&](auto& kv) { return kv.second.name == name; }));
  }
  for (auto& [otherId, other] : containers_)
    if (other.name == name)
      return fail(ErrorCategory::Conflict, "Conflict. The container name \"/" + name +
                                               "\" is already in use by container \"" + otherId +
                                               "\". You have to remove (or rename) that container to be able "
                                               "to reuse that name.");
  Container c;
  c.id = id;
  c.name = name;
  c.image = imageRef;
  c.imageId = prep.image.id.str();
  c.created = log::nowRfc3339();
  c.hostConfig = req.hostConfig;
  TRYV(createNetworkingLocked(c, req));
  TRYV(mergeImageConfig(c, req, icfg));

  // Its mounts, with the volumes they name made now (docker makes them at create, not at start).
  TRY(c.mounts, resolveMountsLocked(c.config, c.hostConfig, icfg.config.volumes));
  Defer dropVolumes([&] { removeAnonymousVolumesLocked(c); });
  log::phase("create: record made");
  TRYV(mkdirAll(opts_.dataRoot + "/containers/" + c.id, 0700));
  // An --rm container is not meant to outlive its process: after a power cut it is gone either way (its
  // record lost with the relaxed commit, or found exited and removed at the daemon's start).
  // Committed relaxed and synced below once the lock is let go (an fsync waits for the disk, which an
  // image load may keep busy, and ps must not wait for it).
  TRYV(save(c, db::Sync::Relaxed));
  made = true;
  dropVolumes.dismiss();
  log::phase("create: saved");
  containers_[c.id] = c;
  layerMounts_[c.id] = std::move(prep.mounts);
  imageConfigs_.try_emplace(c.imageId, icfg);
  emitLocked("container", "create", c.id);
  lock.unlock();
  // The volumes it made are synced with it, an --rm container's too (they may outlive it).
  bool madeVolumes =
      std::any_of(c.mounts.begin(), c.mounts.end(), [](auto& m) { return m.type == "volume"; });
  if (!c.hostConfig.autoRemove || madeVolumes) TRYV_CTX(syncRecords(), "recording the container");
  log::phase("create: done");
  return c.id;
}

}  // namespace berth::engine
