// Unit tests for cgroup path handling; the backends' shared suite is in tests/conformance.
#include <gtest/gtest.h>

#include "sys/cgroup.h"

namespace berth::sys::cgroup {
namespace {

TEST(CgroupPath, Normalise) {
  EXPECT_EQ(*normalisePath("/docker/abc"), "/docker/abc");
  EXPECT_EQ(*normalisePath("docker//abc/"), "/docker/abc");
  EXPECT_FALSE(normalisePath("/a/../../etc"));
  EXPECT_FALSE(normalisePath("/"));
  EXPECT_NE(normalisePath("system.slice:docker:abc").error().message().find("systemd"), std::string::npos);
}

}  // namespace
}  // namespace berth::sys::cgroup
