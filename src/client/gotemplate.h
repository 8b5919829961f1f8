// The part of Go's text/template that docker's --format users write: {{.A.B}}, {{json .X}}, pipelines,
// {{if}}/{{else}}/{{range}}/{{with}}/{{end}}, {{range $k, $v := .M}}, variables, comments, trim markers
// ({{- -}}), and docker's functions (json, join, split, lower, upper, title, truncate, pad, println, index,
// len, printf, eq/ne/lt/le/gt/ge, and/or/not). Data is JSON; an object may carry a method as "__Name" (an
// object indexed by the call's argument: `.Label "com.example"` on ps rows).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::client {

struct TemplateNode;

class Template {
 public:
  // Errors name the position: `template: 1:7: unexpected "}" in operand`.
  static Result<Template> parse(std::string_view text);
  // `header`: the row of column titles of a table format (formatting functions return their argument).
  Result<std::string> render(const nlohmann::json& dot, bool header = false) const;

  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;
  ~Template();

 private:
  Template();
  std::unique_ptr<TemplateNode> root_;
};

// How Go prints a value with %v: strings raw, maps as map[k:v], lists as [a b], null as <no value>.
std::string goString(const nlohmann::json& v);

// printf: %s %v %d %x %q %t %f %g %e with flags and widths. args[0] is the format itself (the call's
// arguments as the template passes them), the values follow.
std::string goPrintf(const std::string& fmt, const std::vector<nlohmann::json>& args);

}  // namespace berth::client
