// vfs backend: every snapshot is a full copy of its parent (works on any filesystem; slow, simple).
#include <sys/stat.h>

#include "base/file.h"
#include "snapshot/base.h"
#include "snapshot/copy.h"

namespace berth::snapshot {
namespace {

class Vfs final : public Base {
 public:
  Vfs(db::Database& db, std::string root) : Base(db, std::move(root)) {}
  const char* name() const override { return "vfs"; }
  bool storesDiffs() const override { return false; }
  Result<void> start() { return init(); }

 protected:
  Result<void> createDirs(const std::string& dir, int64_t, Kind, const std::vector<Row>& chain) override {
    if (::mkdir((dir + "/fs").c_str(), 0755) < 0) return sysFail("mkdir " + dir + "/fs");
    if (!chain.empty()) TRYV(copyTree(dataDir(chain.front().id), dir + "/fs"));
    return {};
  }
  std::vector<Mount> mountsFor(const Row& self, const std::vector<Row>&) override {
    return {{"bind", dataDir(self.id), {"rbind", self.info.kind == Kind::Active ? "rw" : "ro"}}};
  }
};

}  // namespace

Result<std::unique_ptr<Snapshotter>> openVfs(db::Database& db, const std::string& root) {
  TRYV(mkdirAll(root, 0700));
  auto s = std::make_unique<Vfs>(db, root);
  TRYV_CTX(s->start(), "opening the vfs snapshotter at " + root);
  return std::unique_ptr<Snapshotter>(std::move(s));
}

}  // namespace berth::snapshot
