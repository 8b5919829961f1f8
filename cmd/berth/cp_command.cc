// berth cp: docker's copy rules between a container (CONTAINER:PATH) and the local filesystem ("-" is a tar
// stream on stdin/stdout). The daemon resolves container paths inside the container; locally, archives are
// read and written with libarchive's secure extraction (no "..", no absolute names, no writes through
// symlinks), and the top entry is renamed when the destination names a new file or directory.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <expected>
#include <memory>
#include <thread>

#include "base/fd.h"
#include "base/file.h"
#include "berth.h"

namespace berth::cli {
namespace {

using client::urlEncode;

#ifndef BERTH_CP_TWIN

struct Spec {
  std::string container;  // empty: local
  std::string path;
};

Spec parseSpec(const std::string& s) {
  if (s == "-" || s.starts_with("/") || s.starts_with(".")) return {"", s};
  auto colon = s.find(':');
  if (colon == std::string::npos || colon == 0) return {"", s};
  // A local path with a colon must be written ./a:b, as in docker.
  return {s.substr(0, colon), s.substr(colon + 1)};
}

std::string baseName(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

std::string dirName(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto s = p.rfind('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : p.substr(0, s);
}

// The stat the daemon sends in X-Docker-Container-Path-Stat (base64 JSON): name, size, mode (Go bits).
struct PathStat {
  bool exists = false, isDir = false;
  std::string name, linkTarget;
};

std::string base64Decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    auto p = chars.find(c);
    if (p == std::string::npos) break;
    val = (val << 6) + static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out += static_cast<char>((val >> bits) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

Result<PathStat> containerStat(client::Api& a, const std::string& c, const std::string& p) {
  auto r = a.call("HEAD", "/containers/" + urlEncode(c) + "/archive?path=" + urlEncode(p));
  if (!r) {
    if (r.error().category() == ErrorCategory::NotFound) return PathStat{};
    return std::unexpected(r.error());
  }
  auto j = json::parse(base64Decode(r->header("x-docker-container-path-stat")), nullptr, false);
  PathStat s;
  s.exists = true;
  if (j.is_object()) {
    s.name = j.value("name", "");
    s.linkTarget = j.value("linkTarget", "");
    uint32_t mode = j.value("mode", uint32_t(0));
    s.isDir = mode & (1u << 31);
  }
  return s;
}

// ---- container → local ---------------------------------------------------------------------------------

// Where `docker cp` puts what it copies out: the directory to extract into, and the name the top entry
// takes there (empty: its own). An error is the user's (a message for failLocal).
struct CopyTarget {
  std::string extractDir, rename;
};
std::expected<CopyTarget, std::string> copyTargetOf(const std::string& dst, const PathStat& st,
                                                    const std::string& linkName, bool contents) {
  CopyTarget t;
  struct stat ds;
  bool dstExists = ::stat(dst.c_str(), &ds) == 0;
  if (dstExists && S_ISDIR(ds.st_mode)) {
    t.extractDir = dst;
    if (!linkName.empty() && !contents) t.rename = linkName;
  } else if (dstExists) {
    if (st.isDir) return std::unexpected("cannot copy a directory to a file: " + dst);
    t.extractDir = dirName(dst);
    t.rename = baseName(dst);
  } else {
    if (dst.ends_with("/") && !st.isDir)
      return std::unexpected("destination directory " + dst + " does not exist");
    std::string parent = dirName(dst);
    struct stat ps;
    if (::stat(parent.c_str(), &ps) != 0 || !S_ISDIR(ps.st_mode))
      return std::unexpected("destination " + parent + " is not a directory or does not exist");
    if (contents) {
      if (::mkdir(dst.c_str(), 0755) < 0)
        return std::unexpected("mkdir " + dst + ": " + std::strerror(errno));
      t.extractDir = dst;
    } else {
      t.extractDir = parent;
      t.rename = baseName(dst);
    }
  }
  return t;
}

// Extracts the tar read from `fd` into the current directory (the target's), the top entry `srcBase`
// renamed as the target says; the error's text, empty when all went well.
std::string extractCopy(int fd, const CopyTarget& t, const std::string& srcBase, bool contents) {
  std::unique_ptr<archive, int (*)(archive*)> inOwner(archive_read_new(), archive_read_free);
  std::unique_ptr<archive, int (*)(archive*)> outOwner(archive_write_disk_new(), archive_write_free);
  archive* in = inOwner.get();
  archive* out = outOwner.get();
  archive_read_support_format_tar(in);
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                          ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                                          (::geteuid() == 0 ? ARCHIVE_EXTRACT_OWNER : 0));
  if (archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK) return archive_error_string(in);
  const std::string& rename = t.rename;
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) return "";
    if (r < ARCHIVE_WARN) return archive_error_string(in) ? archive_error_string(in) : "bad archive";
    std::string name = archive_entry_pathname(e);
    while (name.starts_with("./")) name = name.substr(2);
    if ((name.empty() || name == ".") && contents) continue;
    if (!rename.empty()) {
      if (name == srcBase)
        name = rename;
      else if (name.starts_with(srcBase + "/"))
        name = rename + name.substr(srcBase.size());
    }
    archive_entry_set_pathname(e, name.c_str());
    if (const char* hl = archive_entry_hardlink(e)) {
      std::string h = hl;
      while (h.starts_with("./")) h = h.substr(2);
      if (!rename.empty() && (h == srcBase || h.starts_with(srcBase + "/")))
        h = rename + h.substr(srcBase.size());
      archive_entry_set_hardlink(e, h.c_str());
    }
    if (archive_write_header(out, e) < ARCHIVE_WARN) return archive_error_string(out);
    const void* buf;
    size_t size;
    la_int64_t off;
    while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK)
      if (archive_write_data_block(out, buf, size, off) < ARCHIVE_WARN) return archive_error_string(out);
    if (r < ARCHIVE_WARN) return archive_error_string(in);
    if (archive_write_finish_entry(out) < ARCHIVE_WARN) return archive_error_string(out);
  }
}

int copyOut(client::Api& a, const Spec& src, const std::string& dst, bool followLink) {
  if (dst == "-") {
    auto r = a.stream(
        "GET", "/containers/" + urlEncode(src.container) + "/archive?path=" + urlEncode(src.path), "",
        [](std::string_view s) { return ::write(1, s.data(), s.size()) == static_cast<ssize_t>(s.size()); });
    return r ? 0 : fail(r.error());
  }
  auto st = containerStat(a, src.container, src.path);
  if (!st) return fail(st.error());
  if (!st->exists)
    return fail(Error(ErrorCategory::NotFound,
                      "Could not find the file " + src.path + " in container " + src.container));
  // -L: copy what the link points to (resolved inside the container by the daemon), named as the link.
  std::string fetchPath = src.path, linkName;
  if (followLink && !st->linkTarget.empty()) {
    fetchPath = st->linkTarget.starts_with("/") ? st->linkTarget : dirName(src.path) + "/" + st->linkTarget;
    linkName = st->name;
    st = containerStat(a, src.container, fetchPath);
    if (!st) return fail(st.error());
    if (!st->exists)
      return fail(Error(ErrorCategory::NotFound,
                        "Could not find the file " + fetchPath + " in container " + src.container));
  }
  bool contents = src.path.ends_with("/.") || src.path == ".";
  auto target = copyTargetOf(dst, *st, linkName, contents);
  if (!target) return failLocal(target.error());
  std::string srcBase = contents ? "." : st->name;
  // Stream the tar through a pipe into libarchive on this thread.
  int pfd[2];
  if (::pipe2(pfd, O_CLOEXEC) < 0) return failLocal("pipe: " + std::string(std::strerror(errno)));
  UniqueFd rd(pfd[0]), wr(pfd[1]);
  Result<void> fetched;
  std::thread fetch([&] {
    fetched =
        a.stream("GET", "/containers/" + urlEncode(src.container) + "/archive?path=" + urlEncode(fetchPath),
                 "", [&](std::string_view s) {
                   for (size_t off = 0; off < s.size();) {
                     ssize_t w = ::write(wr.get(), s.data() + off, s.size() - off);
                     if (w <= 0) return false;
                     off += static_cast<size_t>(w);
                   }
                   return true;
                 });
    wr.reset();
  });
  // Entries are extracted relative to the destination directory (the user's path may pass symlinks; the
  // archive's entries may not).
  std::string err;
  if (::chdir(target->extractDir.c_str()) < 0)
    err = "chdir " + target->extractDir + ": " + std::strerror(errno);
  else
    err = extractCopy(rd.get(), *target, srcBase, contents);
  rd.reset();  // the fetch thread stops writing
  fetch.join();
  if (!fetched) return fail(fetched.error());
  if (!err.empty()) return failLocal("extracting into " + target->extractDir + ": " + err);
  return 0;
}

// ---- local → container ---------------------------------------------------------------------------------

// Writes a tar of `src` to `fd`: entries named `top` (and top/...), or, for "dir/.", the directory's
// contents.
Result<void> writeTar(const std::string& src, const std::string& top, bool contents, bool keepOwner,
                      bool followLink, int fd) {
  archive* disk = archive_read_disk_new();
  archive_read_disk_set_standard_lookup(disk);
  if (followLink)
    archive_read_disk_set_symlink_hybrid(disk);
  else
    archive_read_disk_set_symlink_physical(disk);
  archive* out = archive_write_new();
  archive_write_set_format_pax_restricted(out);
  archive_write_set_bytes_per_block(out, 0);
  std::string err;
  if (archive_write_open_fd(out, fd) != ARCHIVE_OK) err = archive_error_string(out);
  if (err.empty() && archive_read_disk_open(disk, src.c_str()) != ARCHIVE_OK)
    err = archive_error_string(disk);
  std::string root = src;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root.ends_with("/.")) root.resize(root.size() - 2);
  while (err.empty()) {
    archive_entry* e = archive_entry_new();
    int r = archive_read_next_header2(disk, e);
    if (r == ARCHIVE_EOF) {
      archive_entry_free(e);
      break;
    }
    if (r < ARCHIVE_WARN) {
      err = archive_error_string(disk);
      archive_entry_free(e);
      break;
    }
    archive_read_disk_descend(disk);
    std::string p = archive_entry_pathname(e);
    std::string rel = p.size() > root.size() ? p.substr(root.size() + 1) : "";
    while (rel.starts_with("./")) rel = rel.substr(2);
    if (rel == ".") rel = "";
    std::string name = contents ? (rel.empty() ? "." : rel) : (rel.empty() ? top : top + "/" + rel);
    std::string sourcePath = archive_entry_sourcepath(e) ? archive_entry_sourcepath(e) : p;
    archive_entry_set_pathname(e, name.c_str());
    if (!keepOwner) {
      archive_entry_set_uid(e, 0);
      archive_entry_set_gid(e, 0);
      archive_entry_set_uname(e, "root");
      archive_entry_set_gname(e, "root");
    }
    if (archive_write_header(out, e) < ARCHIVE_WARN) {
      err = archive_error_string(out);
      archive_entry_free(e);
      break;
    }
    if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0) {
      UniqueFd f(::open(sourcePath.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (!f) {
        err = "open " + sourcePath + ": " + std::strerror(errno);
        archive_entry_free(e);
        break;
      }
      char buf[1 << 16];
      ssize_t n;
      while ((n = ::read(f.get(), buf, sizeof buf)) > 0)
        if (archive_write_data(out, buf, static_cast<size_t>(n)) < 0) {
          err = archive_error_string(out);
          break;
        }
    }
    archive_entry_free(e);
  }
  archive_write_close(out);
  archive_write_free(out);
  archive_read_free(disk);
  if (!err.empty()) return invalid(err);
  return {};
}

int copyIn(client::Api& a, const std::string& src, const Spec& dst, bool keepOwner, bool followLink) {
  std::string target = "/containers/" + urlEncode(dst.container) + "/archive?noOverwriteDirNonDir=true";
  if (keepOwner) target += "&copyUIDGID=true";
  if (src == "-") {  // a tar on stdin, extracted at the destination directory
    auto r = a.upload("PUT", target + "&path=" + urlEncode(dst.path), 0, "application/x-tar");
    return r ? 0 : fail(r.error());
  }
  struct stat ss;
  if ((followLink ? ::stat(src.c_str(), &ss) : ::lstat(src.c_str(), &ss)) != 0)
    return failLocal("could not find the file " + src + ": " + std::strerror(errno));
  bool srcDir = S_ISDIR(ss.st_mode);
  bool contents = src.ends_with("/.") || src == ".";
  auto st = containerStat(a, dst.container, dst.path);
  if (!st) return fail(st.error());
  std::string putDir, top = contents ? "." : baseName(src);
  if (st->exists && st->isDir) {
    putDir = dst.path;
  } else if (st->exists) {
    if (srcDir) return failLocal("cannot copy a directory to a file: " + dst.container + ":" + dst.path);
    putDir = dirName(dst.path);
    top = baseName(dst.path);
  } else {
    if (dst.path.ends_with("/") && !srcDir)
      return fail(Error(ErrorCategory::NotFound, "destination directory " + dst.path + " does not exist"));
    putDir = dirName(dst.path);
    top = baseName(dst.path);
    contents = false;
  }
  int pfd[2];
  if (::pipe2(pfd, O_CLOEXEC) < 0) return failLocal("pipe: " + std::string(std::strerror(errno)));
  UniqueFd rd(pfd[0]), wr(pfd[1]);
  Result<void> written;
  std::thread writer([&] {
    written = writeTar(src, top, contents, keepOwner, followLink, wr.get());
    wr.reset();
  });
  auto r = a.upload("PUT", target + "&path=" + urlEncode(putDir), rd.get(), "application/x-tar");
  rd.reset();
  writer.join();
  if (!written) return failLocal("reading " + src + ": " + written.error().message());
  return r ? 0 : fail(r.error());
}

#endif  // BERTH_CP_TWIN

}  // namespace

