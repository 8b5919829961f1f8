#pragma once

#include <string>

#include "base/error.h"

namespace berth::snapshot {

// Copies the tree under `src` into the existing directory `dst`: contents, hardlinks, symlinks, device
// nodes, owners, modes, xattrs and times; never follows a symlink. Reflinks where the filesystem can.
Result<void> copyTree(const std::string& src, const std::string& dst);

}  // namespace berth::snapshot
