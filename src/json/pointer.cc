#include "json/pointer.h"

#include <charconv>
#include <cstddef>

namespace rf::json {
namespace {

bool ValidEscapes(std::string_view token) {
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] != '~') continue;
    if (i + 1 == token.size() || (token[i + 1] != '0' && token[i + 1] != '1')) return false;
    ++i;
  }
  return true;
}

// Compares a key with an escaped token without unescaping it into a temporary string.
bool KeyMatches(std::string_view key, std::string_view token) {
  if (token.find('~') == std::string_view::npos) return key == token;
  size_t k = 0;
  for (size_t i = 0; i < token.size(); ++i, ++k) {
    char c = token[i];
    if (c == '~') c = token[++i] == '0' ? '~' : '/';
    if (k == key.size() || key[k] != c) return false;
  }
  return k == key.size();
}

const Value* Step(const Value& v, std::string_view token) {
  if (v.is_object()) {
    for (const Member& m : v.as_object()) {
      if (KeyMatches(m.first, token)) return &m.second;
    }
    return nullptr;
  }
  if (!v.is_array()) return nullptr;
  if (token.empty() || (token.size() > 1 && token[0] == '0')) return nullptr;
  size_t index = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
  if (ec != std::errc() || end != token.data() + token.size()) return nullptr;
  return index < v.as_array().size() ? &v.as_array()[index] : nullptr;
}

}  // namespace

const Value* Resolve(const Value& root, std::string_view pointer) {
  if (pointer.empty()) return &root;
  if (pointer[0] != '/') return nullptr;
  const Value* v = &root;
  size_t start = 1;
  for (;;) {
    const size_t slash = pointer.find('/', start);
    const std::string_view token = pointer.substr(start, slash - start);
    if (!ValidEscapes(token)) return nullptr;
    v = Step(*v, token);
    if (v == nullptr || slash == std::string_view::npos) return v;
    start = slash + 1;
  }
}

std::string EscapePointerToken(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace rf::json
