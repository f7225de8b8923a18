#pragma once
// SecretScope: the secrets one http step execution reads. The coordinator renders the step's
// url, headers and body with it as the templates' SecretReader: each {{secrets.NAME}} is asked
// of the shard's executor (HttpExecutor::Secret) in the run's namespace, once per name. The
// values then travel in the HttpCall only (never a record, event or log) so the answer can be
// redacted; what the scope still holds is wiped when it goes. Used on one shard, on the stack.

#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/executor.h"
#include "json/template.h"

namespace rf::engine {

class SecretScope final : public json::SecretReader {
 public:
  SecretScope(HttpExecutor& source, std::string_view ns) : source_(source), ns_(ns) {}
  ~SecretScope() override;
  SecretScope(const SecretScope&) = delete;
  SecretScope& operator=(const SecretScope&) = delete;

  const std::string* Read(std::string_view name) override;
  // The first reference that could not be read (the step fails with it, not retried).
  const std::optional<Error>& error() const { return error_; }
  // The values read, for HttpCall::secrets.
  std::vector<std::string> TakeValues();

 private:
  HttpExecutor& source_;
  std::string_view ns_;
  std::deque<std::pair<std::string, std::string>> values_;  // name -> value; stable addresses
  std::optional<Error> error_;
};

// Overwrites the bytes of each value (before they are freed).
void WipeSecrets(std::vector<std::string>& values);

}  // namespace rf::engine
