#pragma once
// Pretty: a json::Value as indented JSON text, one member or element per line, for people
// (`ringflow workflows get`, the diff of `workflows apply`, `--output json`). Scalars and strings
// are written by json/writer.h, so the text is valid JSON that parses back to the same value.
// Pure; any thread.

#include <string>

#include "json/value.h"

namespace rf::cli {

// Two spaces per level; empty arrays and objects stay on one line ("[]", "{}"); ends in '\n'.
std::string Pretty(const json::Value& v);

}  // namespace rf::cli
