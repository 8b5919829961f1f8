// The CLI's client pieces without a daemon: Go templates, docker's table and size formats, the HTTP
// client's response parsing against a socketpair "server".
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "client/format.h"
#include "client/gotemplate.h"
#include "client/http_client.h"

using namespace berth;
using namespace berth::client;
using nlohmann::json;

namespace {
std::string render(const std::string& t, const json& v) {
  auto tmpl = Template::parse(t);
  if (!tmpl) return "PARSE: " + tmpl.error().message();
  auto r = tmpl->render(v);
  return r ? *r : "EXEC: " + r.error().message();
}
}  // namespace

TEST(GoTemplate, FieldsFunctionsAndControl) {
  json c = {{"Id", "abc"},
            {"State", {{"Pid", 42}, {"Running", true}, {"Status", "running"}}},
            {"Config", {{"Labels", {{"a", "1"}, {"b.c", "2"}}}, {"Env", {"A=1", "B=2"}}}},
            {"Mounts", json::array()},
            {"Ratio", 1.5}};
  EXPECT_EQ(render("{{.Id}} {{.State.Pid}} {{.State.Running}}", c), "abc 42 true");
  EXPECT_EQ(render("{{json .Config.Labels}}", c), R"({"a":"1","b.c":"2"})");
  EXPECT_EQ(render("{{index .Config.Labels \"b.c\"}}", c), "2");
  EXPECT_EQ(render("{{join .Config.Env \",\"}}", c), "A=1,B=2");
  EXPECT_EQ(render("{{range .Config.Env}}[{{.}}]{{end}}", c), "[A=1][B=2]");
  EXPECT_EQ(render("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", c), "a=1;b.c=2;");
  EXPECT_EQ(render("{{range .Mounts}}x{{else}}none{{end}}", c), "none");
  EXPECT_EQ(render("{{if .State.Running}}up{{else}}down{{end}}", c), "up");
  EXPECT_EQ(
      render("{{if eq .State.Status \"exited\"}}a{{else if eq .State.Status \"running\"}}b{{else}}c{{end}}",
             c),
      "b");
  EXPECT_EQ(render("{{with .State}}{{.Pid}}{{end}}", c), "42");
  EXPECT_EQ(render("{{.Id | upper}} {{lower \"AB\"}} {{title \"ab cd\"}}", c), "ABC ab Ab Cd");
  EXPECT_EQ(render("{{len .Config.Env}} {{.Ratio}} {{.Missing}}", c), "2 1.5 <no value>");
  EXPECT_EQ(render("{{printf \"%-5s|%d\" .Id .State.Pid}}", c), "abc  |42");
  EXPECT_EQ(render("{{.Config.Labels}}", c), "map[a:1 b.c:2]");
  EXPECT_EQ(render("{{.Config.Env}}", c), "[A=1 B=2]");
  EXPECT_EQ(render("a {{- /* comment */ -}} b\n{{- .Id}}", c), "ababc");
  EXPECT_EQ(render("{{$x := .Id}}{{$x}}{{$.State.Pid}}", c), "abc42");
  EXPECT_EQ(render("{{(index .Config.Env 1)}} {{truncate .Id 2}}", c), "B=2 ab");
  EXPECT_EQ(render("{{.Label \"b.c\"}}", json{{"__Label", {{"b.c", "x"}}}}), "x");
}

TEST(GoTemplate, ErrorsNameThePosition) {
  EXPECT_NE(render("{{.Id", json::object()).find("1:1: unclosed action"), std::string::npos);
  EXPECT_NE(render("{{if .A}}x", json::object()).find("missing {{end}}"), std::string::npos);
  EXPECT_NE(render("{{nosuch .A}}", json::object()).find("function \"nosuch\" not defined"),
            std::string::npos);
  EXPECT_NE(render("{{end}}", json::object()).find("unexpected {{end}}"), std::string::npos);
  EXPECT_NE(render("{{$nope}}", json::object()).find("undefined variable"), std::string::npos);
  // Counts are integers and bounded: a fuzzer's pad of 2e33 spaces threw bad_alloc.
  EXPECT_EQ(render("{{pad \"a\" 1 2}}|", json::object()), " a  |");
  EXPECT_NE(
      render("{{pad \"a\" 1 2111111111111111111111111111111111}}", json::object()).find("expected integer"),
      std::string::npos);
  EXPECT_NE(render("{{pad \"a\" 1 99999999}}", json::object()).find("larger than"), std::string::npos);
  EXPECT_NE(render("{{truncate \"abc\" 1.5}}", json::object()).find("expected integer"), std::string::npos);
  // The work is bounded: a fuzzer's range over 444444444444444 (Go iterates an integer) ran for days, and so
  // would ranges nested over smaller ones; an empty body counts too.
  EXPECT_EQ(render("{{range $i := 3}}{{$i}}{{end}}", json::object()), "012");
  EXPECT_NE(render("{{range $k, $v := 444444444444444}}{{$k}}={{$v}} {{end}}", json::object()).find("steps"),
            std::string::npos);
  EXPECT_NE(render("{{range 100000}}{{range 100000}}{{end}}{{end}}", json::object()).find("steps"),
            std::string::npos);
}

