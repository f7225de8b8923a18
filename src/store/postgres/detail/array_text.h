#pragma once
// PostgreSQL array literals for the multi-row statements' parameters. Private to store/postgres.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace rf::store::pg::detail {

// PostgreSQL array literals, built column by column: {"a","b",NULL}.
class ArrayText {
 public:
  void Add(std::string_view v) {
    Sep();
    s_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') s_ += '\\';
      s_ += c;
    }
    s_ += '"';
  }
  void AddInt(int64_t v) {
    Sep();
    s_ += std::to_string(v);
  }
  void AddNull() {
    Sep();
    s_ += "NULL";
  }
  void AddMillisOrNull(int64_t ms) { ms ? AddInt(ms) : AddNull(); }
  std::string Take() {
    s_ += '}';
    return std::move(s_);
  }

 private:
  void Sep() { s_ += s_.size() > 1 ? "," : ""; }
  std::string s_ = "{";
};

}  // namespace rf::store::pg::detail
