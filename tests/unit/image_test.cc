#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "../common/tar_builder.h"
#include "base/file.h"
#include "image/content_store.h"
#include "image/reference.h"
#include "image/runspec.h"
#include "image/service.h"

#include <nlohmann/json.hpp>

namespace berth::image {
namespace {

using nlohmann::json;

TEST(Digest, ParseAndHash) {
  auto empty = Sha256::of("");
  EXPECT_EQ(empty.str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_TRUE(Digest::parse(empty.str()));
  EXPECT_FALSE(Digest::parse("sha256:abc"));
  EXPECT_FALSE(Digest::parse("md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  EXPECT_FALSE(Digest::parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
  EXPECT_FALSE(Digest::parse("sha256:../../../../etc/passwd0000000000000000000000000000000000000000000"));
}

struct Case {
  const char* in;
  const char* full;
  const char* familiar;
};

TEST(Reference, NormalisesLikeDocker) {
  Case cases[] = {
      {"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
      {"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
      {"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
      {"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
      {"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
      {"user/app:v1", "docker.io/user/app:v1", "user/app:v1"},
      {"localhost:5000/x:tag", "localhost:5000/x:tag", "localhost:5000/x:tag"},
      {"localhost/x", "localhost/x:latest", "localhost/x:latest"},
      {"registry.example.com/a/b/c", "registry.example.com/a/b/c:latest",
       "registry.example.com/a/b/c:latest"},
      {"my_app.v2-x", "docker.io/library/my_app.v2-x:latest", "my_app.v2-x:latest"},
  };
  for (auto& c : cases) {
    auto r = parseReference(c.in);
    ASSERT_TRUE(r) << c.in << ": " << r.error().message();
    EXPECT_EQ(r->str(), c.full) << c.in;
    EXPECT_EQ(r->familiar(), c.familiar) << c.in;
  }
  std::string d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  auto pinned = parseReference("busybox@" + d);
  ASSERT_TRUE(pinned);
  EXPECT_EQ(pinned->str(), "docker.io/library/busybox@" + d);
  EXPECT_TRUE(pinned->tag.empty());
  auto both = parseReference("busybox:1@" + d);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->tag, "1");
}

TEST(Reference, RefusesBadNames) {
  std::vector<std::string> bads = {"",
                                   "Busybox",
                                   "busy box",
                                   "busybox:",
                                   ":tag",
                                   "a//b",
                                   "-a",
                                   "a-",
                                   "a..b",
                                   "x:bad/tag",
                                   "/busybox",
                                   "busybox@sha256:123",
                                   "busybox:" + std::string(129, 'a')};
  for (auto& bad : bads) {
    auto r = parseReference(bad);
    EXPECT_FALSE(r) << "accepted \"" << bad << "\"";
    if (!r) {
      EXPECT_NE(r.error().message().find("invalid reference format"), std::string::npos);
    }
  }
}

TEST(ContentStore, PutVerifyAndRefuseMismatches) {
  auto dir = TempDir::make();
  auto cs = ContentStore::open(dir->path() + "/content");
  ASSERT_TRUE(cs);
  auto d = cs->put("hello");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->str(), Sha256::of("hello").str());
  EXPECT_TRUE(cs->has(*d));
  EXPECT_EQ(*cs->read(*d), "hello");
  EXPECT_EQ(*cs->size(*d), 5u);
  EXPECT_TRUE(cs->verify(*d));
  // A wrong expected digest or size is refused and leaves nothing behind.
  auto wrong = cs->put("world", *d);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("digest mismatch"), std::string::npos);
  EXPECT_FALSE(cs->has(Sha256::of("world")));
  auto w = cs->writer();
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->write("abc", 3));
  EXPECT_FALSE(w->commit(std::nullopt, 4));
  EXPECT_EQ(cs->list()->size(), 1u);
  // Corruption on disk is detected.
  ASSERT_TRUE(writeFileAtomic(cs->blobPath(*d), "hellO"));
  EXPECT_FALSE(cs->verify(*d));
  ASSERT_TRUE(cs->remove(*d));
  EXPECT_FALSE(cs->has(*d));
  EXPECT_EQ(cs->read(*d).error().category(), ErrorCategory::NotFound);
}

// An image by tag, by full ID, by an ID prefix with or without "sha256:"; a prefix two IDs share is
// ambiguous; an ID prefix wins over a name; what matches nothing is NotFound.
TEST(ImageService, ResolvesByNameIdAndPrefix) {
  auto dir = TempDir::make();
  auto svc = ImageService::open({dir->path() + "/root", "vfs"});
  ASSERT_TRUE(svc) << svc.error().message();
  std::map<std::string, std::string> byId;  // hex ID -> tag
  for (int i = 0; i < 17; ++i) {            // 17 IDs: two of them share their first hex digit
    std::string tar = dir->path() + "/l" + std::to_string(i) + ".tar";
    ASSERT_TRUE(writeFileAtomic(tar, test::TarBuilder().file("f", "layer " + std::to_string(i)).finish()));
    int fd = ::open(tar.c_str(), O_RDONLY | O_CLOEXEC);
    ImportOptions o;
    o.reference = "img" + std::to_string(i) + ":v1";
    auto id = (*svc)->import(fd, o);
    ::close(fd);
    ASSERT_TRUE(id) << id.error().message();
    byId[id->hex()] = "docker.io/library/" + o.reference;
  }
  for (auto& [hex, tag] : byId) {
    auto byTag = (*svc)->resolve(tag.substr(tag.rfind('/') + 1));
    ASSERT_TRUE(byTag) << byTag.error().message();
    EXPECT_EQ(byTag->id.hex(), hex);
    EXPECT_EQ(byTag->tags, std::vector<std::string>{tag});
    EXPECT_EQ(byTag->layers.size(), 1u);
    EXPECT_EQ((*svc)->resolve("sha256:" + hex)->id.hex(), hex);
    EXPECT_EQ((*svc)->resolve(hex.substr(0, 12))->id.hex(), hex);
  }
  // Two IDs with the same first digit (the map is sorted: neighbours).
  std::string shared;
  for (auto it = byId.begin(); std::next(it) != byId.end(); ++it)
    if (it->first[0] == std::next(it)->first[0]) shared = it->first.substr(0, 1);
  ASSERT_FALSE(shared.empty());
  auto amb = (*svc)->resolve(shared);
  ASSERT_FALSE(amb);
  EXPECT_NE(amb.error().message().find("ambiguous"), std::string::npos);
  // A name that is also an ID prefix: the ID wins, as before.
  std::string firstHex = byId.begin()->first.substr(0, 10);
  ASSERT_TRUE((*svc)->tag(byId.rbegin()->second, firstHex));
  EXPECT_EQ((*svc)->resolve(firstHex)->id.hex(), byId.begin()->first);
  EXPECT_EQ((*svc)->resolve("nosuch:latest").error().category(), ErrorCategory::NotFound);
  EXPECT_EQ((*svc)->resolve("abcdefabcdef").error().category(), ErrorCategory::NotFound);
}

// The service is used from several threads at once: imports on four threads (the first two tarballs of each
// have the same content on every thread, so several commit one layer at a time), an image whose layer one
// of them shares imported and removed over and over, and lookups and containers' layers meanwhile. Every
// operation succeeds, every reference resolves, each content is one layer, and no unpack is left behind.
TEST(ImageService, ConcurrentImportsLookupsAndRemovals) {
  auto dir = TempDir::make();
  // overlay (as root) unpacks while the tarball streams in; vfs unpacks after it is stored.
  std::string driver = ::geteuid() == 0 ? "overlay" : "vfs";
  auto opened = ImageService::open({dir->path() + "/root", driver});
  ASSERT_TRUE(opened) << opened.error().message();
  ImageService& s = **opened;
  auto tarOf = [&](const std::string& name, const std::string& content) {
    std::string path = dir->path() + "/" + name + ".tar";
    EXPECT_TRUE(writeFileAtomic(path, test::TarBuilder().file("f", content).finish()));
    return path;
  };
  auto importOf = [&](const std::string& path, const std::string& ref) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ImportOptions o;
    o.reference = ref;
    auto id = s.import(fd, o);
    ::close(fd);
    return id;
  };
  ASSERT_TRUE(importOf(tarOf("base", "base"), "base:v1"));
  constexpr int kThreads = 4, kEach = 6;
  std::vector<std::vector<std::string>> tars(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i)
      tars[t].push_back(tarOf(
          "t" + std::to_string(t) + "-" + std::to_string(i),
          i < 2 ? "shared " + std::to_string(i) : "own " + std::to_string(t) + " " + std::to_string(i)));
  std::string victim = tarOf("victim", "shared 0");

  std::mutex errMu;
  std::vector<std::string> errors;
  auto record = [&](const std::string& what, const Error& e) {
    std::lock_guard l(errMu);
    errors.push_back(what + ": " + e.message());
  };
  std::atomic<bool> done{false};
  std::vector<std::thread> importers;
  for (int t = 0; t < kThreads; ++t)
    importers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string ref = "t" + std::to_string(t) + "-" + std::to_string(i) + ":v1";
        if (auto id = importOf(tars[t][i], ref); !id) record("import " + ref, id.error());
      }
    });
  std::thread reader([&] {
    while (!done) {
      if (auto l = s.list(); !l) record("list", l.error());
      if (auto r = s.resolve("base:v1"); !r) record("resolve", r.error());
    }
  });
  std::thread creator([&] {
    for (int n = 0; !done; ++n) {
      std::string key = "container-c" + std::to_string(n);
      auto p = s.prepareContainer("base:v1", key, {}, db::Sync::Relaxed);
      if (!p)
        record("prepare " + key, p.error());
      else if (auto r = s.snapshotter().remove(key); !r)
        record("remove " + key, r.error());
    }
  });
  std::thread remover([&] {
    while (!done) {
      if (auto id = importOf(victim, "victim:v1"); !id) record("import victim", id.error());
      if (auto r = s.remove("victim:v1", false, nullptr); !r) record("rmi victim", r.error());
    }
  });
  for (auto& t : importers) t.join();
  done = true;
  reader.join();
  creator.join();
  remover.join();
  for (auto& e : errors) ADD_FAILURE() << e;

  std::set<std::string> layers;
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) {
      std::string ref = "t" + std::to_string(t) + "-" + std::to_string(i) + ":v1";
      auto img = s.resolve(ref);
      ASSERT_TRUE(img) << ref << ": " << img.error().message();
      ASSERT_EQ(img->layers.size(), 1u);
      layers.insert(img->layers[0].chainId.str());
    }
  EXPECT_EQ(layers.size(), size_t(2 + kThreads * (kEach - 2)));
  auto snaps = s.snapshotter().list();
  ASSERT_TRUE(snaps) << snaps.error().message();
  size_t committed = 0;
  for (auto& i : *snaps) {
    EXPECT_EQ(i.kind, snapshot::Kind::Committed) << "left behind: " << i.key;
    if (i.kind == snapshot::Kind::Committed) ++committed;
  }
  EXPECT_EQ(committed, layers.size() + 1) << "one layer per content (and the base image's)";
  auto all = s.list();
  ASSERT_TRUE(all);
  for (auto& img : *all) ASSERT_TRUE(s.remove(img.id.str(), true, nullptr)) << img.id.str();
  EXPECT_TRUE(s.list()->empty());
  EXPECT_TRUE(s.snapshotter().list()->empty()) << "every layer goes with the last image";
}

TEST(ContentStore, CrashMidWriteLeavesNoBlob) {
  auto dir = TempDir::make();
  std::string root = dir->path() + "/content";
  // A real crash: a child process writes half a blob and dies without committing or cleaning up.
  pid_t pid = fork();
  if (pid == 0) {
    auto cs = ContentStore::open(root);
    auto w = cs->writer();
    (void)w->write("partial", 7);
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  auto cs = ContentStore::open(root);  // cleans ingest/
  EXPECT_TRUE(cs->list()->empty());
  EXPECT_FALSE(cs->has(Sha256::of("partial")));
}

TEST(RunSpec, DefaultSeccompProfileFollowsTheCapabilities) {
  auto tmp = *TempDir::make("/tmp/berth-spec-");
  ImageConfig img;
  img.config.cmd = {"true"};
  RunOptions o;
  o.id = std::string(64, 'a');
  auto names = [](const json& cfg) {
    std::set<std::string> allowed;
    for (auto& r : cfg["linux"]["seccomp"]["syscalls"])
      if (r["action"] == "SCMP_ACT_ALLOW")
        for (auto& n : r["names"]) allowed.insert(n.get<std::string>());
    return allowed;
  };
  auto first = makeRuntimeConfig(img, o, tmp.path());
  ASSERT_TRUE(first) << first.error().message();
  auto again = makeRuntimeConfig(img, o, tmp.path());
  ASSERT_TRUE(again);
  EXPECT_EQ(*first, *again) << "the cached profile prints the same config";
  json plain = json::parse(*first);
  EXPECT_EQ(plain["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_TRUE(names(plain).count("read"));
  EXPECT_FALSE(names(plain).count("mount")) << "docker's profile: mount needs CAP_SYS_ADMIN";
  // A user's label (or variable) that reads like the config's placeholder for the profile changes nothing.
  o.labels = {{"x", "berth:default-seccomp-profile"}};
  o.env = {"Y=berth:default-seccomp-profile"};
  auto forged = makeRuntimeConfig(img, o, tmp.path());
  ASSERT_TRUE(forged) << forged.error().message();
  json fj = json::parse(*forged);
  EXPECT_EQ(fj["annotations"]["x"], "berth:default-seccomp-profile");
  EXPECT_EQ(fj["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(names(fj), names(plain));
  o.labels.clear();
  o.env.clear();
  o.capAdd = {"SYS_ADMIN"};
  auto admin = makeRuntimeConfig(img, o, tmp.path());
  ASSERT_TRUE(admin);
  EXPECT_TRUE(names(json::parse(*admin)).count("mount")) << "a profile of its own for another capability set";
  o.capAdd.clear();
  o.seccomp = "unconfined";
  auto open = makeRuntimeConfig(img, o, tmp.path());
  ASSERT_TRUE(open);
  EXPECT_FALSE(json::parse(*open)["linux"].contains("seccomp"));
}

}  // namespace
}  // namespace berth::image
