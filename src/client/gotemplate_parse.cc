// Go text/template's parser: the text split into text and actions, actions lexed and parsed into pipelines,
// and {{if}}/{{range}}/{{with}}/{{else}}/{{end}} into a tree (gotemplate_ast.h).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "client/gotemplate_ast.h"

namespace berth::client {

using nlohmann::json;

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

}  // namespace

Result<void> parseTemplate(std::string_view text, TemplateNode& root) {
  TRY(std::vector<Item> items, splitItems(text));
  Parser p(std::move(items));
  return p.list(root, nullptr);
}

}  // namespace berth::client
