#include "client/gotemplate.h"

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

struct Pipeline;

struct Operand {
  enum Kind { Field, Var, Dot, String, Number, Bool, Nil, Ident, Sub } kind = Dot;
  std::string name;               // variable ("$x", "$" for the root) or identifier; string literal text
  std::vector<std::string> path;  // field chain after the operand
  json literal;
  std::shared_ptr<Pipeline> sub;  // parenthesised pipeline
};

struct Command {
  std::vector<Operand> args;
};

struct Pipeline {
  std::vector<std::string> decl;  // $k, $v := ...
  std::vector<Command> cmds;
};

struct TemplateNode {
  enum Kind { List, Text, Action, If, Range, With } kind = List;
  std::string text;
  Pipeline pipe;
  std::vector<std::unique_ptr<TemplateNode>> list;
  std::unique_ptr<TemplateNode> elseList;
};

namespace {

// ---- lexing -------------------------------------------------------------------------------------------

struct Item {
  bool action = false;
  std::string text;
  int line = 1, col = 1;
};

Result<std::vector<Item>> splitItems(std::string_view s) {
  std::vector<Item> items;
  size_t i = 0;
  bool trimNext = false;
  auto posOf = [&](size_t at) {
    int line = 1, col = 1;
    for (size_t k = 0; k < at && k < s.size(); ++k) {
      if (s[k] == '\n')
        ++line, col = 1;
      else
        ++col;
    }
    return std::pair{line, col};
  };
  while (i <= s.size()) {
    size_t open = s.find("{{", i);
    std::string text(s.substr(i, open == std::string_view::npos ? std::string_view::npos : open - i));
    if (trimNext)
      text.erase(0, text.find_first_not_of(" \t\r\n") == std::string::npos
                        ? text.size()
                        : text.find_first_not_of(" \t\r\n"));
    trimNext = false;
    if (open == std::string_view::npos) {
      if (!text.empty()) items.push_back({false, text});
      break;
    }
    size_t start = open + 2;
    bool trimLeft = start + 1 < s.size() && s[start] == '-' &&
                    (s[start + 1] == ' ' || s[start + 1] == '\t' || s[start + 1] == '\n');
    if (trimLeft) {
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
      start += 1;
    }
    if (!text.empty()) items.push_back({false, text});
    // The action ends at the first "}}" outside a string literal.
    size_t k = start;
    char quote = 0;
    for (; k + 1 < s.size(); ++k) {
      if (quote) {
        if (s[k] == '\\' && quote == '"')
          ++k;
        else if (s[k] == quote)
          quote = 0;
        continue;
      }
      if (s[k] == '"' || s[k] == '`')
        quote = s[k];
      else if (s[k] == '}' && s[k + 1] == '}')
        break;
    }
    if (k + 1 >= s.size()) {
      auto [l, c] = posOf(open);
      return invalid("template: " + std::to_string(l) + ":" + std::to_string(c) + ": unclosed action");
    }
    size_t end = k;
    std::string body(s.substr(start, end - start));
    if (body.size() >= 2 && body.back() == '-' &&
        std::isspace(static_cast<unsigned char>(body[body.size() - 2]))) {
      body.pop_back();
      trimNext = true;
    }
    auto [l, c] = posOf(open);
    items.push_back({true, body, l, c});
    i = end + 2;
  }
  return items;
}

struct Token {
  enum Kind { Word, Field, Var, Str, Num, LParen, RParen, Pipe, Comma, Declare, Assign, End } kind = End;
  std::string text;
};

Result<std::vector<Token>> lexAction(const std::string& s, const std::string& where) {
  std::vector<Token> out;
  size_t i = 0;
  auto identChar = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '"') {
      std::string v;
      size_t k = i + 1;
      for (; k < s.size() && s[k] != '"'; ++k) {
        if (s[k] == '\\' && k + 1 < s.size()) {
          char e = s[++k];
          v += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          v += s[k];
        }
      }
      if (k >= s.size()) return invalid(where + "unterminated quoted string");
      out.push_back({Token::Str, v});
      i = k + 1;
    } else if (c == '`') {
      size_t k = s.find('`', i + 1);
      if (k == std::string::npos) return invalid(where + "unterminated raw quoted string");
      out.push_back({Token::Str, s.substr(i + 1, k - i - 1)});
      i = k + 1;
    } else if (c == '(' || c == ')' || c == '|' || c == ',') {
      out.push_back({c == '('   ? Token::LParen
                     : c == ')' ? Token::RParen
                     : c == '|' ? Token::Pipe
                                : Token::Comma,
                     std::string(1, c)});
      ++i;
    } else if (c == ':' && i + 1 < s.size() && s[i + 1] == '=') {
      out.push_back({Token::Declare, ":="});
      i += 2;
    } else if (c == '=') {
      out.push_back({Token::Assign, "="});
      ++i;
    } else if (c == '.' || c == '$') {
      size_t k = i + 1;
      while (k < s.size() && (identChar(s[k]) || s[k] == '.')) ++k;
      out.push_back({c == '.' ? Token::Field : Token::Var, s.substr(i, k - i)});
      i = k;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               ((c == '-' || c == '+') && i + 1 < s.size() &&
                std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t k = i + 1;
      while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '.')) ++k;
      out.push_back({Token::Num, s.substr(i, k - i)});
      i = k;
    } else if (identChar(c)) {
      size_t k = i;
      while (k < s.size() && identChar(s[k])) ++k;
      out.push_back({Token::Word, s.substr(i, k - i)});
      i = k;
    } else {
      return invalid(where + "unexpected \"" + std::string(1, c) + "\" in command");
    }
  }
  out.push_back({Token::End, ""});
  return out;
}

