#include <gtest/gtest.h>

#include <thread>

#include "server/connections.h"
#include "server/json_body.h"
#include "server/request_head.h"

using namespace berth::server;

TEST(JsonBody, ParsesAndBounds) {
  auto ok = parseJsonBody(R"({"Image":"busybox","Env":["A=1"],"HostConfig":{"Binds":[]}})");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ((*ok)["Image"], "busybox");
  EXPECT_TRUE(parseJsonBody("")->is_object());

  auto bad = parseJsonBody("{\"a\":");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().category(), berth::ErrorCategory::InvalidArgument);
  EXPECT_NE(bad.error().message().find("invalid JSON in the request body"), std::string::npos);

  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  auto d = parseJsonBody(deep);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("nested deeper than 128 levels"), std::string::npos)
      << d.error().message();
  EXPECT_TRUE(parseJsonBody(std::string(128, '[') + std::string(128, ']')));

  std::string many = "[";
  for (int i = 0; i < 300000; ++i) many += i ? ",1" : "1";
  many += "]";
  auto m = parseJsonBody(many);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("more than 200000 values"), std::string::npos);

  auto big = parseJsonBody("\"" + std::string(5 << 20, 'x') + "\"");
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("more than the limit"), std::string::npos);
}

TEST(RequestHead, DecodesTarget) {
  auto t = decodeTarget("/v1.41/containers/json?all=1&filters=%7B%22a%22%7D&names=a&names=b&x");
  EXPECT_EQ(t.path, "/containers/json");
  EXPECT_EQ(t.apiVersion, "1.41");
  EXPECT_EQ(t.query["all"], "1");
  EXPECT_EQ(t.query["filters"], "{\"a\"}");
  EXPECT_EQ(t.queryAll["names"].size(), 2u);
  EXPECT_EQ(t.query["x"], "");
  EXPECT_EQ(decodeTarget("/_ping").path, "/_ping");
  EXPECT_EQ(decodeTarget("/_ping").apiVersion, "");
  EXPECT_EQ(decodeTarget("/v1/x").path, "/v1/x");
  EXPECT_EQ(decodeTarget("/v1.2x/y").path, "/v1.2x/y");
  EXPECT_EQ(urlDecode("a%2Fb+c%zz%4"), "a/b c%zz%4");
}

TEST(RequestHead, RoutePatterns) {
  std::vector<std::string> c;
  RoutePattern seg("/containers/([^/]+)/json");
  EXPECT_TRUE(seg.match("/containers/abc/json", &c));
  EXPECT_EQ(c, std::vector<std::string>{"abc"});
  EXPECT_FALSE(seg.match("/containers//json", &c));
  EXPECT_FALSE(seg.match("/containers/a/b/json", &c));
  EXPECT_FALSE(seg.match("/containers/abc/jsonx", &c));
  RoutePattern rest("/images/(.+)/json");
  EXPECT_TRUE(rest.match("/images/localhost:5000/a/b:1/json", &c));
  EXPECT_EQ(c, std::vector<std::string>{"localhost:5000/a/b:1"});
  EXPECT_TRUE(rest.match("/images/a/json/json", &c));
  EXPECT_EQ(c, std::vector<std::string>{"a/json"});
  EXPECT_FALSE(rest.match("/images//json", &c));
  RoutePattern tail("/images/(.+)");
  EXPECT_TRUE(tail.match("/images/x/y", &c));
  EXPECT_EQ(c[0], "x/y");
  EXPECT_FALSE(tail.match("/images/", &c));
  RoutePattern lit("/containers/json");
  EXPECT_TRUE(lit.match("/containers/json", &c));
  EXPECT_TRUE(c.empty());
}

// libstdc++'s std::regex overflowed a thread's stack on a 30 KB path; the patterns do not recurse per byte.
TEST(RequestHead, LongPathsOnASmallStack) {
  std::string big(200000, 'a');
  bool a = false, b = false;
  std::thread([&] {
    std::vector<std::string> c;
    a = RoutePattern("/images/(.+)/json").match("/images/" + big + "/json", &c);
    b = RoutePattern("/containers/([^/]+)/json").match("/containers/" + big + "/json", &c);
    (void)decodeTarget("/v1.41/images/" + big + "/json?" + big + "=" + big);
  }).join();
  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
}

TEST(Connections, HeadsAndBounds) {
  EXPECT_TRUE(hasCompleteHead("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(hasCompleteHead("GET / HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_GE(connectionBound(1 << 30), 16u);
  EXPECT_EQ(connectionBound(20), 20u);
}

// Found by fuzz_manifest: a number beyond a double's range threw nlohmann's out_of_range out of the parser.
TEST(JsonBody, NumbersBeyondRangeAreErrors) {
  auto r = berth::parseJsonBounded(R"({"size":44348e0303114})", {}, "manifest");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("number overflow"), std::string::npos) << r.error().message();
  EXPECT_FALSE(parseJsonBody("[1e999]"));
}
