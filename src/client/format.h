// docker's output conventions: tabwriter tables, human sizes and durations, --format handling
// ("table …", "json", Go templates with \t and \n escapes).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"

namespace berth::client {

// Go's text/tabwriter as docker configures it (minwidth 10, padding 3, spaces): tab-terminated cells padded
// to their column's widest cell; the last cell of a line is not padded.
std::string tabwrite(const std::string& text, size_t minwidth = 10, size_t padding = 3);

// go-units HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks".
std::string humanDuration(int64_t seconds);
// go-units HumanSizeWithPrecision(n, 3): decimal units, "4.26MB", "0B".
std::string humanSize(double bytes);
// go-units BytesSize: binary units with 4 digits, "1.5MiB".
std::string bytesSize(double bytes);
// RFC 3339 (with or without fraction and zone) → seconds since the epoch; 0 when unparsable.
double parseTime(const std::string& rfc3339);
double nowSeconds();
// Go's time.Time.String() of a Unix time, local: "2024-01-01 10:00:00 +0000 UTC".
std::string goTime(int64_t unixSeconds);

// Prints `rows` the way docker prints a list with --format:
//  ""/"table"  → `defaultTable` (a "table …" format);  "json" → each row as one JSON line;
//  "table X"   → header row (X rendered over `headers`) and rows through tabwrite;  other → each row + "\n".
Result<std::string> formatRows(std::string format, const std::string& defaultTable,
                               const std::vector<nlohmann::json>& rows, const nlohmann::json& headers);
// One template over one value (inspect -f, info -f, version -f): rendered + "\n".
Result<std::string> formatOne(std::string format, const nlohmann::json& value);

// Ellipsis as docker's formatter: at most `width` characters, the last one "…" when cut (UTF-8 aware).
std::string ellipsis(const std::string& s, size_t width);

}  // namespace berth::client
