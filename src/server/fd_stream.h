// A blocking stream socket as Beast's SyncReadStream/SyncWriteStream, without an asio io_context (which
// costs an epoll fd and an eventfd per connection): reads wait at most the read timeout.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <chrono>

namespace berth::server {

class FdStream {
 public:
  FdStream(int fd, std::chrono::milliseconds readTimeout) : fd_(fd), timeout_(readTimeout) {}
  int fd() const { return fd_; }

  template <class Buffers>
  size_t read_some(const Buffers& bufs, boost::beast::error_code& ec) {
    ec = {};
    auto b = first(bufs);
    if (b.size() == 0) return 0;
    for (;;) {
      struct pollfd p = {fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        ec = boost::asio::error::timed_out;
        return 0;
      }
      ssize_t n = ::recv(fd_, b.data(), b.size(), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) {
        ec = boost::beast::error_code(errno, boost::system::system_category());
        return 0;
      }
      if (n == 0) ec = boost::asio::error::eof;
      return static_cast<size_t>(n);
    }
  }
  template <class Buffers>
  size_t read_some(const Buffers& bufs) {
    boost::beast::error_code ec;
    size_t n = read_some(bufs, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // One sendmsg for the buffers (a response's head and body leave together, as asio's socket sends them).
  template <class Buffers>
  size_t write_some(const Buffers& bufs, boost::beast::error_code& ec) {
    ec = {};
    struct iovec iov[16];
    size_t n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(bufs);
         it != boost::asio::buffer_sequence_end(bufs) && n < 16; ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      iov[n].iov_base = const_cast<void*>(b.data());
      iov[n].iov_len = b.size();
      ++n;
    }
    if (n == 0) return 0;
    struct msghdr msg {};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    for (;;) {
      ssize_t w = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        ec = boost::beast::error_code(errno, boost::system::system_category());
        return 0;
      }
      return static_cast<size_t>(w);
    }
  }
  template <class Buffers>
  size_t write_some(const Buffers& bufs) {
    boost::beast::error_code ec;
    size_t n = write_some(bufs, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  template <class Buffers>
  static boost::asio::mutable_buffer first(const Buffers& bufs) {
    for (auto it = boost::asio::buffer_sequence_begin(bufs); it != boost::asio::buffer_sequence_end(bufs);
         ++it)
      if (boost::asio::mutable_buffer b(*it); b.size() > 0) return b;
    return {};
  }
  int fd_;
  std::chrono::milliseconds timeout_;
};

}  // namespace berth::server
