#include "auth/authenticator.h"

#include <algorithm>

namespace rf::auth {

std::string_view AuthFailureName(AuthFailure f) {
  switch (f) {
    case AuthFailure::kMissing: return "missing";
    case AuthFailure::kScheme: return "bad_scheme";
    case AuthFailure::kUnknownKey: return "unknown_key";
    case AuthFailure::kKeyExpired: return "key_expired";
    case AuthFailure::kJwt: return "jwt";
    case AuthFailure::kForbidden: return "forbidden";
    case AuthFailure::kPeer: return "bad_peer_signature";
  }
  return "?";
}

void Authenticator::SetJwtKeys(std::shared_ptr<const JwtKeys> keys) {
  jwt_keys_ = std::move(keys);
  cache_.clear();
  stats_.jwt_cache_size.Set(0);
}

bool Authenticator::Authenticate(std::string_view authorization, int64_t now_ms, Principal& out,
                                 AuthFailure& why, std::string& message) {
  if (authorization.empty()) {
    why = AuthFailure::kMissing;
    message = "this endpoint needs a credential: Authorization: Bearer <API key or JWT>";
    stats_.failures[static_cast<size_t>(why)].Add();
    return false;
  }
  // The scheme is case-insensitive (RFC 9110 section 11.1).
  constexpr std::string_view kBearer = "bearer ";
  bool bearer = authorization.size() > kBearer.size();
  for (size_t i = 0; bearer && i < kBearer.size(); ++i)
    bearer = (authorization[i] | 0x20) == kBearer[i];
  std::string_view token = bearer ? authorization.substr(kBearer.size()) : std::string_view();
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) {
    why = AuthFailure::kScheme;
    message = "the Authorization header must be `Bearer <API key or JWT>`";
    stats_.failures[static_cast<size_t>(why)].Add();
    return false;
  }
  // A JWT has two dots; API keys (and bootstrap keys, see key_table.h) are looked up by hash.
  const bool jwt = std::count(token.begin(), token.end(), '.') == 2 && !token.starts_with(kTokenPrefix);
  if (jwt) return FromJwt(token, now_ms, out, why, message);
  const KeyEntry* key = nullptr;
  if (auto seen = seen_keys_.find(token); seen != seen_keys_.end()) {
    key = seen->second;
  } else if (keys_) {
    key = keys_->Find(Sha256(token));
    // Only keys that exist: unknown tokens are not remembered (a flood of them cannot evict).
    if (key != nullptr) {
      if (seen_keys_.size() >= kSeenKeys) seen_keys_.clear();
      seen_keys_.emplace(std::string(token), key);
    }
  }
  if (key == nullptr) {
    why = AuthFailure::kUnknownKey;
    message = "unknown or revoked API key";
  } else if (key->expires_ms != 0 && now_ms >= key->expires_ms) {
    why = AuthFailure::kKeyExpired;
    message = "API key expired";
    key = nullptr;
  }
  if (key == nullptr) {
    stats_.failures[static_cast<size_t>(why)].Add();
    return false;
  }
  stats_.key_hits.Add();
  out.subject.assign("key:").append(key->id);
  out.ns.assign(key->ns);
  out.role = key->role;
  return true;
}

