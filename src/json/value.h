#pragma once
// Value: an owned JSON value (null, bool, integer, double, string, array,
// object). Objects keep insertion order and unique keys. Used for workflow
// inputs, step outputs and templates; parsing is json/parse.h (simdjson),
// serialising json/writer.h.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rf::json {

class Value;
using Array = std::vector<Value>;
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;

enum class Type : uint8_t { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
std::string_view TypeName(Type t);  // "null", "boolean", "integer", "number", "string", "array", "object"

class Value {
 public:
  Value() = default;
  Value(std::nullptr_t) {}                          // NOLINT: implicit by design
  Value(bool b) : v_(b) {}                          // NOLINT
  Value(int i) : v_(static_cast<int64_t>(i)) {}     // NOLINT
  Value(int64_t i) : v_(i) {}                       // NOLINT
  Value(double d) : v_(d) {}                        // NOLINT
  Value(std::string s) : v_(std::move(s)) {}        // NOLINT
  Value(std::string_view s) : v_(std::string(s)) {} // NOLINT
  Value(const char* s) : v_(std::string(s)) {}      // NOLINT
  Value(Array a) : v_(std::move(a)) {}              // NOLINT
  Value(Object o) : v_(std::move(o)) {}             // NOLINT

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_number() const { return type() == Type::kInt || type() == Type::kDouble; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }

  // Accessors require the matching type (std::get semantics).
  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_double() const {  // any number
    return is_int() ? static_cast<double>(std::get<int64_t>(v_)) : std::get<double>(v_);
  }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  std::string& as_string() { return std::get<std::string>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  Array& as_array() { return std::get<Array>(v_); }
  const Object& as_object() const { return std::get<Object>(v_); }
  Object& as_object() { return std::get<Object>(v_); }

  // Object member by key, or nullptr (also when this is not an object).
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  // Object: inserts or replaces; a null value turns into an empty object first.
  void Set(std::string key, Value v);

  // Deep equality; numbers compare by value (1 == 1.0).
  friend bool operator==(const Value& a, const Value& b);

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object> v_;
};

}  // namespace rf::json
