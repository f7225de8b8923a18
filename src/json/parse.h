#pragma once
// Parse: JSON text -> owned Value, through simdjson's DOM parser (error-code
// API only). Pure and synchronous; safe on any thread (each thread keeps its
// own simdjson parser, so its buffers are reused and sized to the largest
// document that thread has parsed).

#include <cstddef>
#include <string_view>

#include "base/result.h"
#include "json/value.h"

namespace rf::json {

struct ParseLimits {
  size_t max_bytes = 1 << 20;
  // Containers nested inside each other: `[]` is depth 1, `[[]]` depth 2. Values above 1024 (the
  // simdjson parser's own bound) act as 1024.
  size_t max_depth = 64;
};

// Parses `text`, which must hold exactly one JSON value (RFC 8259), with optional whitespace around
// it.
// - Integers that fit int64 become Type::kInt; other numbers, including integers beyond 64 bits,
//   become Type::kDouble. A number beyond the double range is an error.
// - Duplicate object keys: the last value wins, kept at the position of the first occurrence (the
//   same as Value::Set).
// - Invalid UTF-8 and lone \u surrogates are errors.
// Errors:
// - Errc::kTooLarge when text is longer than limits.max_bytes.
// - Errc::kInvalidArgument with a context such as "invalid JSON at byte 17: expected ',' or '}'"
//   (bytes count from 0).
// - Errc::kTooDeep: "JSON nesting deeper than 64".
Result<Value> Parse(std::string_view text, const ParseLimits& limits = {});

}  // namespace rf::json
