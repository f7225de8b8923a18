#include "auth/key_table.h"

#include <algorithm>

#include "obs/log.h"

namespace rf::auth {

std::optional<Digest> ParseHexDigest(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  Digest d{};
  for (size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (size_t j = 0; j < 2; ++j) {
      const char c = hex[2 * i + j];
      int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (x < 0) return std::nullopt;
      v = v * 16 + x;
    }
    d[i] = static_cast<uint8_t>(v);
  }
  return d;
}

bool ValidBootstrapToken(std::string_view token) {
  if (token.size() < 16 || token.size() > 512) return false;
  for (char c : token)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

std::shared_ptr<const KeyTable> KeyTable::Build(const std::vector<store::ApiKeyRow>& rows,
                                                std::string_view bootstrap_token) {
  auto t = std::make_shared<KeyTable>();
  t->by_hash_.reserve(rows.size() + 1);
  if (!bootstrap_token.empty()) {
    KeyEntry e{std::string(kBootstrapId), "bootstrap admin key", "*", Role::kAdmin, 0, 0};
    t->by_hash_.emplace(Sha256(bootstrap_token), std::move(e));
  }
  for (const store::ApiKeyRow& r : rows) {
    auto role = ParseRole(r.role);
    auto digest = ParseHexDigest(r.hash);
    if (!role || !digest) {
      RF_LOG(kWarn, "stored API key skipped: unknown role or bad hash", {"id", r.id});
      continue;
    }
    t->by_hash_.emplace(*digest, KeyEntry{r.id, r.name, r.ns, *role, r.created_ms, r.expires_ms});
  }
  for (const auto& [hash, entry] : t->by_hash_) t->ordered_.push_back(&entry);
  std::sort(t->ordered_.begin(), t->ordered_.end(), [](const KeyEntry* a, const KeyEntry* b) {
    return a->created_ms != b->created_ms ? a->created_ms < b->created_ms : a->id < b->id;
  });
  return t;
}

const KeyEntry* KeyTable::Find(const Digest& token_hash) const {
  auto it = by_hash_.find(token_hash);
  return it == by_hash_.end() ? nullptr : &it->second;
}

}  // namespace rf::auth
