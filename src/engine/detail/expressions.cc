// Template and condition compilation for definition validation.
//
// Template::Compile stops at the first bad string and reports the whole
// template's references without saying where each one is. Validation wants
// every bad string and the exact string behind each step reference, so each
// string holding "{{" is first compiled on its own (only those can hold a
// reference), and the whole value is compiled once they all pass.

#include <string_view>

#include "engine/detail/step_parser.h"

namespace rf::engine::detail {
namespace {

void CollectStepRefs(const std::vector<json::Ref>& refs, const std::string& ptr,
                     std::vector<StepRef>& out) {
  for (const json::Ref& ref : refs) {
    if (ref.kind == json::RefKind::kStepOutput || ref.kind == json::RefKind::kStepStatus)
      out.push_back({ptr, ref.step});
  }
}

// Secrets are rendered only where nothing keeps the result: an http step's request.
bool CheckSecretRefs(const std::vector<json::Ref>& refs, const std::string& ptr, SecretRefs secrets,
                     Checker& checker) {
  if (secrets == SecretRefs::kAllow) return true;
  for (const json::Ref& ref : refs) {
    if (ref.kind != json::RefKind::kSecret) continue;
    checker.Add(ptr, "{{secrets." + Clip(ref.path.empty() ? "" : ref.path[0]) +
                         "}} may be used only in an http step's request url, headers and body");
    return false;
  }
  return true;
}

// Compiles every templated string under `v` (at `ptr`) on its own. Returns
// whether all compiled. The parser bounds nesting at 64, so recursion is safe.
bool CheckStrings(const json::Value& v, const std::string& ptr, Checker& checker,
                  std::vector<StepRef>& refs, SecretRefs secrets) {
  switch (v.type()) {
    case json::Type::kString: {
      if (v.as_string().find("{{") == std::string::npos) return true;
      auto t = json::Template::Compile(v);
      if (!t) {
        checker.Add(ptr, t.error().context);
        return false;
      }
      CollectStepRefs(t->refs(), ptr, refs);
      return CheckSecretRefs(t->refs(), ptr, secrets, checker);
    }
    case json::Type::kArray: {
      bool ok = true;
      const json::Array& items = v.as_array();
      for (size_t i = 0; i < items.size(); ++i)
        ok = CheckStrings(items[i], Child(ptr, i), checker, refs, secrets) && ok;
      return ok;
    }
    case json::Type::kObject: {
      bool ok = true;
      for (const json::Member& m : v.as_object())
        ok = CheckStrings(m.second, Child(ptr, m.first), checker, refs, secrets) && ok;
      return ok;
    }
    default:
      return true;
  }
}

}  // namespace

std::optional<json::Template> CompileTemplateAt(const json::Value& v, const std::string& ptr,
                                                Checker& checker, std::vector<StepRef>& refs,
                                                SecretRefs secrets) {
  if (!CheckStrings(v, ptr, checker, refs, secrets)) return std::nullopt;
  auto t = json::Template::Compile(v);
  if (!t) {
    // Not expected once every string compiled; the context starts with the
    // pointer inside `v` when there is one.
    checker.Add(ptr, "invalid template: " + t.error().context);
    return std::nullopt;
  }
  return std::move(*t);
}

std::optional<json::Condition> CompileConditionAt(const std::string& text, const std::string& ptr,
                                                  Checker& checker, std::vector<StepRef>& refs) {
  auto c = json::Condition::Compile(text);
  if (!c) {
    checker.Add(ptr, c.error().context);
    return std::nullopt;
  }
  CollectStepRefs(c->refs(), ptr, refs);
  if (!CheckSecretRefs(c->refs(), ptr, SecretRefs::kRefuse, checker)) return std::nullopt;
  return std::move(*c);
}

}  // namespace rf::engine::detail
