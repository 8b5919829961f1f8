// The parsed form of a Go text/template (gotemplate.cc evaluates it, gotemplate_parse.cc makes it).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::client {

struct Pipeline;

struct Operand {
  enum Kind { Field, Var, Dot, String, Number, Bool, Nil, Ident, Sub } kind = Dot;
  std::string name;               // variable ("$x", "$" for the root) or identifier; string literal text
  std::vector<std::string> path;  // field chain after the operand
  nlohmann::json literal;
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

// Parses `text` into `root` (a List), with Go's messages ("template: 1:1: unclosed action").
Result<void> parseTemplate(std::string_view text, TemplateNode& root);

}  // namespace berth::client
