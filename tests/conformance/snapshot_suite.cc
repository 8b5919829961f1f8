// One suite for every snapshotter backend (containerd's snapshots/testsuite idea): overlay and vfs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "db/sqlite.h"
#include "snapshot/snapshotter.h"

namespace berth::snapshot {
namespace {

bool put(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ::close(fd);
  return ok;
}

#define NEEDS_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root (mounts)"

class SnapshotSuite : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    tmp_.emplace(*TempDir::make("/var/tmp/berth-snap-"));
    auto d = db::Database::open(tmp_->path() + "/meta.db");
    ASSERT_TRUE(d) << d.error().message();
    db_.emplace(std::move(*d));
    reopen();
    mnt_ = tmp_->path() + "/mnt";
    mkdir(mnt_.c_str(), 0755);
  }
  void TearDown() override {
    (void)unmountAll(mnt_);
    s_.reset();
    db_.reset();
    tmp_.reset();
  }
  void reopen() {
    s_.reset();
    auto s = open(GetParam(), *db_, tmp_->path() + "/" + GetParam());
    ASSERT_TRUE(s) << s.error().message();
    s_ = std::move(*s);
  }
  // Mounts `key`, runs f on the mount point, unmounts.
  template <typename F>
  void withMount(const std::string& key, F f) {
    auto m = s_->mounts(key);
    ASSERT_TRUE(m) << m.error().message();
    auto r = mountAll(*m, mnt_);
    ASSERT_TRUE(r) << r.error().message();
    f(mnt_);
    ASSERT_TRUE(unmountAll(mnt_));
  }
  void commitLayer(const std::string& name, const std::string& parent,
                   const std::function<void(const std::string&)>& write) {
    ASSERT_TRUE(s_->prepare(name + "-active", parent));
    withMount(name + "-active", write);
    auto c = s_->commit(name, name + "-active");
    ASSERT_TRUE(c) << c.error().message();
  }

  std::optional<TempDir> tmp_;
  std::optional<db::Database> db_;
  std::unique_ptr<Snapshotter> s_;
  std::string mnt_;
};

TEST_P(SnapshotSuite, LayersStackWithChangesAndDeletions) {
  NEEDS_ROOT();
  commitLayer("base", "", [](const std::string& m) {
    ASSERT_TRUE(put(m + "/a", "base-a"));
    ASSERT_TRUE(put(m + "/b", "base-b"));
    mkdir((m + "/dir").c_str(), 0755);
    ASSERT_TRUE(put(m + "/dir/c", "base-c"));
  });
  commitLayer("top", "base", [](const std::string& m) {
    EXPECT_EQ(*readFile(m + "/a"), "base-a");
    ASSERT_TRUE(put(m + "/a", "top-a"));
    ASSERT_EQ(unlink((m + "/b").c_str()), 0);
    ASSERT_TRUE(removeAll(m + "/dir"));
    ASSERT_TRUE(put(m + "/new", "top-new"));
  });
  ASSERT_TRUE(s_->view("look", "top"));
  withMount("look", [](const std::string& m) {
    EXPECT_EQ(*readFile(m + "/a"), "top-a");
    EXPECT_FALSE(pathExists(m + "/b"));
    EXPECT_FALSE(pathExists(m + "/dir"));
    EXPECT_EQ(*readFile(m + "/new"), "top-new");
    EXPECT_FALSE(put(m + "/x", "no")) << "a view is read-only";
  });
  // The lower layer is unchanged.
  ASSERT_TRUE(s_->view("look-base", "base"));
  withMount("look-base", [](const std::string& m) {
    EXPECT_EQ(*readFile(m + "/a"), "base-a");
    EXPECT_EQ(*readFile(m + "/dir/c"), "base-c");
  });
  auto info = s_->stat("top");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->parent, "base");
  EXPECT_EQ(info->kind, Kind::Committed);
  auto u = s_->usage("top");
  ASSERT_TRUE(u);
  EXPECT_GT(u->inodes, 0u);
}

TEST_P(SnapshotSuite, RulesOfTheLifecycle) {
  NEEDS_ROOT();
  commitLayer("base", "", [](const std::string& m) { ASSERT_TRUE(put(m + "/f", "1")); });
  ASSERT_TRUE(s_->prepare("c1", "base", {{"owner", "test"}}));
  auto dup = s_->prepare("c1", "base");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().category(), ErrorCategory::Conflict);
  auto noParent = s_->prepare("c2", "missing");
  ASSERT_FALSE(noParent);
  EXPECT_EQ(noParent.error().category(), ErrorCategory::NotFound);
  auto activeParent = s_->prepare("c3", "c1");
  ASSERT_FALSE(activeParent) << "only committed snapshots can be parents";
  auto busy = s_->remove("base");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().category(), ErrorCategory::Conflict);
  auto clash = s_->commit("base", "c1");
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().category(), ErrorCategory::Conflict);
  EXPECT_EQ(s_->stat("c1")->labels.at("owner"), "test");
  auto all = s_->list();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
  ASSERT_TRUE(s_->remove("c1"));
  ASSERT_TRUE(s_->remove("base"));
  EXPECT_EQ(s_->list()->size(), 0u);
  EXPECT_EQ(s_->stat("base").error().category(), ErrorCategory::NotFound);
}