void addCp(CLI::App* c, Globals& g, Runner& run) {
  struct F {
    std::string src, dst;
    bool archive = false, followLink = false, quiet = false;
  };
  auto f = state<F>();
  c->add_flag("-a,--archive", f->archive, "archive mode (copy all uid/gid information)");
  c->add_flag("-L,--follow-link", f->followLink, "always follow symbol link in SRC_PATH");
  c->add_flag("-q,--quiet", f->quiet, "suppress progress output");
  c->add_option("SRC", f->src, "CONTAINER:SRC_PATH, a local path, or - (a tar on stdin)")->required();
  c->add_option("DEST", f->dst, "CONTAINER:DEST_PATH, a local path, or - (a tar on stdout)")->required();
#ifdef BERTH_CP_TWIN
  // A static berth has no libarchive (a static program cannot load it): its dynamically linked twin, built
  // from the same sources next to it, runs the command line as given.
  (void)g;
  c->callback([f, &run] { run = [] { return execTwin(BERTH_CP_TWIN); }; });  // f: the flags' storage
#else
  c->callback([f, &g, &run] {
    run = [f, &g] {
      Spec s = parseSpec(f->src), d = parseSpec(f->dst);
      if (s.container.empty() == d.container.empty())
        return usage(s.container.empty() ? "must specify at least one container source"
                                         : "copying between containers is not supported",
                     1);
      auto api = g.api();
      if (!api) return fail(api.error());
      // The container first: HEAD answers carry no message to tell a missing container from a missing path.
      const std::string& cname = s.container.empty() ? d.container : s.container;
      if (auto c = (*api)->call("GET", "/containers/" + client::urlEncode(cname) + "/json"); !c)
        return fail(c.error());
      if (!s.container.empty()) return copyOut(**api, s, f->dst, f->followLink);
      return copyIn(**api, f->src, d, f->archive, f->followLink);
    };
  });
#endif
}

}  // namespace berth::cli
