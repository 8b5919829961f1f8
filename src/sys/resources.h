// Resource limits for a cgroup, as the OCI spec describes them (linux.resources).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::sys {

struct DeviceRule {
  bool allow = false;
  char type = 'a';                 // a, c, b
  int64_t major = -1, minor = -1;  // -1 = wildcard
  std::string access = "rwm";
};

struct WeightDevice {
  int64_t major = 0, minor = 0;
  std::optional<uint16_t> weight, leafWeight;
};
struct ThrottleDevice {
  int64_t major = 0, minor = 0;
  uint64_t rate = 0;
};

struct Resources {
  std::vector<DeviceRule> devices;
  struct {
    std::optional<int64_t> limit, reservation, swap, kernel, kernelTCP;
    std::optional<uint64_t> swappiness;
    std::optional<bool> disableOOMKiller;
  } memory;
  struct {
    std::optional<uint64_t> shares, period, realtimePeriod;
    std::optional<int64_t> quota, realtimeRuntime, burst;
    std::optional<std::string> cpus, mems;
    std::optional<int64_t> idle;
  } cpu;
  std::optional<int64_t> pidsLimit;
  struct {
    std::optional<uint16_t> weight, leafWeight;
    std::vector<WeightDevice> weightDevice;
    std::vector<ThrottleDevice> throttleReadBps, throttleWriteBps, throttleReadIops, throttleWriteIops;
  } blockIO;
  struct HugepageLimit {
    std::string pageSize;
    uint64_t limit = 0;
  };
  std::vector<HugepageLimit> hugepageLimits;
  std::map<std::string, std::string> unified;
};

}  // namespace berth::sys
