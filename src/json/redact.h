#pragma once
// Redaction of known values (secrets an http step sent) from what a step records: every
// occurrence inside a string or an object key becomes "[redacted]". Longer values are replaced
// first, so a value that contains another is hidden whole. Empty values are ignored.

#include <string>
#include <vector>

#include "json/value.h"

namespace rf::json {

inline constexpr std::string_view kRedacted = "[redacted]";

// Returns how many occurrences were replaced.
size_t RedactText(std::string& text, const std::vector<std::string>& values);
size_t RedactValue(Value& v, const std::vector<std::string>& values);

}  // namespace rf::json
