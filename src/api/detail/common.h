#pragma once
// Shared by the /v1 handlers: the error mapping, query and duration parsing,
// body checks. Private to api/.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "engine/engine.h"
#include "http/handler.h"
#include "json/value.h"

namespace rf::http::client {
class Client;
}

namespace rf::api {
struct ForwardStats;
class Quotas;
class BulkOperations;
}

namespace rf::schedule {
class Schedulers;
}

namespace rf::auth {
class AuditLog;
class KeyService;
class SecretService;
}

namespace rf::api::detail {

struct ApiContext {
  engine::Engine* engine = nullptr;
  // Forwarding requests to the holder of a partition (api/forward.h), by shard: each shard's own
  // outbound client and counters, used only on that shard. Empty: never forward (503 instead).
  std::vector<http::client::Client*> forward_clients;
  std::vector<ForwardStats*> forward_stats;
  bool forward_tls = false;  // peers are reached over https
  // What this daemon signs the requests it sends on nobody's behalf with (a schedule's fire:
  // auth/peer_signature.h); empty: unsigned (a holder with --auth on refuses them).
  std::string peer_secret;
  // /v1/keys (auth/key_service.h); null: those routes answer 503.
  auth::KeyService* keys = nullptr;
  // Quotas per namespace (api/quotas.h); null: none.
  Quotas* quotas = nullptr;
  // /v1/secrets (auth/secret_service.h) and /v1/audit (auth/audit_log.h); null: 503.
  auth::SecretService* secrets = nullptr;
  auth::AuditLog* audit = nullptr;
  // /v1/operations (api/bulk.h); null: 503.
  BulkOperations* bulk = nullptr;
  // /v1/schedules (schedule/scheduler.h); null: those routes answer 503.
  schedule::Schedulers* schedules = nullptr;
};

// 503 `unavailable` with Retry-After naming `what` ("API keys") when `service` is null.
// Returns false then.
bool HaveService(const void* service, std::string_view what, http::Response& resp);
// The request's namespace ({ns} of the path, else default); 400 invalid_argument when the
// path's is not a namespace name.
std::optional<std::string_view> PathNamespace(const http::RequestContext& rc);

// Maps an engine error onto the API's error shape. `not_found_code`: the
// specific 404 code (run_not_found, workflow_not_found, ...).
void ReplyError(http::Response& resp, const Error& e, std::string_view not_found_code = "not_found");

// 503 with Retry-After while the engine is still replaying. Returns false then.
bool EngineReady(const ApiContext& ctx, http::Response& resp);

// The value of query parameter `name`, percent-decoded ('+' is a space);
// nullopt when absent. A malformed escape makes `bad` true.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name, bool& bad);
// True when every parameter name in `query` is one of `allowed`; else a 400 is written.
bool OnlyParams(std::string_view query, std::initializer_list<std::string_view> allowed,
                http::Response& resp);

// A request body must be JSON: 415 for another declared Content-Type.
bool CheckJsonContentType(const http::Request& req, http::Response& resp);
// Parses the body (bounded); 400 invalid_json with the parser's message when it is not JSON,
// 400 nesting_too_deep beyond the parser's own depth bound.
std::optional<json::Value> ParseBody(const http::Request& req, http::Response& resp);
// Checks a value the engine will store against the live limits (json/value_limits.h): 413
// payload_too_large, 400 nesting_too_deep, or 400 invalid_argument, each naming `what` ("input")
// and `field` (a JSON pointer into the body). Returns false when it wrote an error.
bool CheckLimits(const json::Value& v, std::string_view what, std::string_view field,
                 http::Response& resp);

// The namespace the request acts in (/v1/namespaces/{ns}/..., else the default one; the
// admission checked its syntax and the caller's right to it), and a name qualified by it.
std::string_view Namespace(const http::RequestContext& rc);
std::string QualifiedName(const http::RequestContext& rc, std::string_view name);

// Starts a run on the shard that owns cmd.partition (from any shard). Suspends. Errors: the
// coordinator's (kNotHeld: another instance holds the partition).
reactor::Task<Result<engine::RunView>> StartOnOwner(const ApiContext& ctx, engine::StartCommand cmd);
// An Idempotency-Key header value: at most 256 printable ASCII characters (400 otherwise).
bool CheckIdempotencyKey(std::string_view key, http::Response& resp);

// A run id from the path: 400 when malformed.
std::optional<engine::RunId> PathRunId(const http::RequestContext& rc);

inline void ReplyJson(http::Response& resp, int status, std::string_view json) {
  resp.status = status;
  resp.content_type = "application/json";
  resp.body.Clear();
  resp.body.Append(json);
}

}  // namespace rf::api::detail
