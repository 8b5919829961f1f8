// overlay backend: snapshots/<id>/fs holds a snapshot's own changes (the upper dir while active, a lower
// dir once committed); l/<26 chars> links to it, so that a lower-dir list stays short (docker's overlay2).
// Only committed snapshots are lower dirs, so the link is made at commit: a container's writable layer
// (active for its whole life) never needs one, and its creation writes and syncs nothing here.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "base/fd.h"
#include "base/file.h"
#include "base/random_id.h"
#include "snapshot/base.h"

namespace berth::snapshot {
namespace {

std::string randomLinkId() {
  return randomString<26>("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
}

class Overlay final : public Base {
 public:
  Overlay(db::Database& db, std::string root) : Base(db, std::move(root)) {}
  const char* name() const override { return "overlay"; }
  bool storesDiffs() const override { return true; }

  Result<void> start() {
    TRYV(mkdirAll(root_ + "/l", 0700));
    TRYV(init());
    // Skeletons an earlier process left (clean or half emptied): deleted, the pool starts empty.
    TRYV(mkdirAll(recycleDir(), 0700));
    {
      UniqueFd d(::open(recycleDir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!d) return sysFail("opening " + recycleDir());
      TRY(auto left, dirEntries(d.get(), recycleDir()));
      for (auto& n : left) TRYV(trash_->discard(recycleDir() + "/" + n));
    }
    // Links whose snapshot is gone (a crash between the row and the link).
    DIR* d = ::opendir((root_ + "/l").c_str());
    if (!d) return sysFail("opening " + root_ + "/l");
    std::vector<std::string> dangling;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, 0) < 0 && errno == ENOENT) dangling.emplace_back(e->d_name);
    }
    ::closedir(d);
    for (auto& l : dangling) ::unlink((root_ + "/l/" + l).c_str());
    return {};
  }

 protected:
  Result<void> createDirs(const std::string& dir, int64_t, Kind, const std::vector<Row>&) override {
    if (::mkdir((dir + "/fs").c_str(), 0755) < 0) return sysFail("mkdir " + dir + "/fs");
    if (::mkdir((dir + "/work").c_str(), 0700) < 0) return sysFail("mkdir " + dir + "/work");
    return {};
  }

  // A container's layer is made and removed with every `run --rm`: its directory skeleton (the snapshot
  // directory, fs/ and work/, emptied) is reused rather than deleted and made again (see Trash::recycle).
  Result<void> makeDirs(const std::string& dir, int64_t id, Kind kind,
                        const std::vector<Row>& chain) override {
    if (kind == Kind::Active)
      for (auto& n : recycled())
        if (::rename((recycleDir() + "/" + n).c_str(), dir.c_str()) == 0) return {};
    return Base::makeDirs(dir, id, kind, chain);
  }

  Result<void> dispose(int64_t id, Kind kind) override {
    // Up to about 8 kept (skeletons still being emptied are not counted yet).
    if (kind != Kind::Active || recycled().size() >= 8) return Base::dispose(id, kind);
    return trash_->recycle(dirOf(id),
                           recycleDir() + "/" + std::to_string(id) + "-" + std::to_string(++recycleSeq_),
                           {{"fs", 0755}, {"work", 0700}});
  }

  Result<void> committing(int64_t id) override {
    std::string dir = dirOf(id);
    if (auto old = readFile(dir + "/link"); old && !trim(*old).empty()) return {};  // made by an older berth
    for (int attempt = 0;; ++attempt) {
      std::string link = randomLinkId();
      if (::symlink(("../snapshots/" + std::to_string(id) + "/fs").c_str(), (root_ + "/l/" + link).c_str()) ==
          0) {
        return writeFileAtomic(dir + "/link", link, 0600);
      }
      if (errno != EEXIST || attempt > 8)
        return sysFail("creating the short link for snapshot " + std::to_string(id));
    }
  }

  std::string recycleDir() const { return root_ + "/recycle"; }
  // The emptied skeletons ready in recycleDir() (the directory is the count: an emptying that failed
  // left nothing there).
  std::vector<std::string> recycled() const {
    UniqueFd d(::open(recycleDir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) return {};
    auto names = dirEntries(d.get(), recycleDir());
    return names ? std::move(*names) : std::vector<std::string>{};
  }
  std::atomic<uint64_t> recycleSeq_{0};

  std::vector<Mount> mountsFor(const Row& self, const std::vector<Row>& chain) override {
    std::string fs = dataDir(self.id);
    if (chain.empty()) return {{"bind", fs, {"rbind", self.info.kind == Kind::View ? "ro" : "rw"}}};
    if (self.info.kind == Kind::View && chain.size() == 1)
      return {{"bind", dataDir(chain[0].id), {"rbind", "ro"}}};
    std::string lower;
    for (auto& p : chain) {
      if (!lower.empty()) lower += ':';
      lower += root_ + "/l/" + linkOf(p.id);
    }
    if (self.info.kind == Kind::View) return {{"overlay", "overlay", {"ro", "lowerdir=" + lower}}};
    return {{"overlay",
             "overlay",
             {"lowerdir=" + lower, "upperdir=" + fs, "workdir=" + dirOf(self.id) + "/work"}}};
  }

  void forget(int64_t id) override {
    auto link = readFile(dirOf(id) + "/link");
    if (link && !trim(*link).empty() && trim(*link).find('/') == std::string::npos)
      ::unlink((root_ + "/l/" + trim(*link)).c_str());
  }

 private:
  std::string linkOf(int64_t id) const {
    auto link = readFile(dirOf(id) + "/link");
    return link ? trim(*link) : std::string("missing-link-" + std::to_string(id));
  }
};

}  // namespace

Result<std::unique_ptr<Snapshotter>> openOverlay(db::Database& db, const std::string& root) {
  TRYV(mkdirAll(root, 0700));
  auto s = std::make_unique<Overlay>(db, root);
  TRYV_CTX(s->start(), "opening the overlay snapshotter at " + root);
  return std::unique_ptr<Snapshotter>(std::move(s));
}

}  // namespace berth::snapshot