TEST(Format, DockerTablesSizesDurations) {
  EXPECT_EQ(tabwrite("CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tx\n"),
            "CONTAINER ID   IMAGE     NAMES\nabc            busybox   x\n");
  EXPECT_EQ(humanSize(0), "0B");
  EXPECT_EQ(humanSize(4261000), "4.26MB");
  EXPECT_EQ(humanSize(999), "999B");
  EXPECT_EQ(bytesSize(1536 * 1024), "1.5MiB");
  EXPECT_EQ(humanDuration(0), "Less than a second");
  EXPECT_EQ(humanDuration(75), "About a minute");
  EXPECT_EQ(humanDuration(3 * 3600), "3 hours");
  EXPECT_EQ(humanDuration(20 * 86400), "2 weeks");
  EXPECT_EQ(ellipsis("sh -c 'while true; do date; done'", 20), "sh -c 'while true; …");
  EXPECT_DOUBLE_EQ(parseTime("2024-01-01T00:00:01.5Z"), 1704067201.5);
  EXPECT_DOUBLE_EQ(parseTime("2024-01-01T02:00:00+02:00"), 1704067200);
  EXPECT_EQ(parseTime("0001-01-01T00:00:00Z"), 0);
  auto t = formatRows("table {{.ID}}\\t{{json .Names}}", "", {json{{"ID", "a"}, {"Names", "x"}}},
                      json{{"ID", "CONTAINER ID"}, {"Names", "NAMES"}});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(*t, "CONTAINER ID   NAMES\na              \"x\"\n");
  auto j = formatRows("json", "", {json{{"ID", "a"}, {"__Label", json::object()}}}, json::object());
  EXPECT_EQ(*j, "{\"ID\":\"a\"}\n");
}

TEST(HttpClient, ParsesLengthChunkedAndCloseDelimitedBodies) {
  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  std::thread server([fd = sp[1]] {
    char buf[4096];
    (void)!::read(fd, buf, sizeof buf);
    std::string a =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello"
        "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n\r\nraw-bytes";
    (void)!::write(fd, a.data(), a.size());
    ::close(fd);
  });
  Connection c{UniqueFd(sp[0])};
  ASSERT_TRUE(c.send(Request{"GET", "/x"}));
  auto r1 = c.readAll();
  ASSERT_TRUE(r1) << r1.error().message();
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, "hello");
  EXPECT_EQ(r1->header("content-type"), "application/json");
  auto r2 = c.readAll();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 404);
  EXPECT_EQ(r2->body, "abcde");
  auto r3 = c.readHead();
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, 101);
  std::string rest = c.takeBuffered();
  char more[64];
  ssize_t n;
  while ((n = ::read(c.fd(), more, sizeof more)) > 0) rest.append(more, static_cast<size_t>(n));
  EXPECT_EQ(rest, "raw-bytes");
  server.join();
}

// Found by fuzz_gotemplate (crash-593d797f): json of a string that is not UTF-8 threw nlohmann's type_error
// out of render; Go's encoder writes U+FFFD, so does ours.
TEST(Template, JsonOfBytesThatAreNotUtf8) {
  auto t = Template::parse("{{json .}} {{printf \"%q\" .}}");
  ASSERT_TRUE(t);
  auto out = t->render(json(std::string("a\xff")));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->substr(0, 6), "\"a\xef\xbf\xbd\"");
}

// Found by fuzz_gotemplate (crash-59c2fee8): a NUL byte inside a printf spec was taken for a flag (strchr
// finds the terminator), which cut the format handed to snprintf short.
TEST(Template, PrintfSpecWithANulByte) {
  std::string text = "{{printf \"%.";
  text += std::string(2, '\0') + "s|%5d|%0000000000000009d\" \"a\" 42 7}}";
  auto t = Template::parse(text);
  ASSERT_TRUE(t);
  auto out = t->render(json::object());
  ASSERT_TRUE(out) << out.error().message();
}

// Found by fuzz_gotemplate (crash-b05d13c2): %d of a float beyond a long long was an out-of-range cast.
TEST(Template, PrintfIntegerVerbsOfLargeFloats) {
  auto t = Template::parse("{{printf \"%d %d %x\" .Big .Whole 255}}");
  ASSERT_TRUE(t);
  auto out = t->render(json::parse(R"({"Big": 3.3e48, "Whole": 12.0})"));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out, "%!d(float64=3.3e+48) 12 ff");
}
