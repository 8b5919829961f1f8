#include <gtest/gtest.h>

#include "image/manifest.h"

namespace berth::image {
namespace {

const std::string kD1 = "sha256:" + std::string(64, 'a');
const std::string kD2 = "sha256:" + std::string(64, 'b');

std::string dockerManifest() {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
    "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":")" +
         kD1 + R"("},
    "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":2591575,"digest":")" +
         kD2 + R"("}]})";
}

TEST(Manifest, DockerSchema2AndOci) {
  auto m = parseManifest(dockerManifest());
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->config.digest.str(), kD1);
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 2591575);
  EXPECT_TRUE(isLayerMediaType(m->layers[0].mediaType));
  EXPECT_EQ(*documentKind(dockerManifest()), DocumentKind::Manifest);
  // OCI manifests may omit mediaType.
  auto oci =
      parseManifest(R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json",
    "size":2,"digest":")" +
                    kD1 + R"("},"layers":[]})");
  ASSERT_TRUE(oci) << oci.error().message();
  EXPECT_EQ(oci->mediaType, media::kOciManifest);
}

TEST(Manifest, HostileInputIsRefusedWithItsPath) {
  auto err = [](const std::string& j) {
    auto r = parseManifest(j);
    EXPECT_FALSE(r) << j;
    return r ? std::string() : r.error().message();
  };
  EXPECT_NE(err("{").find("invalid JSON"), std::string::npos);
  EXPECT_NE(err("[]").find("must be a JSON object"), std::string::npos);
  EXPECT_NE(err(R"({"schemaVersion":1})").find("schemaVersion"), std::string::npos);
  EXPECT_NE(err(R"({"schemaVersion":2,"layers":[]})").find("config: is required"), std::string::npos);
  EXPECT_NE(err(R"({"schemaVersion":2,"config":{"digest":"sha256:../../etc/passwd","size":1}})")
                .find("config.digest"),
            std::string::npos);
  EXPECT_NE(err(R"({"schemaVersion":2,"config":{"digest":")" + kD1 + R"(","size":-5}})").find("config.size"),
            std::string::npos);
  EXPECT_NE(
      err(R"({"schemaVersion":2,"config":{"digest":")" + kD1 + R"(","size":1},"layers":[{"digest":5}]})")
          .find("layers[0].digest: must be a string"),
      std::string::npos);
}

TEST(Index, SelectsLinuxAmd64) {
  std::string idx = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                    kD1 + R"(","size":10,
     "platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                    kD2 + R"(","size":11,
     "platform":{"os":"linux","architecture":"amd64"}}]})";
  EXPECT_EQ(*documentKind(idx), DocumentKind::Index);
  auto i = parseIndex(idx);
  ASSERT_TRUE(i) << i.error().message();
  auto d = selectPlatform(*i, "linux", "amd64");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->digest.str(), kD2);
  auto none = selectPlatform(*i, "linux", "s390x");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().category(), ErrorCategory::NotFound);
  EXPECT_NE(none.error().message().find("linux/arm64/v8, linux/amd64"), std::string::npos);
}

TEST(ImageConfig, ParsesDockerConfig) {
  auto c = parseImageConfig(R"({"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
    "config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":null,"WorkingDir":"/w","User":"nobody",
              "ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"Labels":{"a":"b"},"StopSignal":"SIGQUIT"},
    "rootfs":{"type":"layers","diff_ids":[")" +
                            kD1 + R"("]},
    "history":[{"created_by":"/bin/sh -c #(nop) ADD file","empty_layer":false}]})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->config.cmd, std::vector<std::string>{"sh"});
  EXPECT_TRUE(c->config.cmdSet);
  EXPECT_FALSE(c->config.entrypointSet);
  EXPECT_EQ(c->config.exposedPorts, std::vector<std::string>{"80/tcp"});
  EXPECT_EQ(c->config.volumes, std::vector<std::string>{"/data"});
  EXPECT_EQ(c->config.labels.at("a"), "b");
  EXPECT_EQ(c->diffIds.size(), 1u);
  EXPECT_EQ(c->history[0].createdBy, "/bin/sh -c #(nop) ADD file");
  auto bad = parseImageConfig(R"({"rootfs":{"type":"layers","diff_ids":["nope"]}})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("rootfs.diff_ids[0]"), std::string::npos);
  EXPECT_FALSE(parseImageConfig(R"({"config":{}})"));
}

}  // namespace
}  // namespace berth::image

// Found by fuzz_manifest (crash-9f623e89): out-of-range numbers and deep nesting are errors, not exceptions.
TEST(Manifest, OutOfRangeNumbersAndDeepNesting) {
  auto m = berth::image::parseManifest(R"({"schemaVersion":2,"config":{"size":44348e0303114}})");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("number overflow"), std::string::npos) << m.error().message();
  std::string deep = "{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  auto c = berth::image::parseImageConfig(deep);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("nested deeper"), std::string::npos) << c.error().message();
}
