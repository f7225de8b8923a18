#pragma once
// Writer: Value -> compact JSON text (RFC 8259), appended to a Buffer without
// iostreams. Pure; safe on any thread.
//
// - Strings: '"' and '\\' are escaped with a backslash, control characters
//   (below 0x20) as \u00XX; well-formed UTF-8 is copied as it is. Each byte that does not
//   start a well-formed UTF-8 sequence (a stray byte, a surrogate such as an encoded lone
//   \ud800, an overlong form) is written as U+FFFD, so the output is always valid JSON that
//   Parse reads back, whatever bytes a string holds.
// - Doubles: std::to_chars shortest round-trip form; an integral double gets a
//   ".0" suffix ("2.0", not "2") so that Parse gives a double back. NaN and
//   infinities are written as null.
// - Objects keep their member order.

#include <cstddef>
#include <string>
#include <string_view>

#include "base/buffer.h"
#include "json/value.h"

namespace rf::json {

void Write(const Value& v, Buffer& out);
std::string ToString(const Value& v);

// Appends `s` as a quoted, escaped JSON string literal.
void WriteString(std::string_view s, Buffer& out);

// The exact number of bytes WriteString(s) appends.
size_t StringSize(std::string_view s);
// The exact number of bytes Write(v) appends for a scalar (0 for an array or object).
size_t ScalarSize(const Value& v);

}  // namespace rf::json
