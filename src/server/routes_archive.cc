// A container's files: /containers/{id}/archive (HEAD stat, GET tar, PUT tar: docker cp), /export,
// /changes (docker diff). Tars are streamed both ways, never held whole.
#include <openssl/evp.h>

#include <ctime>
#include <vector>

#include "server/http.h"

namespace berth::server {

using nlohmann::json;

namespace {

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Go's RFC 3339 with nanoseconds, as docker's stat header carries mtime.
std::string rfc3339Nano(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000LL);
  long frac = static_cast<long>(ns % 1000000000LL);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s = buf;
  if (frac) {
    char f[16];
    std::snprintf(f, sizeof f, ".%09ld", frac);
    std::string fs = f;
    while (fs.back() == '0') fs.pop_back();
    s += fs;
  }
  return s + "Z";
}

std::string statHeader(const engine::PathStat& s) {
  json j = {{"name", s.name},
            {"size", s.size},
            {"mode", s.mode},
            {"mtime", rfc3339Nano(s.mtimeNs)},
            {"linkTarget", s.linkTarget}};
  return base64(j.dump(-1, ' ', false, json::error_handler_t::replace));  // (a file name that is not UTF-8)
}

}  // namespace

void addArchiveRoutes(Router& router, engine::Engine& e) {
  const std::string id = "/containers/([^/]+)";

  // GET also answers HEAD (the router maps it): the stat header alone.
  router.add("GET", id + "/archive", [&e](Request& req, Responder& r) {
    std::string path = req.queryStr("path");
    if (path.empty())
      return r.error(Error(ErrorCategory::InvalidArgument, "bad parameter: path cannot be empty"));
    if (req.method == "HEAD") {
      auto st = e.archiveStat(req.params[0], path);
      if (!st) return r.error(st.error());
      r.header("X-Docker-Container-Path-Stat", statHeader(*st));
      return r.text(200, "application/json", "");
    }
    bool begun = false;
    auto got = e.archiveGet(
        req.params[0], path,
        [&](const engine::PathStat& st) {
          r.header("X-Docker-Container-Path-Stat", statHeader(st));
          r.beginStream("application/x-tar");
          begun = true;
        },
        [&](const void* d, size_t n) {
          return r.chunk({static_cast<const char*>(d), n});
        });
    if (!got && !begun) r.error(got.error());
  });

  router.add(
      "PUT", id + "/archive",
      [&e](Request& req, Responder& r) {
        std::string path = req.queryStr("path");
        if (path.empty())
          return r.error(Error(ErrorCategory::InvalidArgument, "bad parameter: path cannot be empty"));
        std::vector<char> buf(1 << 16);
        engine::ByteSource body = [&](const void** out) -> long {
          *out = buf.data();
          return req.readBody(buf.data(), buf.size());
        };
        auto put = e.archivePut(req.params[0], path, req.queryBool("copyUIDGID"),
                                req.queryBool("noOverwriteDirNonDir"), body);
        if (!put) return r.error(put.error());
        r.text(200, "application/json", "");
      },
      /*streamBody=*/true);

  router.add("GET", id + "/export", [&e](Request& req, Responder& r) {
    bool begun = false;
    auto got = e.exportFs(
        req.params[0],
        [&] {
          r.beginStream("application/x-tar");
          begun = true;
        },
        [&](const void* d, size_t n) {
          return r.chunk({static_cast<const char*>(d), n});
        });
    if (!got && !begun) r.error(got.error());
  });

  router.add("GET", id + "/changes", [&e](Request& req, Responder& r) {
    auto ch = e.changes(req.params[0]);
    if (!ch) return r.error(ch.error());
    r.json(200, *ch);
  });
}

}  // namespace berth::server
