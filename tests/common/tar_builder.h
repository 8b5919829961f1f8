// Builds tar streams (plain, gzip or zstd) in memory for tests, including hostile ones.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <map>
#include <stdexcept>
#include <string>

namespace berth::test {

class TarBuilder {
 public:
  enum class Compression { None, Gzip, Zstd };
  explicit TarBuilder(Compression c = Compression::None) {
    a_ = archive_write_new();
    archive_write_set_format_pax_restricted(a_);
    if (c == Compression::Gzip) archive_write_add_filter_gzip(a_);
    if (c == Compression::Zstd) archive_write_add_filter_zstd(a_);
    archive_write_set_bytes_per_block(a_, 10240);
    archive_write_open(a_, this, nullptr, &TarBuilder::writeCb, nullptr);
  }
  ~TarBuilder() {
    if (a_) archive_write_free(a_);
  }
  TarBuilder& dir(const std::string& path, mode_t mode = 0755, uid_t uid = 0, gid_t gid = 0) {
    return add(path, AE_IFDIR, mode, "", "", "", uid, gid);
  }
  TarBuilder& file(const std::string& path, const std::string& data, mode_t mode = 0644, uid_t uid = 0,
                   gid_t gid = 0, std::map<std::string, std::string> xattrs = {}) {
    return add(path, AE_IFREG, mode, data, "", "", uid, gid, xattrs);
  }
  TarBuilder& symlink(const std::string& path, const std::string& target) {
    return add(path, AE_IFLNK, 0777, "", target, "");
  }
  TarBuilder& hardlink(const std::string& path, const std::string& target) {
    return add(path, AE_IFREG, 0644, "", "", target);
  }
  TarBuilder& device(const std::string& path, mode_t type, unsigned major, unsigned minor) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_rdevmajor(e, major);
    archive_entry_set_rdevminor(e, minor);
    archive_entry_set_mtime(e, 1700000000, 0);
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }
  // Compresses a finished plain tar as one stream (the uncompressed bytes stay exactly the same).
  static std::string compress(const std::string& plain, Compression c) {
    archive* a = archive_write_new();
    archive_write_set_format_raw(a);
    if (c == Compression::Gzip) archive_write_add_filter_gzip(a);
    if (c == Compression::Zstd) archive_write_add_filter_zstd(a);
    archive_write_set_bytes_in_last_block(a, 1);
    std::string out;
    archive_write_open(a, &out, nullptr, &TarBuilder::appendCb, nullptr);
    archive_entry* e = archive_entry_new();
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, static_cast<int64_t>(plain.size()));
    archive_write_header(a, e);
    archive_write_data(a, plain.data(), plain.size());
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    return out;
  }
  // Rewrites the size field of the first header (GNU base-256) to `size`, keeping the checksum valid.
  static std::string withDeclaredSize(std::string tar, uint64_t size) {
    unsigned char* h = reinterpret_cast<unsigned char*>(tar.data());
    h[124] = 0x80;
    for (int i = 0; i < 11; ++i) h[135 - i] = i < 8 ? static_cast<unsigned char>(size >> (8 * i)) : 0;
    for (int i = 148; i < 156; ++i) h[i] = ' ';
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i) sum += h[i];
    snprintf(reinterpret_cast<char*>(h) + 148, 8, "%06o", sum);
    return tar;
  }
  std::string finish() {
    archive_write_close(a_);
    archive_write_free(a_);
    a_ = nullptr;
    return out_;
  }

 private:
  TarBuilder& add(const std::string& path, mode_t type, mode_t mode, const std::string& data,
                  const std::string& symlink, const std::string& hardlink, uid_t uid = 0, gid_t gid = 0,
                  const std::map<std::string, std::string>& xattrs = {}) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, gid);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (!symlink.empty()) archive_entry_set_symlink(e, symlink.c_str());
    if (!hardlink.empty()) archive_entry_set_hardlink(e, hardlink.c_str());
    for (auto& [k, v] : xattrs) archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    archive_entry_set_size(e, hardlink.empty() ? static_cast<int64_t>(data.size()) : 0);
    if (archive_write_header(a_, e) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a_));
    if (!data.empty()) archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
    return *this;
  }
  static la_ssize_t appendCb(archive*, void* out, const void* buf, size_t n) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }
  static la_ssize_t writeCb(archive*, void* self, const void* buf, size_t n) {
    static_cast<TarBuilder*>(self)->out_.append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }
  archive* a_;
  std::string out_;
};

}  // namespace berth::test
