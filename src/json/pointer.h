#pragma once
// JSON Pointer (RFC 6901): "/items/0/sku" addresses a value inside a document.
// Pure; no allocation.

#include <string>
#include <string_view>

#include "json/value.h"

namespace rf::json {

// The value `pointer` addresses inside `root`, or nullptr when it addresses nothing.
// "" is root itself; otherwise the pointer is a sequence of "/token". In a token "~1" stands for
// '/' and "~0" for '~'; any other '~' makes the pointer invalid (nullptr). On an array a token must
// be an index without leading zeros ("0", "12"); "-" (past the end) addresses nothing.
const Value* Resolve(const Value& root, std::string_view pointer);

// `token` with '~' written as "~0" and '/' as "~1", ready to follow a '/' in a pointer.
std::string EscapePointerToken(std::string_view token);

}  // namespace rf::json
