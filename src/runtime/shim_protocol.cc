// The shim protocol's lines, encoded and decoded in one place for both sides.
#include "runtime/shim_protocol.h"

#include <charconv>
#include <vector>

namespace berth::runtime::shim {

namespace {

struct Verb {
  Request::Kind kind;
  const char* name;
};
constexpr Verb kVerbs[] = {
    {Request::Kind::Attach, "attach"},      {Request::Kind::Wait, "wait"},
    {Request::Kind::State, "state"},        {Request::Kind::Kill, "kill"},
    {Request::Kind::Resize, "resize"},      {Request::Kind::Pause, "pause"},
    {Request::Kind::Resume, "resume"},      {Request::Kind::CloseStdin, "close-stdin"},
    {Request::Kind::Exec, "exec"},          {Request::Kind::ExecState, "exec-state"},
    {Request::Kind::ExecWait, "exec-wait"}, {Request::Kind::ExecResize, "exec-resize"},
    {Request::Kind::Update, "update"},      {Request::Kind::Processes, "processes"},
    {Request::Kind::Stats, "stats"},
};

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

template <class T>
bool number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool validExecId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string flag(bool b) {
  return b ? "1" : "0";
}

}  // namespace

std::string encode(const Request& r) {
  std::string verb;
  for (auto& v : kVerbs)
    if (v.kind == r.kind) verb = v.name;
  switch (r.kind) {
    case Request::Kind::Attach:
      return verb + " " + flag(r.stdin);
    case Request::Kind::Kill:
      return verb + " " + std::to_string(r.signal) + (r.all ? " all" : "");
    case Request::Kind::Resize:
      return verb + " " + std::to_string(r.rows) + " " + std::to_string(r.cols);
    case Request::Kind::Exec:
      return verb + " " + r.execId + " " + flag(r.stdin);
    case Request::Kind::ExecState:
    case Request::Kind::ExecWait:
      return verb + " " + r.execId;
    case Request::Kind::ExecResize:
      return verb + " " + r.execId + " " + std::to_string(r.rows) + " " + std::to_string(r.cols);
    case Request::Kind::Update:
      return verb + " " + r.resources;
    default:
      return verb;
  }
}

Result<Request> decodeRequest(std::string_view line) {
  auto w = words(line);
  auto unknown = [&] { return invalid("unknown request: " + std::string(line.substr(0, 200))); };
  if (w.empty()) return unknown();
  Request r;
  bool found = false;
  for (auto& v : kVerbs)
    if (w[0] == v.name) r.kind = v.kind, found = true;
  if (!found || line.size() > kMaxRequest) return unknown();
  if (r.kind == Request::Kind::Update) {  // the rest of the line, one JSON object (parsed by the shim)
    std::string_view rest = line.substr(w[0].size());
    if (rest.size() < 3 || rest[0] != ' ' || rest[1] != '{' || rest.back() != '}' ||
        rest.find('\n') != std::string_view::npos)
      return unknown();
    r.resources = std::string(rest.substr(1));
    return r;
  }
  auto want = [&](size_t n) { return w.size() == n; };
  auto isFlag = [](std::string_view s) { return s == "0" || s == "1"; };
  switch (r.kind) {
    case Request::Kind::Attach:
      if (w.size() > 2 || (w.size() == 2 && !isFlag(w[1]))) return unknown();
      r.stdin = w.size() == 2 && w[1] == "1";
      return r;
    case Request::Kind::Kill:
      if ((w.size() != 2 && w.size() != 3) || !number(w[1], r.signal) || r.signal < 0 || r.signal > 64 ||
          (w.size() == 3 && w[2] != "all"))
        return unknown();
      r.all = w.size() == 3;
      return r;
    case Request::Kind::Resize:
      if (!want(3) || !number(w[1], r.rows) || !number(w[2], r.cols)) return unknown();
      return r;
    case Request::Kind::Exec:
      if (!want(3) || !validExecId(w[1]) || !isFlag(w[2])) return unknown();
      r.execId = w[1];
      r.stdin = w[2] == "1";
      return r;
    case Request::Kind::ExecState:
    case Request::Kind::ExecWait:
      if (!want(2) || !validExecId(w[1])) return unknown();
      r.execId = w[1];
      return r;
    case Request::Kind::ExecResize:
      if (!want(4) || !validExecId(w[1]) || !number(w[2], r.rows) || !number(w[3], r.cols)) return unknown();
      r.execId = w[1];
      return r;
    default:
      if (!want(1)) return unknown();
      return r;
  }
}

std::string encodePids(const std::vector<int>& pids) {
  std::string out;
  for (int p : pids) out += (out.empty() ? "" : " ") + std::to_string(p);
  return out;
}

Result<std::vector<int>> decodePids(std::string_view value) {
  std::vector<int> out;
  for (auto w : words(value)) {
    int p = 0;
    if (!number(w, p) || p <= 0) return invalid("not a list of pids: " + std::string(value.substr(0, 200)));
    out.push_back(p);
  }
  return out;
}

namespace {

struct StatField {
  const char* key;
  uint64_t sys::cgroup::Stats::*field;
};
constexpr StatField kStatFields[] = {
    {"cpu", &sys::cgroup::Stats::cpuUsageNs},         {"cpu-user", &sys::cgroup::Stats::cpuUserNs},
    {"cpu-system", &sys::cgroup::Stats::cpuSystemNs}, {"mem", &sys::cgroup::Stats::memoryUsage},
    {"mem-limit", &sys::cgroup::Stats::memoryLimit},  {"mem-max", &sys::cgroup::Stats::memoryMaxUsage},
    {"mem-cache", &sys::cgroup::Stats::memoryCache},  {"oom-kills", &sys::cgroup::Stats::oomKills},
    {"pids", &sys::cgroup::Stats::pidsCurrent},       {"pids-limit", &sys::cgroup::Stats::pidsLimit},
};

}  // namespace

std::string encode(const sys::cgroup::Stats& s) {
  std::string out;
  for (auto& f : kStatFields)
    out += (out.empty() ? "" : " ") + std::string(f.key) + "=" + std::to_string(s.*f.field);
  return out;
}

Result<sys::cgroup::Stats> decodeStats(std::string_view value) {
  sys::cgroup::Stats s;
  for (auto w : words(value)) {
    size_t eq = w.find('=');
    uint64_t n = 0;
    if (eq == std::string_view::npos || !number(w.substr(eq + 1), n))
      return invalid("not a cgroup's counters: " + std::string(value.substr(0, 200)));
    for (auto& f : kStatFields)
      if (w.substr(0, eq) == f.key) s.*f.field = n;
  }
  return s;
}

std::string encode(const Exit& e) {
  if (e.finishedAt.empty()) return std::to_string(e.code);
  return std::to_string(e.code) + " " + flag(e.oom) + " " + e.finishedAt;
}

Result<Exit> decodeExit(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  auto w = words(text);
  Exit e;
  if ((w.size() != 1 && w.size() != 3) || !number(w[0], e.code) ||
      (w.size() == 3 && w[1] != "0" && w[1] != "1"))
    return invalid("not an exit status: " + std::string(text.substr(0, 200)));
  if (w.size() == 3) {
    e.oom = w[1] == "1";
    e.finishedAt = w[2];
  }
  return e;
}

std::string okLine(std::string_view value) {
  return value.empty() ? "ok" : "ok " + std::string(value);
}

std::string errLine(std::string_view message) {
  std::string m(message);
  for (char& c : m)
    if (c == '\n' || c == '\r') c = ' ';
  return "err " + m;
}

Result<std::string> decodeAnswer(std::string_view line) {
  if (line == "ok") return std::string();
  if (line.starts_with("ok ")) return std::string(line.substr(3));
  if (line.starts_with("err ")) return fail(std::string(line.substr(4)));
  return fail("the shim answered: " + std::string(line.substr(0, 200)));
}

std::string exitLine(const Exit& e) {
  return "exit " + encode(e);
}

Result<Exit> decodeExitLine(std::string_view line) {
  if (line.starts_with("err ")) return fail(std::string(line.substr(4)));
  if (!line.starts_with("exit ")) return fail("the shim answered: " + std::string(line.substr(0, 200)));
  return decodeExit(line.substr(5));
}

std::string encode(const State& s) {
  return s.running ? "running " + std::to_string(s.pid) : "exited " + encode(s.exit);
}

Result<State> decodeState(std::string_view line) {
  State s;
  if (line.starts_with("running ")) {
    s.running = true;
    if (!number(line.substr(8), s.pid) || s.pid <= 0) return fail("the shim answered: " + std::string(line));
    return s;
  }
  if (line.starts_with("exited ")) {
    TRY(s.exit, decodeExit(line.substr(7)));
    return s;
  }
  if (line.starts_with("err ")) return fail(std::string(line.substr(4)));
  return fail("the shim answered: " + std::string(line.substr(0, 200)));
}

}  // namespace berth::runtime::shim
