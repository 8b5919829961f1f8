// The container spec's codec: Go's decoding rules and words, and a round trip through the record's JSON.
#include <gtest/gtest.h>

#include "engine/requests.h"
#include "engine/spec.h"

namespace berth::engine::spec {
namespace {

using nlohmann::json;

std::string errorOf(const json& body) {
  auto r = decodeCreate(body);
  if (r) return "";
  EXPECT_EQ(r.error().category(), ErrorCategory::InvalidArgument);
  return r.error().message();
}

TEST(Spec, DecodesDockerCliBody) {
  json body = json::parse(R"({
    "Hostname": "", "Env": ["A=1"], "Cmd": ["sh", "-c", "true"], "Image": "busybox",
    "Labels": {"k": "v"}, "ExposedPorts": {"80/tcp": {}}, "StopTimeout": 5,
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
    "HostConfig": {"Memory": 67108864, "PidsLimit": 50, "CapAdd": ["NET_ADMIN"], "CapDrop": null,
                   "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                   "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                   "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024}}],
                   "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}], "Init": true, "Dns": []},
    "NetworkingConfig": {"EndpointsConfig": {"net1": {"Aliases": ["a"], "IPAMConfig": {"IPv4Address": "10.1.0.5"}}}}
  })");
  auto r = decodeCreate(body);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.image, "busybox");
  EXPECT_EQ(r->config.cmd, (std::vector<std::string>{"sh", "-c", "true"}));
  EXPECT_EQ(r->config.labels.at("k"), "v");
  EXPECT_EQ(r->config.exposedPorts.count("80/tcp"), 1u);
  EXPECT_EQ(r->config.stopTimeout, 5);
  ASSERT_TRUE(r->config.healthcheck);
  EXPECT_EQ(r->config.healthcheck->interval, 1000000000);
  const HostConfig& h = r->hostConfig;
  EXPECT_EQ(h.resources.memory, 64 << 20);
  EXPECT_EQ(h.resources.pidsLimit, 50);
  EXPECT_EQ(h.capAdd, (std::vector<std::string>{"NET_ADMIN"}));
  EXPECT_TRUE(h.capDrop.isNull());
  EXPECT_EQ(h.restartPolicy.name, "on-failure");
  EXPECT_EQ(h.restartPolicy.maximumRetryCount, 3);
  EXPECT_EQ(h.portBindings.at("80/tcp").at(0).hostPort, "8080");
  ASSERT_EQ(h.mounts.size(), 1u);
  EXPECT_EQ(h.mounts[0].tmpfsOptions->sizeBytes, 1024);
  EXPECT_EQ(h.resources.ulimits.at(0).hard, 20);
  EXPECT_EQ(h.init, true);
  EXPECT_TRUE(h.dns.empty());
  EXPECT_FALSE(h.dns.isNull());
  auto& ep = r->networkingConfig.endpointsConfig.at("net1");
  EXPECT_EQ(ep.aliases.at(0), "a");
  EXPECT_EQ(ep.ipamConfig->ipv4Address, "10.1.0.5");
}

TEST(Spec, WrongTypesAreGoErrors) {
  EXPECT_EQ(errorOf({{"Image", "b"}, {"HostConfig", {{"Memory", "abc"}}}}),
            "invalid JSON: json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory "
            "of type int64");
  EXPECT_EQ(errorOf({{"Image", "b"}, {"HostConfig", {{"PidsLimit", "50"}}}}),
            "invalid JSON: json: cannot unmarshal string into Go struct field "
            "HostConfig.HostConfig.PidsLimit of type int64");
  EXPECT_EQ(errorOf({{"Image", "b"}, {"HostConfig", {{"Privileged", "false"}}}}),
            "invalid JSON: json: cannot unmarshal string into Go struct field "
            "HostConfig.HostConfig.Privileged of type bool");
  EXPECT_EQ(errorOf({{"Hostname", 1}}),
            "invalid JSON: json: cannot unmarshal number into Go struct field CreateRequest.Hostname of type "
            "string");
  EXPECT_EQ(errorOf({{"HostConfig", {{"RestartPolicy", {{"MaximumRetryCount", 1.5}}}}}}),
            "invalid JSON: json: cannot unmarshal number 1.5 into Go struct field "
            "RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int");
  EXPECT_EQ(
      errorOf({{"Env", {"A", 1}}}),
      "invalid JSON: json: cannot unmarshal number into Go struct field CreateRequest.Env of type string");
  EXPECT_EQ(
      errorOf({{"Labels", {{"a", 1}}}}),
      "invalid JSON: json: cannot unmarshal number into Go struct field CreateRequest.Labels of type string");
  EXPECT_EQ(errorOf(json::array()),
            "invalid JSON: json: cannot unmarshal array into Go value of type container.CreateRequest");
}

TEST(Spec, IntegersOutOfRange) {
  json big = json::parse(R"({"HostConfig": {"Memory": 1180591620717411303424}})");
  EXPECT_EQ(errorOf(big),
            "invalid JSON: json: cannot unmarshal number 1180591620717411303424 into Go struct field "
            "HostConfig.HostConfig.Memory of type "
            "int64");
  EXPECT_EQ(errorOf(json::parse(R"({"HostConfig": {"Memory": 9223372036854775808}})")),
            "invalid JSON: json: cannot unmarshal number 9223372036854775808 into Go struct field "
            "HostConfig.HostConfig.Memory of type "
            "int64");
  EXPECT_EQ(errorOf(json::parse(R"({"HostConfig": {"BlkioWeight": 70000}})")),
            "invalid JSON: json: cannot unmarshal number 70000 into Go struct field "
            "HostConfig.HostConfig.BlkioWeight of type uint16");
  EXPECT_EQ(errorOf(json::parse(R"({"HostConfig": {"BlkioWeight": -1}})")),
            "invalid JSON: json: cannot unmarshal number -1 into Go struct field "
            "HostConfig.HostConfig.BlkioWeight of type uint16");
  auto r = decodeCreate(json::parse(R"({"HostConfig": {"Memory": -9223372036854775808, "PidsLimit": -1}})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->hostConfig.resources.memory, INT64_MIN);
  EXPECT_EQ(r->hostConfig.resources.pidsLimit, -1);
}

TEST(Spec, StrSlicesTakeAString) {
  auto r = decodeCreate({{"Cmd", "true"}, {"HostConfig", {{"CapDrop", "ALL"}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->config.cmd, (std::vector<std::string>{"true"}));
  EXPECT_EQ(r->hostConfig.capDrop, (std::vector<std::string>{"ALL"}));
  EXPECT_EQ(errorOf({{"Cmd", 5}}),
            "invalid JSON: json: cannot unmarshal number into Go struct field CreateRequest.Cmd of type "
            "strslice.StrSlice");
}

TEST(Spec, NullUnknownAndCase) {
  auto r = decodeCreate(json::parse(
      R"({"Image": null, "Bogus": {"x": [1]}, "hostconfig": {"memory": 7000000}, "StopTimeout": null})"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.image, "");
  EXPECT_EQ(r->hostConfig.resources.memory, 7000000);
  EXPECT_FALSE(r->config.stopTimeout);
  EXPECT_TRUE(decodeCreate(json(nullptr)));
}

TEST(Spec, RoundTripThroughTheRecord) {
  json body = json::parse(R"({"Image": "busybox", "Cmd": ["true"], "Env": [], "Labels": {"a": "b"},
    "HostConfig": {"Memory": 10000000, "MemorySwap": 20000000, "CapAdd": ["SYS_ADMIN"], "Binds": ["/a:/b:ro"],
                   "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}, "Tmpfs": {"/t": "size=1m"},
                   "Mounts": [{"Type": "volume", "Target": "/v", "VolumeOptions": {"NoCopy": true}}]}})");
  auto r = decodeCreate(body);
  ASSERT_TRUE(r);
  json cfg = encode(r->config), hc = encode(r->hostConfig);
  EXPECT_EQ(cfg["Env"], json::array());  // an empty array stays one
  EXPECT_EQ(cfg["Entrypoint"], nullptr);
  EXPECT_FALSE(cfg.contains("Healthcheck"));  // omitempty
  EXPECT_EQ(hc["CapDrop"], nullptr);
  EXPECT_EQ(hc["ConsoleSize"], json::array({0, 0}));
  EXPECT_EQ(hc["Mounts"][0],
            json::parse(R"({"Type": "volume", "Target": "/v", "VolumeOptions": {"NoCopy": true}})"));
  EXPECT_EQ(hc["PidsLimit"], nullptr);
  std::vector<std::string> skipped;
  HostConfig back = decodeHostConfig(hc, &skipped);
  EXPECT_TRUE(skipped.empty());
  EXPECT_EQ(encode(back), hc);
  EXPECT_EQ(encode(decodeConfig(cfg)), cfg);
}

TEST(Spec, LenientRecordsSkipWrongFields) {
  std::vector<std::string> skipped;
  HostConfig h = decodeHostConfig({{"Memory", "abc"}, {"Privileged", true}, {"PidsLimit", "50"}}, &skipped);
  EXPECT_EQ(h.resources.memory, 0);
  EXPECT_TRUE(h.privileged);
  EXPECT_FALSE(h.resources.pidsLimit);
  EXPECT_EQ(skipped, (std::vector<std::string>{"HostConfig.Memory: string", "HostConfig.PidsLimit: string"}));
}

TEST(Spec, Update) {
  auto u = decodeUpdate({{"Memory", 20971520}, {"RestartPolicy", {{"Name", "always"}}}});
  ASSERT_TRUE(u);
  EXPECT_EQ(u->resources.memory, 20971520);
  EXPECT_EQ(u->restartPolicy->name, "always");
  auto bad = decodeUpdate({{"Memory", "abc"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(
      bad.error().message(),
      "invalid JSON: json: cannot unmarshal string into Go struct field UpdateConfig.Memory of type int64");
}

TEST(Requests, NetworkCreate) {
  auto r = decodeNetworkCreate(json::parse(R"({"Name": "front", "CheckDuplicate": true, "Driver": "bridge",
      "Internal": true, "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/24",
      "Gateway": "10.9.0.254"}], "Options": null}, "Options": {"com.docker.network.bridge.name": "br9"},
      "Labels": {"a": "b"}, "EnableIPv6": false, "ConfigFrom": null})"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->name, "front");
  EXPECT_TRUE(r->internal);
  ASSERT_TRUE(r->ipam);
  ASSERT_EQ(r->ipam->config.size(), 1u);
  EXPECT_EQ(r->ipam->config[0].subnet, "10.9.0.0/24");
  EXPECT_EQ(r->ipam->config[0].gateway, "10.9.0.254");
  EXPECT_EQ(r->options.at("com.docker.network.bridge.name"), "br9");
  EXPECT_EQ(r->labels.at("a"), "b");
  EXPECT_EQ(r->enableIpv6, false);
  EXPECT_FALSE(r->configFrom);
  // null for the optional ones is their absence (docker-py sends null for what it was not given).
  auto nulls = decodeNetworkCreate(json::parse(R"({"Name": "n", "IPAM": null, "Labels": null,
      "Options": null, "EnableIPv6": null})"));
  ASSERT_TRUE(nulls) << nulls.error().message();
  EXPECT_FALSE(nulls->ipam);
  EXPECT_FALSE(nulls->enableIpv6);
  auto bad = decodeNetworkCreate(json::parse(R"({"Name": 7})"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(),
            "invalid JSON: json: cannot unmarshal number into Go struct field NetworkCreateRequest.Name of "
            "type string");
  EXPECT_EQ(bad.error().category(), ErrorCategory::InvalidArgument);
  EXPECT_FALSE(decodeNetworkCreate(json::parse(R"({"Name": "n", "IPAM": {"Config": {}}})")));
  EXPECT_FALSE(decodeNetworkCreate(json::parse(R"({"Name": "n", "Labels": {"a": 1}})")));
  EXPECT_FALSE(decodeNetworkCreate(json::parse(R"({"Name": "n", "Internal": "yes"})")));
}

TEST(Requests, NetworkConnectAndVolumeCreate) {
  auto c = decodeNetworkConnect(json::parse(R"({"Container": "web", "EndpointConfig": {"Aliases": ["w"],
      "IPAMConfig": {"IPv4Address": "10.9.0.7"}}})"));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->container, "web");
  ASSERT_TRUE(c->endpointConfig);
  EXPECT_EQ(c->endpointConfig->aliases, (std::vector<std::string>{"w"}));
  EXPECT_EQ(c->endpointConfig->ipamConfig->ipv4Address, "10.9.0.7");
  EXPECT_FALSE(decodeNetworkConnect(json::parse(R"({"Container": "web", "EndpointConfig": []})")));
  EXPECT_FALSE(decodeNetworkConnect(json::parse(R"({"Container": 1})")));
  auto d = decodeNetworkDisconnect(json::parse(R"({"Container": "web", "Force": true})"));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->force);

  auto v = decodeVolumeCreate(json::parse(R"({"Name": "data", "Driver": "local",
      "DriverOpts": {"type": "tmpfs", "device": "tmpfs"}, "Labels": null})"));
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(v->name, "data");
  EXPECT_EQ(v->driverOpts.at("type"), "tmpfs");
  EXPECT_TRUE(v->labels.empty());
  auto bad = decodeVolumeCreate(json::parse(R"({"DriverOpts": {"size": 5}})"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(
      bad.error().message(),
      "invalid JSON: json: cannot unmarshal number into Go struct field CreateOptions.DriverOpts of type "
      "string");
  EXPECT_TRUE(decodeVolumeCreate(json::object()));
  EXPECT_FALSE(decodeVolumeCreate(json::array()));
}

}  // namespace
}  // namespace berth::engine::spec
