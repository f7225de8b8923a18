#include "json/value.h"

namespace rf::json {

std::string_view TypeName(Type t) {
  switch (t) {
    case Type::kNull: return "null";
    case Type::kBool: return "boolean";
    case Type::kInt: return "integer";
    case Type::kDouble: return "number";
    case Type::kString: return "string";
    case Type::kArray: return "array";
    case Type::kObject: return "object";
  }
  return "unknown";
}

const Value* Value::Find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const Member& m : as_object())
    if (m.first == key) return &m.second;
  return nullptr;
}

Value* Value::Find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->Find(key));
}

void Value::Set(std::string key, Value v) {
  if (is_null()) v_ = Object{};
  if (Value* existing = Find(key)) {
    *existing = std::move(v);
    return;
  }
  as_object().emplace_back(std::move(key), std::move(v));
}

bool operator==(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::kNull: return true;
    case Type::kBool: return a.as_bool() == b.as_bool();
    case Type::kString: return a.as_string() == b.as_string();
    case Type::kArray: return a.as_array() == b.as_array();
    case Type::kObject: {
      // Member order does not matter for equality.
      if (a.as_object().size() != b.as_object().size()) return false;
      for (const Member& m : a.as_object()) {
        const Value* other = b.Find(m.first);
        if (!other || !(*other == m.second)) return false;
      }
      return true;
    }
    default: return false;
  }
}

}  // namespace rf::json
