#pragma once
// The PostgreSQL adapter of SecretStore: the secrets table (migration 0008), sealed values
// only. As PgKeyStore: rare changes, blocking libpq on the offload pool (pg_blocking.h).

#include <string>
#include <vector>

#include "store/store.h"

namespace rf::store::pg {

class PgSecretStore final : public SecretStore {
 public:
  explicit PgSecretStore(std::string url) : url_(std::move(url)) {}
  reactor::Task<Result<std::vector<SecretRow>>> Load() override;
  reactor::Task<Status> Put(const SecretRow& row) override;
  reactor::Task<Status> Delete(std::string_view ns, std::string_view name) override;
  bool shared() const override { return true; }

 private:
  std::string url_;
};

}  // namespace rf::store::pg
