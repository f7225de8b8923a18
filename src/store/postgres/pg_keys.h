#pragma once
// The PostgreSQL adapter of KeyStore: the api_keys table (migration 0007). Key changes are rare
// and never on a request's path, so each call runs blocking libpq on the offload pool (a short
// connection of its own, connect_timeout 5 s, statement_timeout 5 s), never on the shard.

#include <string>
#include <vector>

#include "store/store.h"

namespace rf::store::pg {

class PgKeyStore final : public KeyStore {
 public:
  explicit PgKeyStore(std::string url) : url_(std::move(url)) {}
  reactor::Task<Result<std::vector<ApiKeyRow>>> Load() override;
  reactor::Task<Status> Insert(const ApiKeyRow& key) override;
  reactor::Task<Status> Revoke(std::string_view id, int64_t at_ms) override;
  bool shared() const override { return true; }

 private:
  std::string url_;
};

}  // namespace rf::store::pg
