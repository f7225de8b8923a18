#pragma once
// ClientHttpExecutor: the engine's HttpExecutor on top of the shard's
// outbound client (keep-alive pool per host:port, DNS off the shard, connect
// and total timeouts, cancellation). One per shard, used on that shard only.

#include <functional>
#include <memory>

#include "engine/executor.h"
#include "http/client/client.h"

namespace rf::steps {

class ClientHttpExecutor final : public engine::HttpExecutor {
 public:
  // Where {{secrets.NAME}} of this shard's http steps are read (app/ hands it the shard's
  // auth::SecretVault, which steps/ may not name). Called on the executor's shard.
  using SecretLookup = std::function<Result<std::string>(std::string_view ns, std::string_view name)>;

  explicit ClientHttpExecutor(http::client::Client::Options options = {}) : client_(options) {}
  reactor::Task<engine::HttpResult> Call(engine::HttpCall call, reactor::CancelToken* cancel) override;
  std::string Origin(std::string_view url) const override;
  Result<std::string> Secret(std::string_view ns, std::string_view name) override {
    return secrets_ ? secrets_(ns, name) : engine::HttpExecutor::Secret(ns, name);
  }
  // Before the shards run.
  void SetSecrets(SecretLookup lookup) { secrets_ = std::move(lookup); }
  // The egress policy of a namespace's calls (its allowlist on top of the daemon's); null: the
  // client's own. The call keeps what it returns alive until it ends (a reload may replace it).
  using EgressLookup =
      std::function<std::shared_ptr<const http::client::EgressPolicy>(std::string_view ns)>;
  void SetEgress(EgressLookup lookup) { egress_ = std::move(lookup); }
  const http::client::Client& client() const { return client_; }

 private:
  http::client::Client client_;
  SecretLookup secrets_;
  EgressLookup egress_;
};

// A response body as a step output: parsed JSON when it is JSON, else the text with each byte
// that is not valid UTF-8 replaced by U+FFFD; null when empty. Errors: kTooDeep, JSON nested
// deeper than json::kMaxDepth (the step attempt fails; its retry policy decides what next).
Result<json::Value> BodyValue(std::string_view body);

}  // namespace rf::steps
