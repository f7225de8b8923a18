#pragma once
// Text helpers shared by the PostgreSQL client's files. Private to store/postgres.

#include <charconv>
#include <string_view>
#include <system_error>

namespace rf::store::pg::detail {

// libpq ends its messages with a newline; trailing blanks and newlines go.
inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return s;
}

// A whole column value as an integer; false for anything else.
template <class T>
bool ParseInt(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace rf::store::pg::detail
