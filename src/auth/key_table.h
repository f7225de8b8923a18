#pragma once
// KeyTable: an immutable snapshot of the API keys a shard accepts, looked up by the SHA-256 of
// the presented token (one hash, one lookup per request). The key service (key_service.h) builds
// a new table on every change and hands each shard the same snapshot (shared_ptr to const): no
// lock and no shared writes on the request path.
//
// A token is "rfk_" + id (16 hex) + "_" + secret (43 base64url chars: 32 random bytes). The
// bootstrap admin key (--admin-key-file / RINGFLOW_ADMIN_KEY) may be any string of 16..512
// printable characters; it has id "bootstrap", namespace "*" and role admin.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/crypto.h"
#include "auth/role.h"
#include "store/store.h"

namespace rf::auth {

constexpr std::string_view kTokenPrefix = "rfk_";
constexpr std::string_view kBootstrapId = "bootstrap";

struct KeyEntry {
  std::string id;
  std::string name;
  std::string ns;
  Role role = Role::kViewer;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0: never
};

class KeyTable {
 public:
  // `rows`: the stored keys (rows with an unknown role are skipped and logged);
  // `bootstrap_token`: empty for none.
  static std::shared_ptr<const KeyTable> Build(const std::vector<store::ApiKeyRow>& rows,
                                               std::string_view bootstrap_token);
  const KeyEntry* Find(const Digest& token_hash) const;
  size_t size() const { return by_hash_.size(); }
  // Every key (bootstrap included) in creation order, for listings.
  const std::vector<const KeyEntry*>& ordered() const { return ordered_; }

 private:
  struct DigestHash {
    size_t operator()(const Digest& d) const {
      size_t h;
      static_assert(sizeof h <= sizeof(Digest));
      __builtin_memcpy(&h, d.data(), sizeof h);  // already uniformly distributed
      return h;
    }
  };
  std::unordered_map<Digest, KeyEntry, DigestHash> by_hash_;
  std::vector<const KeyEntry*> ordered_;
};

// Whether `token` could be a bootstrap key: 16..512 printable ASCII characters, no spaces.
bool ValidBootstrapToken(std::string_view token);

// Parses a hex SHA-256 (64 lowercase hex digits). nullopt when it is not one.
std::optional<Digest> ParseHexDigest(std::string_view hex);

}  // namespace rf::auth
