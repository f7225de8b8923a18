#pragma once
// ClientHttpExecutor: the engine's HttpExecutor on top of the shard's
// outbound client (keep-alive pool per host:port, DNS off the shard, connect
// and total timeouts, cancellation). One per shard, used on that shard only.

#include "engine/executor.h"
#include "http/client/client.h"

namespace rf::steps {

class ClientHttpExecutor final : public engine::HttpExecutor {
 public:
  explicit ClientHttpExecutor(http::client::Client::Options options = {}) : client_(options) {}
  reactor::Task<engine::HttpResult> Call(engine::HttpCall call, reactor::CancelToken* cancel) override;
  std::string Origin(std::string_view url) const override;
  const http::client::Client& client() const { return client_; }

 private:
  http::client::Client client_;
};

// A response body as a step output: parsed JSON when it is JSON, else the text with each byte
// that is not valid UTF-8 replaced by U+FFFD; null when empty. Errors: kTooDeep, JSON nested
// deeper than json::kMaxDepth (the step attempt fails; its retry policy decides what next).
Result<json::Value> BodyValue(std::string_view body);

}  // namespace rf::steps
