// Network devices inside a container's network namespace.
#pragma once

namespace berth::sys::netdev {

// Sets the loopback device of the calling thread's network namespace up, as runc and crun do for a new
// namespace (docker's --network none has `lo` up with 127.0.0.1). Returns 0 or an errno. Allocates
// nothing: callable between clone and execve.
int loopbackUp();

}  // namespace berth::sys::netdev
