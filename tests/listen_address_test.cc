#include "src/common/listen_address.h"

#include "gtest/gtest.h"

namespace vecsync {
namespace {

TEST(IsLoopbackAddress, OnlyThisMachineCanReachLoopback) {
  for (const char* local : {"127.0.0.1:7233", "127.1.2.3:1", "localhost:7233", "LOCALHOST:80",
                            "[::1]:7233", "unix:/run/vecsync.sock"}) {
    EXPECT_TRUE(IsLoopbackAddress(local)) << local;
  }
  for (const char* reachable :
       {"0.0.0.0:7233", "[::]:7233", ":7233", "10.0.0.5:7233", "vecsync.internal:7233",
        "127example.com:1", "[::1:7233", "[fe80::1]:7233"}) {
    EXPECT_FALSE(IsLoopbackAddress(reachable)) << reachable;
  }
}

}  // namespace
}  // namespace vecsync