TEST_P(SnapshotSuite, ActiveSnapshotsSurviveReopenAndOrphansAreRemoved) {
  NEEDS_ROOT();
  commitLayer("base", "", [](const std::string& m) { ASSERT_TRUE(put(m + "/f", "kept")); });
  // What a crash between "directory made" and "row committed" leaves behind.
  std::string orphan = tmp_->path() + "/" + GetParam() + "/snapshots/999";
  ASSERT_TRUE(mkdirAll(orphan + "/fs"));
  reopen();
  EXPECT_FALSE(pathExists(orphan));
  ASSERT_TRUE(s_->view("v", "base"));
  withMount("v", [](const std::string& m) { EXPECT_EQ(*readFile(m + "/f"), "kept"); });
}

TEST_P(SnapshotSuite, ManyLayersMount) {
  NEEDS_ROOT();
  // 130 layers: overlay's lower-dir list exceeds one page with absolute paths and is compacted.
  std::string parent;
  for (int i = 0; i < 130; ++i) {
    std::string name = "l" + std::to_string(i);
    ASSERT_TRUE(s_->prepare(name + "-a", parent));
    auto dir = s_->writableDir(name + "-a");
    ASSERT_TRUE(dir);
    ASSERT_TRUE(put(*dir + "/f" + std::to_string(i), std::to_string(i)));
    ASSERT_TRUE(s_->commit(name, name + "-a"));
    parent = name;
    if (GetParam() == "vfs" && i == 20) break;  // full copies: enough to show the chain works
  }
  ASSERT_TRUE(s_->prepare("top", parent));
  withMount("top", [&](const std::string& m) {
    EXPECT_EQ(*readFile(m + "/f0"), "0");
    EXPECT_TRUE(pathExists(m + "/f20"));
    ASSERT_TRUE(put(m + "/written", "yes"));
  });
}

TEST_P(SnapshotSuite, HardlinksSymlinksAndModesSurviveIntoChildren) {
  NEEDS_ROOT();
  commitLayer("base", "", [](const std::string& m) {
    mkdir((m + "/d").c_str(), 0750);
    ASSERT_TRUE(put(m + "/d/a", "same"));
    ASSERT_EQ(link((m + "/d/a").c_str(), (m + "/d/b").c_str()), 0);
    ASSERT_EQ(link((m + "/d/a").c_str(), (m + "/c").c_str()), 0);
    ASSERT_EQ(symlink("/etc", (m + "/l").c_str()), 0);
  });
  ASSERT_TRUE(s_->prepare("child", "base"));
  withMount("child", [](const std::string& m) {
    struct stat a, b, c, d;
    ASSERT_EQ(stat((m + "/d/a").c_str(), &a), 0);
    ASSERT_EQ(stat((m + "/d/b").c_str(), &b), 0);
    ASSERT_EQ(stat((m + "/c").c_str(), &c), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_ino, c.st_ino);
    EXPECT_EQ(a.st_nlink, 3u);
    ASSERT_EQ(stat((m + "/d").c_str(), &d), 0);
    EXPECT_EQ(d.st_mode & 07777, 0750u);
    char buf[16] = {};
    ASSERT_GT(readlink((m + "/l").c_str(), buf, sizeof buf - 1), 0);
    EXPECT_STREQ(buf, "/etc");
  });
}

TEST_P(SnapshotSuite, RebaseMovesAnUnpackedDiffOntoItsParent) {
  NEEDS_ROOT();
  commitLayer("base", "", [](const std::string& m) { ASSERT_TRUE(put(m + "/from-base", "1")); });
  ASSERT_TRUE(s_->prepare("loose", ""));
  auto dir = s_->writableDir("loose");
  ASSERT_TRUE(dir);
  ASSERT_TRUE(put(*dir + "/from-loose", "2"));
  auto r = s_->rebase("loose", "base");
  if (!s_->storesDiffs()) {
    ASSERT_FALSE(r) << "a full-copy backend cannot rebase";
    EXPECT_EQ(r.error().category(), ErrorCategory::Unavailable);
    return;
  }
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(s_->commit("stacked", "loose"));
  EXPECT_EQ(s_->stat("stacked")->parent, "base");
  ASSERT_TRUE(s_->view("v", "stacked"));
  withMount("v", [](const std::string& m) {
    EXPECT_TRUE(pathExists(m + "/from-base"));
    EXPECT_TRUE(pathExists(m + "/from-loose"));
  });
}

