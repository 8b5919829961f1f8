// The typed spec of a container → what its start needs: the image service's run options (the OCI config's
// input) and the json-file log's rotation.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "engine/internal.h"
#include "engine/spec_validate.h"

namespace berth::engine {

// docker's Config + HostConfig → the image service's run options.
Result<image::RunOptions> runOptions(const Container& c, const std::string& cgroupParent,
                                     const std::string& initPath) {
  image::RunOptions o;
  o.id = c.id;
  const spec::Config& cfg = c.config;
  const spec::HostConfig& hc = c.hostConfig;
  const spec::Resources& res = hc.resources;
  std::vector<std::string> full{c.path};
  full.insert(full.end(), c.args.begin(), c.args.end());
  o.entrypoint = std::string();  // the full command is given here
  o.cmd = full;
  // Env: the record holds the image's env followed by the user's; runspec adds the image's again, later
  // entries win, so the user's stay in force.
  o.env.assign(cfg.env.begin(), cfg.env.end());
  o.workdir = cfg.workingDir;
  o.user = cfg.user;
  o.hostname = cfg.hostname;
  o.tty = cfg.tty;
  o.readOnly = hc.readonlyRootfs;
  o.privileged = hc.privileged;
  o.capAdd.assign(hc.capAdd.begin(), hc.capAdd.end());
  o.capDrop.assign(hc.capDrop.begin(), hc.capDrop.end());
  // Checked at create (spec_validate.cc); label and apparmor mean nothing without SELinux or AppArmor, as
  // docker ignores them when those are disabled.
  for (const std::string& s : hc.securityOpt) {
    if (s == "no-new-privileges" || s == "no-new-privileges=true" || s == "no-new-privileges:true" ||
        s == "no-new-privileges=1" || s == "no-new-privileges:1")
      o.noNewPrivileges = true;
    else if ((s.starts_with("seccomp=") || s.starts_with("seccomp:")) && s.substr(8) != "builtin")
      o.seccomp = s.substr(8);
  }
  o.network = hc.networkMode == "host" ? "host" : "none";
  if (hc.shmSize > 0) o.shmSize = hc.shmSize;
  for (auto& [path, opts] : hc.tmpfs) o.tmpfs.push_back(opts.empty() ? path : path + ":" + opts);
  o.labels.insert(cfg.labels.begin(), cfg.labels.end());
  if (res.memory > 0) o.memory = res.memory;
  if (res.memorySwap != 0) o.memorySwap = res.memorySwap;
  if (res.cpuShares > 0) o.cpuShares = res.cpuShares;
  if (res.pidsLimit && *res.pidsLimit != 0) o.pidsLimit = *res.pidsLimit;
  if (res.nanoCpus > 0) {
    o.cpuPeriod = 100000;
    o.cpuQuota = res.nanoCpus / 10000;
  }
  if (res.cpuQuota > 0) o.cpuQuota = res.cpuQuota;
  if (res.cpuPeriod > 0) o.cpuPeriod = res.cpuPeriod;
  o.cpusetCpus = res.cpusetCpus;
  for (auto& u : res.ulimits)
    o.ulimits.push_back(u.name + "=" + std::to_string(u.soft) + ":" + std::to_string(u.hard));
  o.cgroupParent = res.cgroupParent.empty() ? cgroupParent : res.cgroupParent;
  if (hc.init.value_or(false)) {
    if (initPath.empty() || initPath[0] != '/' || ::access(initPath.c_str(), X_OK) != 0)
      return invalid("--init: the init binary (berth-init) was not found" +
                     (initPath.empty() ? std::string() : " at " + initPath) + "; give berthd --init-path");
    o.initPath = initPath;
  }
  return o;
}

Result<void> defaultLogRotation(const std::map<std::string, std::string>& opts, int64_t& maxSize,
                                int& maxFiles) {
  spec::LogConfig lc;
  lc.type = "json-file";
  lc.config = spec::Map<std::string>(opts);
  TRYV_CTX(spec::checkLogConfig(lc), "log-opts");
  logRotation(lc, maxSize, maxFiles);
  return {};
}

// json-file's max-size (docker's units.FromHumanSize: decimal units) and max-file, over the daemon's
// defaults.
void logRotation(const spec::LogConfig& lc, int64_t& maxSize, int& maxFiles) {
  if (auto it = lc.config.find("max-size"); it != lc.config.end()) {
    const std::string& v = it->second;
    char* end = nullptr;
    double num = std::strtod(v.c_str(), &end);
    int64_t mult = 1;
    if (end && *end) {
      char u = static_cast<char>(std::tolower(static_cast<unsigned char>(*end == ' ' ? end[1] : *end)));
      mult = u == 'k' ? 1000 : u == 'm' ? 1000 * 1000 : u == 'g' ? 1000 * 1000 * 1000 : 1;
    }
    if (num > 0)
      maxSize = static_cast<int64_t>(num * static_cast<double>(mult));
    else if (v == "-1")
      maxSize = -1;
  }
  if (auto it = lc.config.find("max-file"); it != lc.config.end())
    maxFiles = std::max(1, std::atoi(it->second.c_str()));
}

}  // namespace berth::engine