std::vector<std::string> splitPath(const std::string& s) {  // ".A.B" -> {A, B}; "." -> {}
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == '.') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

// ---- parsing ------------------------------------------------------------------------------------------

class ActionParser {
 public:
  ActionParser(std::vector<Token> t, std::string where) : t_(std::move(t)), where_(std::move(where)) {}

  Result<Pipeline> pipeline(bool allowDecl) {
    Pipeline p;
    if (allowDecl) {
      size_t save = i_;
      std::vector<std::string> vars;
      while (t_[i_].kind == Token::Var && t_[i_].text.find('.') == std::string::npos) {
        vars.push_back(t_[i_++].text);
        if (t_[i_].kind == Token::Comma) {
          ++i_;
          continue;
        }
        break;
      }
      if (!vars.empty() && (t_[i_].kind == Token::Declare || t_[i_].kind == Token::Assign)) {
        ++i_;
        p.decl = vars;
      } else {
        i_ = save;
      }
    }
    for (;;) {
      Command c;
      while (t_[i_].kind != Token::Pipe && t_[i_].kind != Token::End && t_[i_].kind != Token::RParen) {
        TRY(Operand o, operand());
        c.args.push_back(std::move(o));
      }
      if (c.args.empty()) return invalid(where_ + "missing value for command");
      p.cmds.push_back(std::move(c));
      if (t_[i_].kind != Token::Pipe) break;
      ++i_;
    }
    return p;
  }

  bool atEnd() const { return t_[i_].kind == Token::End; }
  const Token& peek() const { return t_[i_]; }
  void skip() { ++i_; }

 private:
  Result<Operand> operand() {
    const Token& t = t_[i_++];
    Operand o;
    switch (t.kind) {
      case Token::Field:
        o.kind = t.text == "." ? Operand::Dot : Operand::Field;
        o.path = splitPath(t.text);
        return o;
      case Token::Var: {
        o.kind = Operand::Var;
        size_t dot = t.text.find('.');
        o.name = t.text.substr(0, dot);
        if (dot != std::string::npos) o.path = splitPath(t.text.substr(dot));
        return o;
      }
      case Token::Str:
        o.kind = Operand::String;
        o.literal = t.text;
        return o;
      case Token::Num: {
        o.kind = Operand::Number;
        char* end = nullptr;
        errno = 0;
        long long v = 0;
        if (t.text.find_first_of(".eE") == std::string::npos &&
            (v = std::strtoll(t.text.c_str(), &end, 0), errno != ERANGE)) {
          o.literal = static_cast<int64_t>(v);
        } else {  // (as Go's parser: an integer literal too large for int64 is a float constant)
          o.literal = std::strtod(t.text.c_str(), &end);
        }
        if (!end || *end) return invalid(where_ + "bad number syntax: \"" + t.text + "\"");
        return o;
      }
      case Token::Word:
        if (t.text == "true" || t.text == "false") {
          o.kind = Operand::Bool;
          o.literal = t.text == "true";
        } else if (t.text == "nil") {
          o.kind = Operand::Nil;
        } else {
          o.kind = Operand::Ident;
          o.name = t.text;
        }
        return o;
      case Token::LParen: {
        TRY(Pipeline p, pipeline(false));
        if (t_[i_].kind != Token::RParen) return invalid(where_ + "unclosed left paren");
        ++i_;
        o.kind = Operand::Sub;
        o.sub = std::make_shared<Pipeline>(std::move(p));
        if (t_[i_].kind == Token::Field && t_[i_].text != ".") o.path = splitPath(t_[i_++].text);
        return o;
      }
      default:
        return invalid(where_ + "unexpected \"" + t.text + "\" in operand");
    }
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  std::string where_;
};

class Parser {
 public:
  explicit Parser(std::vector<Item> items) : items_(std::move(items)) {}

