#pragma once
// UTF-8 validity (RFC 3629): one decoder for the parser's error scan, the
// writer and the step outputs that come from outside JSON. Pure.

#include <cstddef>
#include <string>
#include <string_view>

namespace rf::json {

// Length (1..4) of the well-formed UTF-8 sequence starting at s[i], or 0 when the bytes there are
// not one: a stray continuation byte, an overlong form, a UTF-16 surrogate (U+D800..U+DFFF, as a
// lone "\ud800" would be if encoded), a code point above U+10FFFF, or a truncated sequence.
size_t Utf8SequenceLength(std::string_view s, size_t i);

bool IsValidUtf8(std::string_view s);

// `s` with each byte that does not start a well-formed sequence replaced by U+FFFD (EF BF BD).
std::string ToValidUtf8(std::string_view s);

// Shortens `s` to at most `max_bytes`, cutting at a sequence boundary.
void TruncateUtf8(std::string& s, size_t max_bytes);

}  // namespace rf::json
