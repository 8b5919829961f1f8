// A blocking HTTP/1.1 client for one unix-socket connection to the Engine API: requests with a body or a
// streamed (chunked) upload, responses read whole or piece by piece, and connections handed over raw after
// an upgrade (attach and exec). Hand-written rather than Beast: the CLI's start-up and first request are on
// the path of every `berth` command, and a hijacked stream needs the socket and the bytes read past the head.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/fd.h"

namespace berth::client {

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // filled by Connection::readAll

  std::string header(const std::string& lowerName) const {
    auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Request {
  Request() = default;
  Request(std::string m, std::string t, std::string b = "", std::string ct = "application/json")
      : method(std::move(m)), target(std::move(t)), body(std::move(b)), contentType(std::move(ct)) {}
  std::string method = "GET";
  std::string target;  // path and query, already encoded
  std::string body;
  std::string contentType = "application/json";
  std::map<std::string, std::string> headers;
};

class Connection {
 public:
  static Result<Connection> open(const std::string& socketPath);
  explicit Connection(UniqueFd fd) : fd_(std::move(fd)) {}

  // Sends a request whose body is `r.body` (Content-Length), or, with uploadFd >= 0, the bytes read from
  // that fd until its end, chunked.
  Result<void> send(const Request& r, int uploadFd = -1);
  // Reads the status line and headers.
  Result<Response> readHead();
  // Reads the body of `head` (Content-Length, chunked, or until the server closes) into `sink`, piece by
  // piece as it arrives; a sink returning false stops reading (the connection is then unusable).
  Result<void> readBody(const Response& head, const std::function<bool(std::string_view)>& sink);
  // readHead + readBody into Response::body.
  Result<Response> readAll();

  // After an upgrade: the raw socket and whatever was read past the response head.
  int fd() const { return fd_.get(); }
  std::string takeBuffered() { return std::exchange(buf_, std::string()); }

 private:
  Result<size_t> fill();  // reads more into buf_; 0 at end of stream
  Result<std::string> readLine();

  UniqueFd fd_;
  std::string buf_;
};

// "a=b&c=d" with each value percent-encoded.
std::string urlEncode(std::string_view s);

}  // namespace berth::client
