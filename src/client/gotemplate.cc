#include "client/gotemplate.h"

#include "client/gotemplate_ast.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

namespace berth::client {

using nlohmann::json;

namespace {

// ---- evaluation ---------------------------------------------------------------------------------------

bool truthy(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  return !v.empty();
}

std::string formatFloat(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e21) {
    if (std::fabs(d) < 1e6 || d == 0) return std::to_string(static_cast<long long>(d));
  }
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

struct Scope {
  std::vector<std::pair<std::string, json>> vars;
  json lookup(const std::string& name) const {
    for (auto it = vars.rbegin(); it != vars.rend(); ++it)
      if (it->first == name) return it->second;
    return nullptr;
  }
  bool has(const std::string& name) const {
    for (auto& v : vars)
      if (v.first == name) return true;
    return false;
  }
};

json fieldOf(const json& v, const std::string& name) {
  if (v.is_object()) {
    auto it = v.find(name);
    if (it != v.end()) return *it;
  }
  return nullptr;
}

class Evaluator {
 public:
  bool headerMode = false;
  Result<void> walk(const TemplateNode& n, const json& dot, Scope& scope, std::string& out) {
    TRYV(step());
    switch (n.kind) {
      case TemplateNode::List:
        for (auto& c : n.list) TRYV(walk(*c, dot, scope, out));
        return {};
      case TemplateNode::Text:
        out += n.text;
        return {};
      case TemplateNode::Action: {
        TRY(json v, pipeline(n.pipe, dot, scope));
        if (n.pipe.decl.empty()) out += goString(v);
        return {};
      }
      case TemplateNode::If:
      case TemplateNode::With: {
        size_t depth = scope.vars.size();
        TRY(json v, pipeline(n.pipe, dot, scope));
        Result<void> r;
        if (truthy(v)) {
          r = walkList(n, n.kind == TemplateNode::With ? v : dot, scope, out);
        } else if (n.elseList) {
          r = walk(*n.elseList, dot, scope, out);
        }
        scope.vars.resize(depth);
        return r;
      }
      case TemplateNode::Range: {
        size_t depth = scope.vars.size();
        Pipeline p = n.pipe;
        std::vector<std::string> decl = std::move(p.decl);
        p.decl.clear();
        TRY(json v, pipeline(p, dot, scope));
        bool any = false;
        auto each = [&](const json& key, const json& elem) -> Result<void> {
          TRYV(step());
          any = true;
          scope.vars.resize(depth);
          if (decl.size() == 1) scope.vars.push_back({decl[0], elem});
          if (decl.size() == 2) {
            scope.vars.push_back({decl[0], key});
            scope.vars.push_back({decl[1], elem});
          }
          return walkList(n, elem, scope, out);
        };
        if (v.is_array()) {
          for (size_t i = 0; i < v.size(); ++i) TRYV(each(static_cast<int64_t>(i), v[i]));
        } else if (v.is_object()) {
          for (auto& [k, e] : v.items()) TRYV(each(k, e));
        } else if (v.is_number_integer()) {
          for (int64_t i = 0; i < v.get<int64_t>(); ++i) TRYV(each(i, i));
        } else if (!v.is_null()) {
          return invalid("template: range can't iterate over " + goString(v));
        }
        scope.vars.resize(depth);
        if (!any && n.elseList) TRYV(walk(*n.elseList, dot, scope, out));
        return {};
      }
    }
    return {};
  }

 private:
  // A bound on the work of one evaluator (Go has none: `range 444444444444444` runs for days): far above
  // what a format over a daemon's objects takes, reached in well under a second.
  static constexpr uint64_t kMaxSteps = 1 << 18;
  uint64_t steps_ = 0;
  Result<void> step() {
    if (++steps_ > kMaxSteps)
      return invalid("template: execution stopped after " + std::to_string(kMaxSteps) +
                     " steps (a range over a large number?)");
    return {};
  }

  Result<void> walkList(const TemplateNode& n, const json& dot, Scope& scope, std::string& out) {
    for (auto& c : n.list) TRYV(walk(*c, dot, scope, out));
    return {};
  }

  Result<json> pipeline(const Pipeline& p, const json& dot, Scope& scope) {
    std::optional<json> piped;
    for (auto& c : p.cmds) {
      TRYV(step());
      TRY(json v, command(c, dot, scope, piped));
      piped = std::move(v);
    }
    json v = piped ? *piped : json();
    if (!p.decl.empty()) scope.vars.push_back({p.decl.back(), v});
    return v;
  }

