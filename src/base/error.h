// Errors as values: every fallible function returns Result<T> = std::expected<T, Error>.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace berth {

// What kind of failure this is; the server maps categories to HTTP status in one place.
enum class ErrorCategory {
  Internal,
  NotFound,
  Conflict,
  InvalidArgument,
  PermissionDenied,
  Unavailable,
  NotModified,
  NotImplemented  // a capability berth does not have yet (501)
};

class Error {
 public:
  Error() = default;
  Error(ErrorCategory category, std::string message, int err = 0)
      : category_(category), errno_(err), message_(std::move(message)) {}

  ErrorCategory category() const { return category_; }
  int sysErrno() const { return errno_; }
  // The full sentence: outer context first, then the cause, then strerror.
  std::string message() const;

  // Adds context in front ("creating container abc: ...").
  Error& context(std::string ctx) & {
    message_ = ctx + ": " + message_;
    return *this;
  }
  Error&& context(std::string ctx) && {
    message_ = ctx + ": " + message_;
    return std::move(*this);
  }

 private:
  ErrorCategory category_ = ErrorCategory::Internal;
  int errno_ = 0;
  std::string message_;
};

template <typename T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ErrorCategory category, std::string message, int err = 0) {
  return std::unexpected(Error(category, std::move(message), err));
}
inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected(Error(ErrorCategory::Internal, std::move(message)));
}
inline std::unexpected<Error> invalid(std::string message) {
  return std::unexpected(Error(ErrorCategory::InvalidArgument, std::move(message)));
}
// A failed system call: captures errno at the call site. Internal: what an errno means for the user (a
// missing container, a name in use) is for the caller to say, who knows what it looked up
// (sysFail(category, …), or a check of sysErrno()).
inline std::unexpected<Error> sysFail(std::string what, int err = errno) {
  return std::unexpected(Error(ErrorCategory::Internal, std::move(what), err));
}
inline std::unexpected<Error> sysFail(ErrorCategory category, std::string what, int err = errno) {
  return std::unexpected(Error(category, std::move(what), err));
}

// Propagates an error with context: TRY_CTX(x, expr, "doing y");
#define BERTH_CONCAT_INNER(a, b) a##b
#define BERTH_CONCAT(a, b) BERTH_CONCAT_INNER(a, b)
#define TRYV(expr)                                                      \
  do {                                                                  \
    auto&& berth_r_ = (expr);                                           \
    if (!berth_r_) return std::unexpected(std::move(berth_r_).error()); \
  } while (0)
#define TRYV_CTX(expr, ctx)                                                          \
  do {                                                                               \
    auto&& berth_r_ = (expr);                                                        \
    if (!berth_r_) return std::unexpected(std::move(berth_r_).error().context(ctx)); \
  } while (0)
#define TRY(var, expr)                                                           \
  auto&& BERTH_CONCAT(berth_r_, __LINE__) = (expr);                              \
  if (!BERTH_CONCAT(berth_r_, __LINE__))                                         \
    return std::unexpected(std::move(BERTH_CONCAT(berth_r_, __LINE__)).error()); \
  var = std::move(*BERTH_CONCAT(berth_r_, __LINE__))

}  // namespace berth
