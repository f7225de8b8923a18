#pragma once
// HttpExecutor: how the coordinator performs an `http` step without knowing
// about sockets (engine never includes http/). The coordinator renders the
// step's templates into an HttpCall, the executor (steps/http_step.h, wired by
// app/) sends it, and the coordinator maps the HttpResult onto the retry policy.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "json/value.h"
#include "reactor/cancel_token.h"
#include "reactor/task.h"

namespace rf::engine {

struct HttpCall {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // Idempotency-Key included
  std::string body;
  bool has_body = false;
  Nanos connect_timeout = 0;  // 0: the client's default
  Nanos timeout = 0;          // the whole exchange
  // The values of the {{secrets.NAME}} rendered into url, headers or body: never recorded, and
  // redacted from the result before it is (the coordinator does both).
  std::vector<std::string> secrets;
  std::string ns;  // the run's namespace: its egress allowlist applies (README, Outbound calls)
};

struct HttpResult {
  // kOk: a response arrived (any status). Else the exchange failed, or (kTooDeep) a response
  // arrived whose body cannot be an output.
  Error error{Errc::kOk, {}};
  int status = 0;
  json::Value body;  // parsed JSON, else the text as a valid UTF-8 string, null when empty
};

class HttpExecutor {
 public:
  virtual ~HttpExecutor() = default;
  // Suspends. Firing `cancel` makes it return promptly with kCancelled.
  virtual reactor::Task<HttpResult> Call(HttpCall call, reactor::CancelToken* cancel) = 0;
  // The origin of `url` as the client would reach it, "scheme://host:port" (host lower-cased,
  // the port always written): the circuit breaker key of a step that names none. Empty for a
  // URL the client refuses (its call fails as invalid, without a breaker). Pure.
  virtual std::string Origin(std::string_view url) const = 0;
  // The value of secret `name` of namespace `ns`, for an http step of this shard that is about
  // to run. Errors (the message names the secret, never a value): kNotFound, kUnavailable (no
  // secrets configured), kCorrupt (cannot be opened).
  virtual Result<std::string> Secret(std::string_view ns, std::string_view name) {
    (void)ns;
    return Error{Errc::kUnavailable, "secret '" + std::string(name) + "' cannot be read: secrets are "
                                     "not configured on this daemon"};
  }
};

}  // namespace rf::engine
