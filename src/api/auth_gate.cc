#include "api/auth_gate.h"

#include "auth/peer_signature.h"
#include "base/clock.h"

namespace rf::api {

std::string_view RequestNamespace(const http::Params& params) {
  std::string_view ns = params.Get("ns");
  return ns.empty() ? std::string_view("default") : ns;
}

bool IdentityAllows(const http::Identity& who, std::string_view ns, auth::Access access) {
  if (!who.authenticated) return true;
  return auth::NamespaceAllows(who.ns, ns) &&
         auth::RoleAllows(static_cast<auth::Role>(who.role), access);
}

bool AuthGate::Admit(unsigned shard, const http::Request& req, const http::Endpoint& ep,
                     const http::Params& params, http::Identity& who, http::Response& resp) {
  const auto access = static_cast<auth::Access>(ep.access);
  if (std::string_view ns = params.Get("ns"); !ns.empty() && !ValidNamespace(ns)) {
    resp.Error(400, "invalid_argument", "'" + std::string(ns) +
                                            "' is not a namespace name (1 to 63 of a-z 0-9 -, not starting with '-')");
    return false;
  }
  if (access == auth::Access::kOpen) return true;
  if (access == auth::Access::kMetrics && (!options_.enabled || !options_.metrics_auth)) return true;
  if (!options_.enabled) return AdmitQuota(shard, access, params, resp);
  auth::Authenticator& a = *shards_[shard];
  Scratch& s = scratch_[shard];
  if (std::string_view peer = req.Header(auth::kPeerHeader); !peer.empty() && !options_.peer_secret.empty()) {
    const auth::PeerRequest signed_part{req.method_str, req.target, req.Header("Idempotency-Key"), req.body};
    if (!auth::VerifyPeerRequest(options_.peer_secret, peer, WallNow() / kSeconds, signed_part, s.message)) {
      a.CountBadPeer();
      resp.Error(401, "unauthenticated", s.message);
      resp.AddHeader("WWW-Authenticate", "Bearer realm=\"ringflow\", error=\"invalid_token\"");
      return false;
    }
    s.principal = auth::Principal{.subject = "peer", .ns = "*", .role = auth::Role::kOperator};
    return Authorized(shard, access, params, who, resp);
  }
  auth::AuthFailure why;
  if (!a.Authenticate(req.Header("Authorization"), WallNow() / 1'000'000, s.principal, why, s.message)) {
    resp.Error(401, "unauthenticated", s.message);
    resp.AddHeader("WWW-Authenticate", why == auth::AuthFailure::kMissing
                                           ? "Bearer realm=\"ringflow\""
                                           : "Bearer realm=\"ringflow\", error=\"invalid_token\"");
    return false;
  }
  return Authorized(shard, access, params, who, resp);
}

bool AuthGate::Authorized(unsigned shard, auth::Access access, const http::Params& params,
                          http::Identity& who, http::Response& resp) {
  auth::Authenticator& a = *shards_[shard];
  const Scratch& s = scratch_[shard];
  who.authenticated = true;
  who.subject.assign(s.principal.subject);
  who.ns.assign(s.principal.ns);
  who.role = static_cast<uint8_t>(s.principal.role);
  const std::string_view ns = RequestNamespace(params);
  if (!auth::NamespaceAllows(s.principal.ns, ns)) {
    a.CountForbidden();
    resp.Error(403, "forbidden", "this credential is for namespace '" + s.principal.ns +
                                     "', not '" + std::string(ns) + "'");
    return false;
  }
  if (!auth::RoleAllows(s.principal.role, access)) {
    a.CountForbidden();
    resp.Error(403, "forbidden", "role " + std::string(auth::RoleName(s.principal.role)) +
                                     " may not " + std::string(auth::AccessName(access)));
    return false;
  }
  return AdmitQuota(shard, access, params, resp);
}

bool AuthGate::AdmitQuota(unsigned shard, auth::Access access, const http::Params& params,
                          http::Response& resp) {
  if (!quotas_ || access == auth::Access::kOpen || access == auth::Access::kMetrics) return true;
  return quotas_->AdmitRequest(shard, RequestNamespace(params), resp);
}

}  // namespace rf::api
