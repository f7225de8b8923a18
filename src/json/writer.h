#pragma once
// Writer: Value -> compact JSON text (RFC 8259), appended to a Buffer without
// iostreams. Pure; safe on any thread.
//
// - Strings: '"' and '\\' are escaped with a backslash, control characters
//   (below 0x20) as \u00XX; other bytes, UTF-8 included, are copied as they are.
// - Doubles: std::to_chars shortest round-trip form; an integral double gets a
//   ".0" suffix ("2.0", not "2") so that Parse gives a double back. NaN and
//   infinities are written as null.
// - Objects keep their member order.

#include <string>
#include <string_view>

#include "base/buffer.h"
#include "json/value.h"

namespace rf::json {

void Write(const Value& v, Buffer& out);
std::string ToString(const Value& v);

// Appends `s` as a quoted, escaped JSON string literal.
void WriteString(std::string_view s, Buffer& out);

}  // namespace rf::json
