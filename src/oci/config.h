// The validated, typed form of an OCI runtime-spec config.json (spec 1.0 to 1.2).
// Raw JSON stops in this module: everything below reads these types.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "sys/resources.h"
#include "sys/seccomp.h"

namespace berth::oci {

struct IdMapping {
  uint32_t containerId = 0;
  uint32_t hostId = 0;
  uint32_t size = 0;
};

struct Mount {
  std::string destination;
  std::string source;
  std::string type;
  std::vector<std::string> options;  // as written
  // Parsed from options:
  unsigned long flags = 0;        // MS_* flags to set
  unsigned long propagation = 0;  // MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC)
  std::string data;               // filesystem-specific options
  bool bind = false;
  bool recursive = false;
};

struct Rlimit {
  int resource = 0;
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct Capabilities {
  uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::optional<mode_t> umask;
  std::vector<gid_t> additionalGids;
};

struct Process {
  bool terminal = false;
  unsigned consoleHeight = 0, consoleWidth = 0;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool noNewPrivileges = false;
  std::optional<int> oomScoreAdj;
  std::string apparmorProfile;
  std::string selinuxLabel;
  std::optional<int> ioPriorityClass;
  int ioPriority = 0;
};

// One of CLONE_NEWNS, CLONE_NEWPID, ... with an optional path to join.
struct Namespace {
  int type = 0;
  std::string path;
};

struct Device {
  char type = 'c';  // c, u, b, p
  std::string path;
  int64_t major = 0, minor = 0;
  std::optional<mode_t> fileMode;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

using DeviceRule = sys::DeviceRule;
using WeightDevice = sys::WeightDevice;
using ThrottleDevice = sys::ThrottleDevice;
using Resources = sys::Resources;
using SeccompArg = sys::seccomp::Arg;
using SeccompRule = sys::seccomp::Rule;
using Seccomp = sys::seccomp::Profile;

struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds
};
struct Hooks {
  std::vector<Hook> prestart, createRuntime, createContainer, startContainer, poststart, poststop;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uidMappings, gidMappings;
  std::vector<Device> devices;
  std::string cgroupsPath;
  std::optional<Resources> resources;
  unsigned long rootfsPropagation = 0;
  std::optional<Seccomp> seccomp;
  std::map<std::string, std::string> sysctl;
  std::vector<std::string> maskedPaths, readonlyPaths;
  std::string mountLabel;
  std::optional<unsigned long> personality;

  bool hasNamespace(int type) const;
  const Namespace* findNamespace(int type) const;
};

struct Config {
  std::string ociVersion;
  std::string rootPath;  // absolute (resolved against the bundle)
  bool rootReadonly = false;
  std::optional<Process> process;
  std::string hostname;
  std::string domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  Linux linux;
};

// Parses config.json text; bundleDir resolves a relative root.path. Errors name the JSON path.
Result<Config> parseConfig(const std::string& json, const std::string& bundleDir);
// Parses just a process object (for `exec --process`).
Result<Process> parseProcess(const std::string& json);
// Parses resources (for `update --resources`).
Result<Resources> parseResources(const std::string& json);
// Parses mount options into flags/propagation/data; exposed for tests.
Result<void> parseMountOptions(Mount& m);

// The default config.json that `spec` writes (runc's template); rootless adapts it for a user namespace.
std::string defaultSpec(bool rootless, uid_t uid, gid_t gid);

// Signal names ("KILL", "SIGKILL", "9") to numbers.
Result<int> parseSignal(const std::string& s);

}  // namespace berth::oci
