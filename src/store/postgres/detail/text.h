#pragma once
// Text helpers shared by the PostgreSQL client's files. Private to store/postgres.

#include <string_view>

namespace rf::store::pg::detail {

// libpq ends its messages with a newline; trailing blanks and newlines go.
inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return s;
}

}  // namespace rf::store::pg::detail
