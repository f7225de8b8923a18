#pragma once
// YamlToJson: a YAML document as a json::Value, so workflow definitions can be written in YAML
// (`ringflow workflows apply flow.yaml`). Parsing is libyaml's (Debian libyaml-dev); this file
// only turns its events into values. Pure; any thread.
//
// What a document means (the YAML 1.2 core schema, which is what JSON users expect):
//  - plain scalars: null, Null, NULL, ~ and the empty scalar are null; true/false (also True,
//    TRUE, False, FALSE) are booleans; decimal integers (and 0x.., 0o..) are integers;
//    decimal numbers with a fraction or exponent are doubles; everything else is a string.
//    YAML 1.1's yes/no/on/off stay strings. Quoted scalars, block scalars (| and >) and scalars
//    tagged !!str are always strings.
//  - mapping keys must be scalars and become strings; a repeated key is an error.
//  - anchors and aliases (&a / *a) are expanded; the expansion is bounded (kMaxNodes values in
//    all), so an "alias bomb" fails instead of exhausting memory. Merge keys (<<) are not
//    special.
//  - .inf and .nan have no JSON form: errors. Tags other than the core ones are errors.
//  - exactly one document per file.
// Errors (kInvalidArgument) say "line L, column C: what" (1-based).

#include <cstddef>
#include <string_view>

#include "base/result.h"
#include "json/value.h"

namespace rf::cli {

constexpr size_t kMaxYamlNodes = 1'000'000;
constexpr size_t kMaxYamlDepth = 256;

Result<json::Value> YamlToJson(std::string_view text);

}  // namespace rf::cli