bool Authenticator::FromJwt(std::string_view token, int64_t now_ms, Principal& out,
                            AuthFailure& why, std::string& message) {
  const int64_t now_s = now_ms / 1000;
  if (auto it = cache_.find(token); it != cache_.end()) {
    if (now_s < it->second.exp_s + kLeewaySeconds) {
      stats_.jwt_cache_hits.Add();
      out.subject.assign("jwt:").append(it->second.sub);
      out.ns.assign(it->second.ns);
      out.role = it->second.role;
      return true;
    }
    cache_.erase(it);  // expired since: verify again, which says so
    stats_.jwt_cache_size.Set(static_cast<int64_t>(cache_.size()));
  }
  stats_.jwt_cache_misses.Add();
  static const JwtKeys kNone;
  JwtFailure jf = JwtFailure::kMalformed;
  auto claims = VerifyJwt(token, jwt_keys_ ? *jwt_keys_ : kNone, policy_, now_s, &jf);
  if (!claims) {
    why = AuthFailure::kJwt;
    message = claims.error().context;
    stats_.failures[static_cast<size_t>(why)].Add();
    stats_.jwt_failures[static_cast<size_t>(jf)].Add();
    return false;
  }
  Remember(token, *claims, now_s);
  out.subject.assign("jwt:").append(claims->sub);
  out.ns.assign(claims->ns);
  out.role = claims->role;
  return true;
}

void Authenticator::Remember(std::string_view token, const JwtClaims& claims, int64_t now_s) {
  if (cache_capacity_ == 0) return;
  if (cache_.size() >= cache_capacity_) {
    std::erase_if(cache_, [&](const auto& kv) { return now_s >= kv.second.exp_s + kLeewaySeconds; });
    // Still full of live tokens: start over rather than track recency on every hit.
    if (cache_.size() >= cache_capacity_) cache_.clear();
  }
  cache_.emplace(std::string(token), Cached{claims.ns, claims.sub, claims.role, claims.exp});
  stats_.jwt_cache_size.Set(static_cast<int64_t>(cache_.size()));
}

void RenderAuthMetrics(const std::vector<const Authenticator*>& shards, std::string& out) {
  obs::TextExposition x(out);
  auto sum = [&](auto get) {
    uint64_t n = 0;
    for (const Authenticator* a : shards) n += get(a->stats());
    return n;
  };
  x.Family("rf_auth_failures_total", "counter",
           "requests refused by authentication (401) or authorisation (403, reason forbidden), by reason");
  for (size_t i = 0; i < kAuthFailureCount; ++i) {
    if (static_cast<AuthFailure>(i) == AuthFailure::kJwt) continue;  // counted by JWT reason below
    const std::string label = "reason=\"" + std::string(AuthFailureName(static_cast<AuthFailure>(i))) + "\"";
    x.SampleU("rf_auth_failures_total", label, sum([i](const AuthStats& s) { return s.failures[i].Get(); }));
  }
  for (size_t i = 0; i < 9; ++i) {
    const std::string label = "reason=\"" + std::string(JwtFailureName(static_cast<JwtFailure>(i))) + "\"";
    x.SampleU("rf_auth_failures_total", label, sum([i](const AuthStats& s) { return s.jwt_failures[i].Get(); }));
  }
  x.Family("rf_auth_api_key_requests_total", "counter", "requests authenticated by an API key");
  x.SampleU("rf_auth_api_key_requests_total", "", sum([](const AuthStats& s) { return s.key_hits.Get(); }));
  x.Family("rf_auth_api_keys", "gauge", "API keys accepted now (live and not revoked; the bootstrap key included)");
  x.SampleU("rf_auth_api_keys", "", shards.empty() ? 0 : shards[0]->key_count());
  x.Family("rf_auth_jwt_cache_entries", "gauge", "verified JWTs cached until they expire, summed over shards");
  x.SampleU("rf_auth_jwt_cache_entries", "",
            sum([](const AuthStats& s) { return static_cast<uint64_t>(s.jwt_cache_size.Get()); }));
  x.Family("rf_auth_jwt_cache_lookups_total", "counter", "JWT checks by result: hit (cached) or miss (verified)");
  x.SampleU("rf_auth_jwt_cache_lookups_total", "result=\"hit\"",
            sum([](const AuthStats& s) { return s.jwt_cache_hits.Get(); }));
  x.SampleU("rf_auth_jwt_cache_lookups_total", "result=\"miss\"",
            sum([](const AuthStats& s) { return s.jwt_cache_misses.Get(); }));
}

}  // namespace rf::auth
