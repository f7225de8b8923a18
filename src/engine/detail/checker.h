#pragma once
// Private to engine/: the error collector and typed field readers that
// definition validation is written with. Every reader reports a problem at a
// precise RFC 6901 pointer and keeps going, so one pass finds every error.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/definition.h"
#include "json/value.h"

namespace rf::engine::detail {

// `base` + "/" + the escaped token ("~" -> "~0", "/" -> "~1").
std::string Child(std::string_view base, std::string_view key);
std::string Child(std::string_view base, size_t index);

// Orders pointers token by token, numeric tokens by value ("/steps/2" before
// "/steps/10"); a pointer sorts before its children.
bool PointerLess(std::string_view a, std::string_view b);

// User text for a message, cut after 64 bytes (at a UTF-8 boundary) with
// "..." so a huge key cannot make a huge message. Quote adds single quotes.
std::string Clip(std::string_view s);
std::string Quote(std::string_view s);

class Checker {
 public:
  // Keeps the first kMaxValidationErrors errors and counts the rest.
  void Add(std::string pointer, std::string message);
  bool empty() const { return errors_.empty(); }
  // Every error reported, the omitted ones included.
  size_t size() const { return errors_.size() + omitted_; }
  size_t omitted() const { return omitted_; }
  // The kept errors, sorted by pointer (stable: same-pointer errors keep their order).
  std::vector<ValidationError> Take();

  // Reports every member of object `obj` (at `ptr`) whose key is not in
  // `allowed`, suggesting the nearest allowed key for typos.
  void UnknownKeys(const json::Value& obj, std::string_view ptr,
                   std::initializer_list<std::string_view> allowed);

  // Typed readers: nullptr `v` (an absent field) yields nullopt silently; a
  // present value of the wrong type or out of range reports an error naming
  // `field` and yields nullopt.
  std::optional<int64_t> Integer(const json::Value* v, const std::string& ptr,
                                 std::string_view field, int64_t min, int64_t max);
  std::optional<double> Number(const json::Value* v, const std::string& ptr, std::string_view field,
                               double min, double max);
  const std::string* String(const json::Value* v, const std::string& ptr, std::string_view field);
  // Millisecond durations, returned in Nanos.
  std::optional<Nanos> Millis(const json::Value* v, const std::string& ptr, std::string_view field,
                              Nanos min, Nanos max);

 private:
  std::vector<ValidationError> errors_;
  size_t omitted_ = 0;
};

}  // namespace rf::engine::detail
