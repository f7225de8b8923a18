#include "engine/secret_scope.h"

#include <string.h>

namespace rf::engine {

SecretScope::~SecretScope() {
  for (auto& [name, value] : values_) explicit_bzero(value.data(), value.size());
}

const std::string* SecretScope::Read(std::string_view name) {
  if (error_) return nullptr;  // the step fails anyway: ask no more
  for (const auto& [n, value] : values_)
    if (n == name) return &value;
  auto value = source_.Secret(ns_, name);
  if (!value) {
    if (!error_) error_ = value.error();
    return nullptr;
  }
  values_.emplace_back(std::string(name), std::move(*value));
  return &values_.back().second;
}

std::vector<std::string> SecretScope::TakeValues() {
  std::vector<std::string> out;
  for (auto& [name, value] : values_) {
    out.push_back(value);  // a copy: a moved-from short string keeps its bytes
    explicit_bzero(value.data(), value.size());
  }
  values_.clear();
  return out;
}

void WipeSecrets(std::vector<std::string>& values) {
  for (std::string& v : values) explicit_bzero(v.data(), v.size());
}

}  // namespace rf::engine
