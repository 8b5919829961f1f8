#include "image/unpack.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../common/tar_builder.h"
#include "base/fd.h"
#include "base/file.h"

namespace berth::image {
namespace {

using test::TarBuilder;

UniqueFd memFd(const std::string& data) {
  UniqueFd fd(memfd_create("layer", MFD_CLOEXEC));
  EXPECT_EQ(write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

Result<UnpackStats> unpack(const std::string& tar, const std::string& dir, UnpackOptions o = {}) {
  if (geteuid() != 0) o.chown = false;
  auto fd = memFd(tar);
  return unpackLayer(fd.get(), dir, o);
}

struct Dirs {
  TempDir tmp = *TempDir::make("/tmp/berth-unpack-");
  std::string target() const { return tmp.path() + "/layer"; }
  std::string outside() const { return tmp.path() + "/outside"; }
  Dirs() {
    mkdir(target().c_str(), 0755);
    mkdir(outside().c_str(), 0755);
  }
};

bool isEmptyDir(const std::string& d) {
  auto out = readFile(d);  // EISDIR; use stat link count instead
  struct stat st;
  return stat(d.c_str(), &st) == 0 && st.st_nlink == 2;
}

TEST(Unpack, FilesDirsLinksAndDiffIdForEveryCompression) {
  Dirs d;
  auto build = [](TarBuilder::Compression c) {
    std::string plain = TarBuilder()
                            .dir("./", 0755)
                            .dir("etc", 0755)
                            .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644)
                            .file("bin/tool", "#!/bin/sh\necho hi\n", 04755)
                            .symlink("bin/sh", "/bin/busybox")
                            .hardlink("bin/tool2", "bin/tool")
                            .finish();
    return c == TarBuilder::Compression::None ? plain : TarBuilder::compress(plain, c);
  };
  std::string plain = build(TarBuilder::Compression::None);
  auto r = unpack(plain, d.target());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->diffId, Sha256::of(plain));
  EXPECT_EQ(r->tarSize, plain.size());
  EXPECT_EQ(r->entries, 6u);
  EXPECT_EQ(*readFile(d.target() + "/etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  struct stat st;
  ASSERT_EQ(stat((d.target() + "/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, geteuid() == 0 ? 04755u : 04755u & 07777);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
  ASSERT_EQ(stat((d.target() + "/bin").c_str(), &st), 0);  // made for the tar (no entry): 0755
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(stat((d.target() + "/etc").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000000) << "directory times are set after their contents";
  char buf[64] = {};
  ASSERT_GT(readlink((d.target() + "/bin/sh").c_str(), buf, sizeof buf - 1), 0);
  EXPECT_STREQ(buf, "/bin/busybox");

  for (auto c : {TarBuilder::Compression::Gzip, TarBuilder::Compression::Zstd}) {
    Dirs d2;
    auto r2 = unpack(build(c), d2.target());
    ASSERT_TRUE(r2) << r2.error().message();
    EXPECT_EQ(r2->diffId, r->diffId) << "the DiffID is the digest of the uncompressed stream";
    EXPECT_EQ(*readFile(d2.target() + "/bin/tool2"), "#!/bin/sh\necho hi\n");
  }
}

TEST(Unpack, OwnershipXattrsAndDevices) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (chown, mknod, trusted xattrs)";
  Dirs d;
  auto tar =
      TarBuilder()
          .file("owned", "x", 0600, 1000, 1001, {{"user.note", "hello"}, {"trusted.overlay.opaque", "y"}})
          .device("dev/null", AE_IFCHR, 1, 3)
          .finish();
  auto r = unpack(tar, d.target());
  ASSERT_TRUE(r) << r.error().message();
  struct stat st;
  ASSERT_EQ(stat((d.target() + "/owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  char v[16] = {};
  EXPECT_EQ(getxattr((d.target() + "/owned").c_str(), "user.note", v, sizeof v), 5);
  EXPECT_LT(getxattr((d.target() + "/owned").c_str(), "trusted.overlay.opaque", v, sizeof v), 0)
      << "overlayfs instructions are never taken from a tar";
  ASSERT_EQ(lstat((d.target() + "/dev/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
}

TEST(Unpack, OverlayWhiteouts) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (whiteouts are 0/0 device nodes)";
  Dirs d;
  auto tar =
      TarBuilder().dir("etc").file("etc/.wh.gone", "").dir("var").file("var/.wh..wh..opq", "").finish();
  auto r = unpack(tar, d.target());
  ASSERT_TRUE(r) << r.error().message();
  struct stat st;
  ASSERT_EQ(lstat((d.target() + "/etc/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char v[4] = {};
  EXPECT_EQ(getxattr((d.target() + "/var").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
}

TEST(Unpack, AppliedWhiteoutsDeleteFromTheParentCopy) {
  Dirs d;
  auto base = TarBuilder()
                  .file("etc/keep", "1")
                  .file("etc/gone", "2")
                  .file("var/old1", "3")
                  .file("var/sub/old2", "4")
                  .finish();
  ASSERT_TRUE(unpack(base, d.target()));
  auto upper = TarBuilder()
                   .file("etc/.wh.gone", "")
                   .dir("var")
                   .file("var/.wh..wh..opq", "")
                   .file("var/new", "5")
                   .finish();
  UnpackOptions o;
  o.whiteouts = Whiteouts::Apply;
  auto r = unpack(upper, d.target(), o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(pathExists(d.target() + "/etc/keep"));
  EXPECT_FALSE(pathExists(d.target() + "/etc/gone"));
  EXPECT_FALSE(pathExists(d.target() + "/var/old1"));
  EXPECT_FALSE(pathExists(d.target() + "/var/sub"));
  EXPECT_EQ(*readFile(d.target() + "/var/new"), "5");
}

TEST(Unpack, LaterEntriesWinAsInTarOrder) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (overlay whiteouts)";
  Dirs d;
  TarBuilder t;
  t.dir("many");
  for (int i = 0; i < 500; ++i) t.file("many/f" + std::to_string(i), std::string(i * 7, 'x'), 0640);
  t.file("dup", "first").file("dup", "second");            // a later entry of the same name wins
  t.file("linked", "data").hardlink("linked2", "linked");  // a hardlink to an earlier file
  t.file("gone", "x").file(".wh.gone", "");                // whited out later in the same layer
  t.file("becomes-dir", "x").dir("becomes-dir");           // a directory replaces a file
  t.file("becomes-dir/inside", "y");
  t.file("setuid", "s", 04755);  // not an exact mode: chmod after create
  auto r = unpack(t.finish(), d.target());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*readFile(d.target() + "/many/f499"), std::string(499 * 7, 'x'));
  struct stat st;
  ASSERT_EQ(stat((d.target() + "/many/f3").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
  ASSERT_EQ(stat((d.target() + "/many").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000000) << "directory times are set after their files";
  EXPECT_EQ(*readFile(d.target() + "/dup"), "second");
  ASSERT_EQ(stat((d.target() + "/linked2").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  ASSERT_EQ(lstat((d.target() + "/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the whiteout replaced the file";
  EXPECT_EQ(*readFile(d.target() + "/becomes-dir/inside"), "y");
  ASSERT_EQ(stat((d.target() + "/setuid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
}

TEST(Unpack, DetectsCompressionAndTarFromTheFirstBytes) {
  std::string plain = TarBuilder().file("a", "x").finish();
  EXPECT_EQ(detectCompression(plain.data(), plain.size()), Compression::None);
  EXPECT_TRUE(startsLikeTar(plain.data(), plain.size()));
  auto gz = TarBuilder::compress(plain, TarBuilder::Compression::Gzip);
  auto zst = TarBuilder::compress(plain, TarBuilder::Compression::Zstd);
  EXPECT_EQ(detectCompression(gz.data(), gz.size()), Compression::Gzip);
  EXPECT_EQ(detectCompression(zst.data(), zst.size()), Compression::Zstd);
  EXPECT_FALSE(startsLikeTar(gz.data(), gz.size()));
  EXPECT_EQ(detectCompression("\xfd"
                              "7zXZ\0",
                              6),
            Compression::Xz);
  EXPECT_EQ(detectCompression("BZh9", 4), Compression::Bzip2);
  EXPECT_EQ(detectCompression("", 0), Compression::None);
}

struct Hostile {
  const char* name;
  std::string tar;
  const char* expect;
};

TEST(Unpack, HostileTarsAreRefusedAndNothingLandsOutside) {
  Dirs d;
  std::string out = d.outside();
  std::vector<Hostile> cases = {
      {"absolute path", TarBuilder().file("/tmp/pwned", "x").finish(), "absolute"},
      {"dot-dot", TarBuilder().file("a/../../outside/pwned", "x").finish(), "\"..\""},
      {"symlinked parent", TarBuilder().symlink("evil", out).file("evil/pwned", "x").finish(), "symlink"},
      {"relative symlinked parent",
       TarBuilder().symlink("evil", "../outside").file("evil/pwned", "x").finish(), "symlink"},
      {"symlinked grandparent", TarBuilder().symlink("evil", out).file("evil/a/b/pwned", "x").finish(),
       "symlink"},
      {"hardlink outside", TarBuilder().hardlink("pwned", "../outside/x").finish(), "\"..\""},
      {"hardlink absolute", TarBuilder().hardlink("pwned", "/etc/passwd").finish(), "absolute"},
      {"hardlink through symlink",
       TarBuilder().symlink("evil", "/etc").hardlink("pwned", "evil/passwd").finish(), "symlink"},
      {"hardlink to nothing", TarBuilder().hardlink("pwned", "missing").finish(), "does not contain"},
      {"absurd size", TarBuilder::withDeclaredSize(TarBuilder().file("big", "x").finish(), 1ULL << 50),
       "exceeds"},
  };
  for (auto& c : cases) {
    Dirs fresh;
    auto r = unpack(c.tar, fresh.target());
    ASSERT_FALSE(r) << c.name << " was accepted";
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos) << c.name << ": " << r.error().message();
    EXPECT_EQ(r.error().category(), ErrorCategory::InvalidArgument) << c.name;
  }
  EXPECT_TRUE(isEmptyDir(out));
  EXPECT_FALSE(pathExists("/tmp/pwned"));
}

TEST(Unpack, CorruptAndTruncatedStreamsFail) {
  Dirs d;
  std::string gz = TarBuilder::compress(TarBuilder().file("a", std::string(100000, 'a')).finish(),
                                        TarBuilder::Compression::Gzip);
  std::string corrupt = gz;
  for (size_t i = 40; i < 80 && i < corrupt.size(); ++i) corrupt[i] ^= 0x5a;
  EXPECT_FALSE(unpack(corrupt, d.target()));
  Dirs d2;
  EXPECT_FALSE(unpack(gz.substr(0, gz.size() / 2), d2.target()));
  Dirs d3;
  std::string plain = TarBuilder().file("a", std::string(100000, 'a')).finish();
  EXPECT_FALSE(unpack(plain.substr(0, 50000), d3.target()));
  Dirs d4;
  UnpackOptions small;
  small.maxTotalSize = 20000;
  auto r = unpack(plain, d4.target(), small);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("exceeds"), std::string::npos) << r.error().message();
}

}  // namespace

// Found by fuzz_unpack (crash-6c869eb0): a gzip stream libarchive gives up on without a message; the error
// text was built from a NULL archive_error_string (a segfault in berthd's load).
TEST(Unpack, ArchiveErrorsWithoutAMessage) {
  static const unsigned char kInput[] = {
      0x1f, 0x8b, 0x08, 0x00, 0xeb, 0x23, 0x10, 0x6b, 0x02, 0xff, 0xed, 0xd6, 0xb1, 0x0e, 0x82, 0x30,
      0x10, 0xc6, 0xf1, 0x9b, 0x7d, 0x8a, 0x1a, 0x77, 0x68, 0x09, 0xb5, 0xcf, 0x03, 0x4a, 0x02, 0x91,
      0x80, 0x02, 0xea, 0xeb, 0x5b, 0x3b, 0x12, 0x17, 0x86, 0x22, 0x09, 0xff, 0x5f, 0xd2, 0xb4, 0x5b,
      0x87, 0xaf, 0x77, 0xbd, 0xb2, 0xe9, 0x52, 0x89, 0x4c, 0x7b, 0xce, 0xda, 0xb0, 0x7b, 0xf3, 0xfd,
      0xc7, 0xf9, 0x6c, 0x8d, 0x15, 0x65, 0x65, 0x05, 0xcf, 0x71, 0x2a, 0x06, 0x7f, 0xa5, 0xec, 0x53,
      0xe9, 0xf3, 0x1f, 0xeb, 0x3f, 0xe7, 0x6f, 0xf2, 0x59, 0xfe, 0x4e, 0x5b, 0x2d, 0x4a, 0x93, 0x7f,
      0x74, 0xa7, 0x63, 0xfa, 0x7d, 0x02, 0xd3, 0xf0, 0xac, 0x0e, 0x82, 0x5d, 0xd6, 0x7f, 0x11, 0xb9,
      0x01, 0x2c, 0xef, 0xff, 0xce, 0xe6, 0x46, 0x54, 0x16, 0xbb, 0x31, 0x51, 0xff, 0x21, 0xff, 0xb6,
      0xe9, 0x6e, 0x9b, 0xca, 0xdf, 0xe8, 0xdc, 0x65, 0xa2, 0xcc, 0x1a, 0x9f, 0xd3, 0xce, 0xf3, 0xaf,
      0xa6, 0x4b, 0x9a, 0xbc, 0xeb, 0xa4, 0x6f, 0xaf, 0x5b, 0xaa, 0x7f, 0x3f, 0x00, 0xf0, 0xff, 0xaf,
      0xe1, 0x55, 0x0c, 0x80, 0x21, 0xff, 0xb0, 0xfa, 0xfb, 0x63, 0x23, 0xf5, 0x6f, 0xfd, 0x48, 0x48,
      0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x1f, 0x91, 0xc0, 0x42, 0x00, 0x23,
      0x00, 0x00, 0x00, 0xc0, 0x42, 0x1f, 0x54, 0x75, 0x97, 0x00, 0x28, 0x00, 0x00};
  Dirs d;
  std::string tar(reinterpret_cast<const char*>(kInput), sizeof kInput);
  auto r = unpack(tar, d.target());
  EXPECT_FALSE(r);
}

}  // namespace berth::image
