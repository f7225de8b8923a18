#pragma once
// AuthGate: the one place requests are authenticated and authorised. The HTTP server calls it
// (http::Admission) for every matched route before the handler; each route declared its access
// when it was registered (Routes::Add). Decisions:
//  - kOpen routes pass; kMetrics passes unless metrics_auth.
//  - With auth off every request passes and acts as admin of every namespace.
//  - Otherwise the Authorization header must hold a valid API key or JWT (401 unauthenticated
//    with WWW-Authenticate: Bearer), whose namespace covers the request's (RequestNamespace)
//    and whose role allows the access (403 forbidden).

#include <string>
#include <string_view>
#include <vector>

#include "api/quotas.h"
#include "auth/authenticator.h"
#include "auth/role.h"
#include "http/server.h"

namespace rf::api {

struct AuthGateOptions {
  bool enabled = false;
  bool metrics_auth = false;
  // The cluster's secret: a request that another daemon sharing the database signed with it
  // (auth/peer_signature.h) is admitted as the principal "peer" (every namespace, the operator
  // role: read, start, cancel). Empty: such a signature is not looked at.
  std::string peer_secret;
};

class AuthGate final : public http::Admission {
 public:
  // `shards`: each shard's authenticator, by shard id; outlive the gate.
  AuthGate(AuthGateOptions options, std::vector<auth::Authenticator*> shards)
      : options_(options), shards_(std::move(shards)), scratch_(shards_.size()) {}
  // Requests of a namespace over its rate are refused (429) here, after authentication, so an
  // unauthenticated flood cannot spend a namespace's quota. Before serving; outlives the gate.
  void EnableQuotas(Quotas* quotas) { quotas_ = quotas; }
  bool Admit(unsigned shard, const http::Request& req, const http::Endpoint& ep,
             const http::Params& params, http::Identity& who, http::Response& resp) override;

 private:
  // The principal in the shard's scratch may do `access` here (else 403), then the quotas.
  bool Authorized(unsigned shard, auth::Access access, const http::Params& params,
                  http::Identity& who, http::Response& resp);
  bool AdmitQuota(unsigned shard, auth::Access access, const http::Params& params,
                  http::Response& resp);
  AuthGateOptions options_;
  Quotas* quotas_ = nullptr;
  std::vector<auth::Authenticator*> shards_;
  struct alignas(64) Scratch {  // by shard, touched only by its shard: reused, not reallocated
    auth::Principal principal;
    std::string message;
  };
  std::vector<Scratch> scratch_;
};

// The namespace a request acts in: the path's {ns} when the route has one, else "default".
std::string_view RequestNamespace(const http::Params& params);

// Whether the request's identity may act in namespace `ns` with `access` (handlers that pick a
// namespace from the body, e.g. key creation). Unauthenticated identities (auth off) may.
bool IdentityAllows(const http::Identity& who, std::string_view ns, auth::Access access);

}  // namespace rf::api
