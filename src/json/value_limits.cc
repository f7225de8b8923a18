#include "json/value_limits.h"

#include <string>

#include "json/utf8.h"
#include "json/writer.h"

namespace rf::json {
namespace {

// Walks `v` adding its encoded size to `bytes`; false at the first problem, described in `error`.
// Recursion is bounded by max_depth (the values it sees were built by the parser, bounded at 1024,
// or by templates over such values).
bool Walk(const Value& v, size_t depth, const ValueLimits& limits, size_t& bytes, Error& error) {
  auto too_large = [&] {
    error = Error{Errc::kTooLarge, "exceeds " + SizeText(limits.max_bytes) + " once encoded"};
    return false;
  };
  auto string_ok = [&](const std::string& s) {
    if (!IsValidUtf8(s)) {
      error = Error{Errc::kInvalidArgument, "holds a string that is not valid UTF-8"};
      return false;
    }
    bytes += StringSize(s);
    return bytes <= limits.max_bytes || too_large();
  };
  switch (v.type()) {
    case Type::kString:
      return string_ok(v.as_string());
    case Type::kArray:
    case Type::kObject:
      if (depth + 1 > limits.max_depth) {
        error = Error{Errc::kTooDeep, "nests deeper than " + std::to_string(limits.max_depth)};
        return false;
      }
      bytes += 2;  // brackets
      if (v.is_array()) {
        const Array& a = v.as_array();
        if (a.size() > 1) bytes += a.size() - 1;  // commas
        for (const Value& item : a)
          if (!Walk(item, depth + 1, limits, bytes, error)) return false;
      } else {
        const Object& o = v.as_object();
        bytes += o.size() + (o.empty() ? 0 : o.size() - 1);  // colons and commas
        for (const Member& m : o) {
          if (!string_ok(m.first) || !Walk(m.second, depth + 1, limits, bytes, error)) return false;
        }
      }
      return bytes <= limits.max_bytes || too_large();
    default:
      bytes += ScalarSize(v);
      return bytes <= limits.max_bytes || too_large();
  }
}

}  // namespace

Status CheckValue(const Value& v, const ValueLimits& limits) {
  size_t bytes = 0;
  Error error;
  if (!Walk(v, 0, limits, bytes, error)) return error;
  return {};
}

std::string SizeText(size_t bytes) {
  if (bytes >= (1 << 20) && bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1 << 10) && bytes % (1 << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace rf::json
