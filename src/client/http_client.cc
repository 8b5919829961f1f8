#include "client/http_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unix_socket.h"

namespace berth::client {
namespace {

Result<void> writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysFail("writing to the daemon");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string urlEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

Result<Connection> Connection::open(const std::string& socketPath) {
  auto fd = connectUnixSocket(socketPath);
  if (!fd) return std::unexpected(fd.error());
  return Connection(std::move(*fd));
}

Result<void> Connection::send(const Request& r, int uploadFd) {
  std::string head =
      r.method + " " + r.target + " HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth/" BERTH_VERSION "\r\n";
  for (auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
  if (uploadFd >= 0) {
    head += "Content-Type: " + r.contentType + "\r\nTransfer-Encoding: chunked\r\n\r\n";
    TRYV(writeAll(fd_.get(), head));
    std::string chunk(1 << 16, '\0');
    for (;;) {
      ssize_t n = ::read(uploadFd, chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return sysFail("reading the data to send");
      char size[32];
      int len = std::snprintf(size, sizeof size, "%zx\r\n", static_cast<size_t>(n));
      TRYV(writeAll(fd_.get(), std::string_view(size, static_cast<size_t>(len))));
      if (n == 0) break;
      TRYV(writeAll(fd_.get(), std::string_view(chunk.data(), static_cast<size_t>(n))));
      TRYV(writeAll(fd_.get(), "\r\n"));
    }
    return writeAll(fd_.get(), "\r\n");
  }
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT") {
    head +=
        "Content-Type: " + r.contentType + "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
  }
  head += "\r\n";
  if (r.body.size() < 64 * 1024) {  // one write: one wake-up of the daemon
    head += r.body;
    return writeAll(fd_.get(), head);
  }
  TRYV(writeAll(fd_.get(), head));
  return writeAll(fd_.get(), r.body);
}

Result<size_t> Connection::fill() {
  char tmp[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd_.get(), tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysFail("reading from the daemon");
    buf_.append(tmp, static_cast<size_t>(n));
    return static_cast<size_t>(n);
  }
}

Result<std::string> Connection::readLine() {
  for (;;) {
    auto nl = buf_.find("\r\n");
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 2);
      return line;
    }
    if (buf_.size() > 1 << 20)
      return fail(ErrorCategory::Internal, "the daemon sent a header line over 1 MiB");
    TRY(size_t n, fill());
    if (n == 0) return fail(ErrorCategory::Unavailable, "the daemon closed the connection");
  }
}

Result<Response> Connection::readHead() {
  Response r;
  TRY(std::string status, readLine());
  // HTTP/1.1 200 OK
  if (!status.starts_with("HTTP/1.") || status.size() < 12)
    return fail(ErrorCategory::Internal, "the daemon sent a malformed status line: " + status.substr(0, 80));
  r.status = std::atoi(status.c_str() + 9);
  for (;;) {
    TRY(std::string line, readLine());
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    size_t b = v.find_first_not_of(" \t");
    v = b == std::string::npos ? "" : v.substr(b);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    r.headers[lower(line.substr(0, colon))] = v;
  }
  return r;
}

Result<void> Connection::readBody(const Response& head, const std::function<bool(std::string_view)>& sink) {
  auto take = [&](size_t n) {
    bool more = sink(std::string_view(buf_.data(), n));
    buf_.erase(0, n);
    return more;
  };
  if (lower(head.header("transfer-encoding")).find("chunked") != std::string::npos) {
    for (;;) {
      TRY(std::string line, readLine());
      size_t size = std::strtoull(line.c_str(), nullptr, 16);
      if (size == 0) {
        for (;;) {  // trailers
          TRY(std::string t, readLine());
          if (t.empty()) return {};
        }
      }
      while (size > 0) {
        if (buf_.empty()) {
          TRY(size_t n, fill());
          if (n == 0) return fail(ErrorCategory::Unavailable, "the daemon closed the connection mid-answer");
        }
        size_t n = std::min(size, buf_.size());
        size -= n;
        if (!take(n)) return {};
      }
      TRY(std::string crlf, readLine());
    }
  }
  std::string cl = head.header("content-length");
  if (!cl.empty()) {
    size_t left = std::strtoull(cl.c_str(), nullptr, 10);
    while (left > 0) {
      if (buf_.empty()) {
        TRY(size_t n, fill());
        if (n == 0) return fail(ErrorCategory::Unavailable, "the daemon closed the connection mid-answer");
      }
      size_t n = std::min(left, buf_.size());
      left -= n;
      if (!take(n)) return {};
    }
    return {};
  }
  if (head.status == 204 || head.status == 304 || head.status < 200) return {};
  for (;;) {  // until the server closes
    if (!buf_.empty() && !take(buf_.size())) return {};
    TRY(size_t n, fill());
    if (n == 0) return {};
  }
}

Result<Response> Connection::readAll() {
  TRY(Response r, readHead());
  TRYV(readBody(r, [&](std::string_view s) {
    r.body.append(s);
    return true;
  }));
  return r;
}

}  // namespace berth::client
