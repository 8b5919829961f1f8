#include "base/error.h"

#include <cstring>

namespace berth {

std::string Error::message() const {
  if (errno_ == 0) return message_;
  return message_ + ": " + std::strerror(errno_);
}

}  // namespace berth