  Result<json> operand(const Operand& o, const json& dot, Scope& scope) {
    json base;
    switch (o.kind) {
      case Operand::Dot:
        return dot;
      case Operand::Field:
        base = dot;
        break;
      case Operand::Var:
        if (o.name == "$")
          base = root_;
        else if (!scope.has(o.name))
          return invalid("template: undefined variable \"" + o.name + "\"");
        else
          base = scope.lookup(o.name);
        break;
      case Operand::String:
      case Operand::Number:
      case Operand::Bool:
        return o.literal;
      case Operand::Nil:
        return json();
      case Operand::Ident:
        return call(o.name, {});
      case Operand::Sub: {
        TRY(base, pipeline(*o.sub, dot, scope));
        break;
      }
    }
    for (auto& f : o.path) base = fieldOf(base, f);
    return base;
  }

  Result<json> command(const Command& c, const json& dot, Scope& scope, const std::optional<json>& piped) {
    const Operand& head = c.args[0];
    std::vector<json> args;
    for (size_t i = 1; i < c.args.size(); ++i) {
      TRY(json a, operand(c.args[i], dot, scope));
      args.push_back(std::move(a));
    }
    if (piped) args.push_back(*piped);
    if (head.kind == Operand::Ident) return call(head.name, args);
    if (args.empty()) return operand(head, dot, scope);
    // A method call, as `.Label "key"`: the object's "__Label" member indexed by the argument.
    if ((head.kind == Operand::Field || head.kind == Operand::Var) && !head.path.empty()) {
      Operand owner = head;
      owner.path.pop_back();
      TRY(json obj, operand(owner, dot, scope));
      json method = fieldOf(obj, "__" + head.path.back());
      if (method.is_object() && args.size() == 1 && args[0].is_string())
        return fieldOf(method, args[0].get<std::string>());
      if (method.is_object()) return json();
      return invalid("template: can't give argument to non-function ." + head.path.back());
    }
    return invalid("template: can't give argument to non-function");
  }

  static std::string str(const json& v) { return goString(v); }

  // An int parameter of a template function, as Go's text/template converts one: integers only.
  static Result<int64_t> intArg(const std::string& fn, const json& v) {
    if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
    if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX))
      return static_cast<int64_t>(v.get<uint64_t>());
    return invalid("template: error calling " + fn + ": expected integer; found " + goString(v));
  }

