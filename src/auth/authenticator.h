#pragma once
// Authenticator: one per shard, used only on its shard. Turns an Authorization header into a
// principal (namespace, role, subject): an API key through the shard's KeyTable snapshot, a JWT
// through the shared JwtKeys, verified once and then cached until it expires (a bounded map per
// shard). The key service and the SIGHUP reload swap the snapshots through SubmitTo, so no lock is
// ever taken here. Counts failures by reason and the cache's size and hits for /metrics.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/jwt.h"
#include "auth/key_table.h"
#include "auth/role.h"
#include "obs/metrics.h"

namespace rf::auth {

// Why a request was turned away (metric label `reason`).
enum class AuthFailure : uint8_t {
  kMissing,      // no Authorization header
  kScheme,       // not "Bearer <token>"
  kUnknownKey,   // an API key that does not exist or was revoked
  kKeyExpired,
  kJwt,          // see JwtFailure (counted under its own names)
  kForbidden,    // authenticated, but the role or namespace does not allow it (403)
  kPeer,         // an X-Ringflow-Peer signature that does not hold (auth/peer_signature.h)
};
inline constexpr size_t kAuthFailureCount = 7;

struct Principal {
  std::string subject;  // "key:<id>" or "jwt:<sub>"
  std::string ns;       // "*": every namespace
  Role role = Role::kViewer;
};

// Per-shard counters; the shard writes, /metrics reads anywhere.
struct AuthStats {
  std::array<obs::Counter, kAuthFailureCount> failures;  // by AuthFailure
  std::array<obs::Counter, 9> jwt_failures;  // by JwtFailure
  obs::Counter jwt_cache_hits;
  obs::Counter jwt_cache_misses;
  obs::Gauge jwt_cache_size;
  obs::Counter key_hits;
  obs::Gauge keys;  // in the shard's snapshot
};

class Authenticator {
 public:
  Authenticator(JwtPolicy policy, size_t jwt_cache_capacity)
      : policy_(std::move(policy)), cache_capacity_(jwt_cache_capacity) {}

  // A new snapshot empties the cache of API keys seen (a key may have been revoked).
  void SetKeys(std::shared_ptr<const KeyTable> keys) {
    stats_.keys.Set(keys ? static_cast<int64_t>(keys->size()) : 0);
    keys_ = std::move(keys);
    seen_keys_.clear();
  }
  // A new key set invalidates every cached token (a key may have been withdrawn).
  void SetJwtKeys(std::shared_ptr<const JwtKeys> keys);

  // `authorization`: the header's value (empty when absent). On failure returns false with
  // `why` set and `message` saying what is wrong (for the 401 body; never the token).
  bool Authenticate(std::string_view authorization, int64_t now_ms, Principal& out,
                    AuthFailure& why, std::string& message);

  void CountForbidden() { stats_.failures[static_cast<size_t>(AuthFailure::kForbidden)].Add(); }
  void CountBadPeer() { stats_.failures[static_cast<size_t>(AuthFailure::kPeer)].Add(); }
  const AuthStats& stats() const { return stats_; }
  size_t key_count() const { return static_cast<size_t>(stats_.keys.Get()); }  // any thread

 private:
  struct Cached {
    std::string ns;
    std::string sub;
    Role role;
    int64_t exp_s;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  bool FromJwt(std::string_view token, int64_t now_ms, Principal& out, AuthFailure& why,
               std::string& message);
  void Remember(std::string_view token, const JwtClaims& claims, int64_t now_s);

  JwtPolicy policy_;
  size_t cache_capacity_;
  std::shared_ptr<const KeyTable> keys_;
  std::shared_ptr<const JwtKeys> jwt_keys_;
  std::unordered_map<std::string, Cached, StringHash, std::equal_to<>> cache_;
  // API keys presented since the snapshot came, by their exact text: a repeat costs one
  // hash-map lookup instead of a SHA-256. Entries point into keys_ (emptied with it);
  // bounded by kSeenKeys (emptied when full).
  static constexpr size_t kSeenKeys = 4096;
  std::unordered_map<std::string, const KeyEntry*, StringHash, std::equal_to<>> seen_keys_;
  AuthStats stats_;
};

std::string_view AuthFailureName(AuthFailure f);

// Prometheus families summed over the shards' authenticators, and the key count.
void RenderAuthMetrics(const std::vector<const Authenticator*>& shards, std::string& out);

}  // namespace rf::auth