  // Parses nodes into `into` until {{end}} or {{else}} (returned in `stop`) or the end.
  Result<void> list(TemplateNode& into, std::string* stop) {
    while (pos_ < items_.size()) {
      Item& it = items_[pos_++];
      if (!it.action) {
        auto n = std::make_unique<TemplateNode>();
        n->kind = TemplateNode::Text;
        n->text = it.text;
        into.list.push_back(std::move(n));
        continue;
      }
      std::string where = "template: " + std::to_string(it.line) + ":" + std::to_string(it.col) + ": ";
      std::string body = it.text;
      size_t b = body.find_first_not_of(" \t\r\n");
      if (b == std::string::npos) return invalid(where + "missing value for command");
      body = body.substr(b);
      if (body.starts_with("/*")) continue;  // comment
      TRY(std::vector<Token> toks, lexAction(body, where));
      ActionParser ap(std::move(toks), where);
      const Token& first = ap.peek();
      std::string kw = first.kind == Token::Word ? first.text : "";
      if (kw == "end" || kw == "else") {
        if (!stop) return invalid(where + "unexpected {{" + kw + "}}");
        ap.skip();
        *stop = kw;
        if (kw == "else" && !ap.atEnd()) {  // else if / else with
          if (ap.peek().kind != Token::Word || (ap.peek().text != "if" && ap.peek().text != "with"))
            return invalid(where + "unexpected token after else");
          *stop = "else " + ap.peek().text;
          elseChain_ = body.substr(5);
        }
        return {};
      }
      if (kw == "if" || kw == "range" || kw == "with") {
        ap.skip();
        TRY(auto n, control(kw, ap, where));
        into.list.push_back(std::move(n));
        continue;
      }
      if (kw == "define" || kw == "template" || kw == "block" || kw == "break" || kw == "continue")
        return invalid(where + "{{" + kw + "}} is not supported");
      auto n = std::make_unique<TemplateNode>();
      n->kind = TemplateNode::Action;
      TRY(n->pipe, ap.pipeline(true));
      if (!ap.atEnd()) return invalid(where + "unexpected \"" + ap.peek().text + "\" in command");
      into.list.push_back(std::move(n));
    }
    if (stop) return invalid("template: unexpected EOF: missing {{end}}");
    return {};
  }

 private:
  Result<std::unique_ptr<TemplateNode>> control(const std::string& kw, ActionParser& ap,
                                                const std::string& where) {
    auto n = std::make_unique<TemplateNode>();
    n->kind = kw == "if" ? TemplateNode::If : kw == "range" ? TemplateNode::Range : TemplateNode::With;
    TRY(n->pipe, ap.pipeline(kw == "range" || kw == "with" || kw == "if"));
    if (!ap.atEnd()) return invalid(where + "unexpected \"" + ap.peek().text + "\" in " + kw);
    std::string stop;
    TRYV(list(*n, &stop));
    if (stop == "else") {
      n->elseList = std::make_unique<TemplateNode>();
      std::string stop2;
      TRYV(list(*n->elseList, &stop2));
      if (stop2 != "end") return invalid(where + "expected {{end}} after {{else}}");
    } else if (stop.starts_with("else ")) {
      // {{else if X}} is {{else}}{{if X}}...{{end}}{{end}} sharing the one {{end}}.
      std::string chainKw = stop.substr(5);
      TRY(std::vector<Token> toks, lexAction(elseChain_, where));
      ActionParser inner(std::move(toks), where);
      inner.skip();
      n->elseList = std::make_unique<TemplateNode>();
      TRY(auto chained, control(chainKw, inner, where));
      n->elseList->list.push_back(std::move(chained));
    }
    return n;
  }

  std::vector<Item> items_;
  size_t pos_ = 0;
  std::string elseChain_;
};

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
  TRY(std::vector<Item> items, splitItems(text));
  Template t;
  t.root_ = std::make_unique<TemplateNode>();
  Parser p(std::move(items));
  TRYV(p.list(*t.root_, nullptr));
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
