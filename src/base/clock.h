// Small time helpers (async-signal-safe: nanosleep only).
#pragma once

#include <time.h>

namespace berth {

inline void sleepNs(long ns) {
  struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
  nanosleep(&ts, nullptr);
}

}  // namespace berth
