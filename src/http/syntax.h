#pragma once
// RFC 9110/9112 character classes and small helpers shared by the request
// parser and the client's response parser (http/client). Pure, header-only.

#include <array>
#include <string_view>

namespace rf::http::syntax {

constexpr std::array<bool, 256> MakeTable(bool (*pred)(unsigned)) {
  std::array<bool, 256> t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = pred(c);
  return t;
}

// tchar.
inline constexpr auto kTokenChar = MakeTable([](unsigned c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != 0 &&
          std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos);
});
// field-vchar / SP / HT (also reason-phrase): everything but CTLs (incl. NUL, CR, LF) and DEL.
inline constexpr auto kValueChar =
    MakeTable([](unsigned c) { return c == '\t' || (c >= 0x20 && c != 0x7f); });

inline bool Is(const std::array<bool, 256>& table, char c) {
  return table[static_cast<unsigned char>(c)];
}

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

inline bool IsOws(char c) { return c == ' ' || c == '\t'; }

inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = Lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace rf::http::syntax
