#include "json/redact.h"

#include <algorithm>

namespace rf::json {
namespace {

std::vector<const std::string*> LongestFirst(const std::vector<std::string>& values) {
  std::vector<const std::string*> out;
  for (const std::string& v : values)
    if (!v.empty()) out.push_back(&v);
  std::sort(out.begin(), out.end(), [](const std::string* a, const std::string* b) { return a->size() > b->size(); });
  return out;
}

size_t ReplaceAll(std::string& text, const std::vector<const std::string*>& values) {
  size_t n = 0;
  for (const std::string* v : values) {
    for (size_t at = text.find(*v); at != std::string::npos; at = text.find(*v, at + kRedacted.size())) {
      text.replace(at, v->size(), kRedacted);
      ++n;
    }
  }
  return n;
}

// The parser bounds nesting (json::kMaxDepth for step outputs), so recursion is safe.
size_t Walk(Value& v, const std::vector<const std::string*>& values) {
  switch (v.type()) {
    case Type::kString: return ReplaceAll(v.as_string(), values);
    case Type::kArray: {
      size_t n = 0;
      for (Value& item : v.as_array()) n += Walk(item, values);
      return n;
    }
    case Type::kObject: {
      size_t n = 0;
      for (Member& m : v.as_object()) n += ReplaceAll(m.first, values) + Walk(m.second, values);
      return n;
    }
    default: return 0;
  }
}

}  // namespace

size_t RedactText(std::string& text, const std::vector<std::string>& values) {
  return ReplaceAll(text, LongestFirst(values));
}

size_t RedactValue(Value& v, const std::vector<std::string>& values) {
  const auto sorted = LongestFirst(values);
  return sorted.empty() ? 0 : Walk(v, sorted);
}

}  // namespace rf::json
