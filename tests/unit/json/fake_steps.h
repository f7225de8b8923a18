#pragma once
// StepResults over a map, for template and condition tests.

#include <map>
#include <string>
#include <utility>

#include "json/template.h"

namespace rf::json::test {

class FakeSteps : public StepResults {
 public:
  void Add(std::string id, Value output, std::string status) {
    steps_[std::move(id)] = {std::move(output), std::move(status)};
  }
  const Value* Output(std::string_view id) const override {
    auto it = steps_.find(id);
    return it == steps_.end() ? nullptr : &it->second.first;
  }
  std::string_view Status(std::string_view id) const override {
    auto it = steps_.find(id);
    return it == steps_.end() ? std::string_view() : it->second.second;
  }

 private:
  std::map<std::string, std::pair<Value, std::string>, std::less<>> steps_;
};

}  // namespace rf::json::test
