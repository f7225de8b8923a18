#pragma once
// Definition compiling helpers shared by the step-type unit tests.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>

#include "engine/definition.h"

namespace rf::engine::test {

// Whether an error at `ptr` mentions `text`.
inline bool HasError(const Compiled& c, std::string_view ptr, std::string_view text) {
  for (const ValidationError& e : c.errors)
    if (e.pointer == ptr && e.message.find(text) != std::string::npos) return true;
  return false;
}

inline std::string Dump(const Compiled& c) {
  std::string s;
  for (const ValidationError& e : c.errors) s += "  '" + e.pointer + "': " + e.message + "\n";
  return s;
}

inline std::shared_ptr<const Definition> Def(std::string_view text) {
  Compiled c = CompileDefinition("w", text, 1);
  if (!c.errors.empty()) FAIL("definition: " << c.errors[0].pointer << " " << c.errors[0].message);
  return c.def;
}

}  // namespace rf::engine::test