TEST_P(SnapshotSuite, RemovalIsImmediateForTheCallerAndCompletedInTheBackground) {
  NEEDS_ROOT();
  std::string root = tmp_->path() + "/" + GetParam();
  auto names = [](const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return dirEntries(fd.get(), dir);
  };
  commitLayer("base", "", [](const std::string& m) { ASSERT_TRUE(put(m + "/f", "1")); });
  // A container's layer: relaxed commits, as the engine makes them.
  ASSERT_TRUE(s_->prepare("rw", "base", {}, db::Sync::Relaxed));
  withMount("rw", [](const std::string& m) {
    ASSERT_TRUE(mkdirAll(m + "/deep/er/still"));
    ASSERT_TRUE(put(m + "/deep/er/still/x", "y"));
  });
  auto before = names(root + "/snapshots");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->size(), 2u);
  if (GetParam() == "overlay") {
    auto links = names(root + "/l");
    EXPECT_EQ(links->size(), 1u) << "only committed snapshots (lower dirs) get a short link";
  }
  ASSERT_TRUE(s_->remove("rw", db::Sync::Relaxed));
  auto after = names(root + "/snapshots");
  EXPECT_EQ(after->size(), 1u) << "the directory leaves snapshots/ at once";
  bool empty = false;
  for (int i = 0; i < 500 && !empty; ++i) {
    auto t = names(root + "/trash");
    empty = t && t->empty();
    if (!empty) ::usleep(10000);
  }
  EXPECT_TRUE(empty) << "the trash is emptied in the background";
  reopen();  // the relaxed commits are there for the next process
  EXPECT_EQ(s_->stat("rw").error().category(), ErrorCategory::NotFound);
  EXPECT_TRUE(s_->stat("base"));
}

TEST_P(SnapshotSuite, ARecycledLayerDirectoryStartsClean) {
  NEEDS_ROOT();
  commitLayer("base", "", [](const std::string& m) {
    ASSERT_TRUE(put(m + "/keep", "1"));
    ASSERT_TRUE(put(m + "/gone", "2"));
  });
  auto recycled = [&] {
    UniqueFd d(::open((tmp_->path() + "/" + GetParam() + "/recycle").c_str(), O_RDONLY | O_DIRECTORY));
    auto n =
        d ? dirEntries(d.get(), "recycle") : Result<std::vector<std::string>>(std::vector<std::string>{});
    return n ? n->size() : 0u;
  };
  for (int round = 0; round < 3; ++round) {
    std::string key = "rw" + std::to_string(round);
    if (GetParam() == "overlay") {
      EXPECT_EQ(recycled(), round == 0 ? 0u : 1u) << "round " << round;
    }
    ASSERT_TRUE(s_->prepare(key, "base", {}, db::Sync::Relaxed));
    EXPECT_EQ(recycled(), 0u) << "the skeleton is taken";
    withMount(key, [&](const std::string& m) {
      // A fresh layer: the base's files, nothing of the previous round's.
      EXPECT_TRUE(pathExists(m + "/keep"));
      EXPECT_TRUE(pathExists(m + "/gone")) << "round " << round;
      EXPECT_FALSE(pathExists(m + "/written")) << "round " << round;
      struct stat st;
      ASSERT_EQ(::stat(m.c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 07777, 0755u) << "round " << round;
      EXPECT_EQ(st.st_uid, 0u);
      // What a container does to its layer: files, a deletion (a whiteout), its root's mode and owner.
      ASSERT_TRUE(mkdirAll(m + "/written/deep"));
      ASSERT_TRUE(put(m + "/written/deep/f", "x"));
      ASSERT_EQ(::unlink((m + "/gone").c_str()), 0);
      ASSERT_EQ(::chmod(m.c_str(), 0700), 0);
      ASSERT_EQ(::chown(m.c_str(), 5, 5), 0);
    });
    ASSERT_TRUE(s_->remove(key, db::Sync::Relaxed));
    // The emptying runs in the background (a create before it is done makes new directories): wait.
    for (int i = 0; i < 300; ++i) {
      UniqueFd d(::open((tmp_->path() + "/" + GetParam() + "/trash").c_str(), O_RDONLY | O_DIRECTORY));
      auto left = dirEntries(d.get(), "trash");
      if (left && left->empty()) break;
      ::usleep(10000);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, SnapshotSuite, ::testing::Values("overlay", "vfs"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace berth::snapshot