  Result<json> call(const std::string& name, const std::vector<json>& a) {
    // A table's header row renders the template over the column titles: formatting functions pass them on.
    if (headerMode && !a.empty() &&
        (name == "json" || name == "join" || name == "lower" || name == "upper" || name == "title" ||
         name == "truncate" || name == "pad" || name == "split"))
      return a[0];
    auto need = [&](size_t n) -> Result<void> {
      if (a.size() != n)
        return invalid("template: wrong number of args for " + name + ": want " + std::to_string(n) +
                       " got " + std::to_string(a.size()));
      return {};
    };
    if (name == "json") {
      TRYV(need(1));
      return json(a[0].dump(-1, ' ', false, json::error_handler_t::replace));  // (bytes not UTF-8: U+FFFD)
    }
    if (name == "join") {
      TRYV(need(2));
      std::string out;
      if (a[0].is_array())
        for (size_t i = 0; i < a[0].size(); ++i) out += (i ? str(a[1]) : "") + str(a[0][i]);
      return json(out);
    }
    if (name == "split") {
      TRYV(need(2));
      json out = json::array();
      std::string s = str(a[0]), sep = str(a[1]);
      if (sep.empty()) {
        for (char ch : s) out.push_back(std::string(1, ch));
        return out;
      }
      size_t p = 0;
      for (size_t q; (q = s.find(sep, p)) != std::string::npos; p = q + sep.size())
        out.push_back(s.substr(p, q - p));
      out.push_back(s.substr(p));
      return out;
    }
    if (name == "lower" || name == "upper" || name == "title") {
      TRYV(need(1));
      std::string s = str(a[0]);
      bool start = true;
      for (auto& ch : s) {
        unsigned char u = static_cast<unsigned char>(ch);
        if (name == "lower")
          ch = static_cast<char>(std::tolower(u));
        else if (name == "upper" || start)
          ch = static_cast<char>(std::toupper(u));
        start = std::isspace(u);
      }
      return json(s);
    }
    if (name == "truncate") {
      TRYV(need(2));
      std::string s = str(a[0]);
      TRY(int64_t n, intArg(name, a[1]));
      if (n >= 0 && static_cast<size_t>(n) < s.size()) s.resize(static_cast<size_t>(n));
      return json(s);
    }
    if (name == "pad") {
      TRYV(need(3));
      TRY(int64_t l, intArg(name, a[1]));
      TRY(int64_t r, intArg(name, a[2]));
      // (Go would try to allocate any count and die; a table column wider than this is a typo.)
      constexpr int64_t kMaxPad = 1 << 16;
      if (l > kMaxPad || r > kMaxPad)
        return invalid("template: error calling pad: padding " + std::to_string(std::max(l, r)) +
                       " is larger than " + std::to_string(kMaxPad));
      return json(std::string(static_cast<size_t>(std::max<int64_t>(0, l)), ' ') + str(a[0]) +
                  std::string(static_cast<size_t>(std::max<int64_t>(0, r)), ' '));
    }
    if (name == "print" || name == "println") {
      std::string out;
      for (size_t i = 0; i < a.size(); ++i) {
        if (i && (name == "println" || (!a[i].is_string() && !a[i - 1].is_string()))) out += ' ';
        out += str(a[i]);
      }
      if (name == "println") out += '\n';
      return json(out);
    }
    if (name == "printf") {
      if (a.empty()) return invalid("template: wrong number of args for printf: want at least 1 got 0");
      return json(goPrintf(str(a[0]), a));
    }
    if (name == "len") {
      TRYV(need(1));
      if (a[0].is_string()) return json(static_cast<int64_t>(a[0].get_ref<const std::string&>().size()));
      if (a[0].is_array() || a[0].is_object()) return json(static_cast<int64_t>(a[0].size()));
      return invalid("template: error calling len: len of type " + std::string(a[0].type_name()));
    }
    if (name == "index") {
      if (a.empty()) return invalid("template: wrong number of args for index: want at least 1 got 0");
      json v = a[0];
      for (size_t i = 1; i < a.size(); ++i) {
        if (v.is_array() && a[i].is_number_integer()) {
          int64_t k = a[i].get<int64_t>();
          if (k < 0 || static_cast<size_t>(k) >= v.size())
            return invalid("template: error calling index: index out of range: " + std::to_string(k));
          v = json(v[static_cast<size_t>(k)]);
        } else if (v.is_object() && a[i].is_string()) {
          v = fieldOf(v, a[i].get<std::string>());
        } else if (v.is_null()) {
          v = json();
        } else {
          return invalid("template: error calling index: cannot index " + std::string(v.type_name()) +
                         " with " + std::string(a[i].type_name()));
        }
      }
      return v;
    }
    if (name == "not") {
      TRYV(need(1));
      return json(!truthy(a[0]));
    }
    if (name == "and" || name == "or") {
      if (a.empty()) return invalid("template: wrong number of args for " + name);
      for (size_t i = 0; i + 1 < a.size(); ++i)
        if (truthy(a[i]) == (name == "or")) return a[i];
      return a.back();
    }
    if (name == "eq" || name == "ne" || name == "lt" || name == "le" || name == "gt" || name == "ge") {
      if (a.size() < 2) return invalid("template: missing argument for comparison");
      auto cmp = [](const json& x, const json& y) -> int {
        if (x.is_number() && y.is_number()) {
          double dx = x.get<double>(), dy = y.get<double>();
          return dx < dy ? -1 : dx > dy ? 1 : 0;
        }
        std::string sx = goString(x), sy = goString(y);
        return sx < sy ? -1 : sx > sy ? 1 : 0;
      };
      if (name == "eq") {
        for (size_t i = 1; i < a.size(); ++i)
          if (cmp(a[0], a[i]) == 0) return json(true);
        return json(false);
      }
      int c = cmp(a[0], a[1]);
      bool r = name == "ne"   ? c != 0
               : name == "lt" ? c < 0
               : name == "le" ? c <= 0
               : name == "gt" ? c > 0
                              : c >= 0;
      return json(r);
    }
    return invalid("template: function \"" + name + "\" not defined");
  }

 public:
  json root_;
};

}  // namespace

std::string goString(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "<no value>";
    case json::value_t::string:
      return v.get<std::string>();
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case json::value_t::number_float:
      return formatFloat(v.get<double>());
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + goString(v[i]);
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "map[";
      bool first = true;
      for (auto& [k, e] : v.items()) {
        out += (first ? "" : " ") + k + ":" + goString(e);
        first = false;
      }
      return out + "]";
    }
    default:
      return "";
  }
}

Template::Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;
Template::~Template() = default;

Result<Template> Template::parse(std::string_view text) {
  Template t;
  t.root_ = std::make_unique<TemplateNode>();
  TRYV(parseTemplate(text, *t.root_));
  return t;
}

Result<std::string> Template::render(const json& dot, bool header) const {
  Evaluator ev;
  ev.headerMode = header;
  ev.root_ = dot;
  Scope scope;
  std::string out;
  TRYV(ev.walk(*root_, dot, scope, out));
  return out;
}

}  // namespace berth::client
