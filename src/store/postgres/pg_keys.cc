#include "store/postgres/pg_keys.h"

#include "reactor/offload.h"
#include "store/postgres/pg_blocking.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg {
namespace {

constexpr const char* kWhat = "postgres keys";

}  // namespace

reactor::Task<Result<std::vector<ApiKeyRow>>> PgKeyStore::Load() {
  auto op = reactor::Offload([url = url_]() -> Result<std::vector<ApiKeyRow>> {
    auto c = ConnectBlocking(url, kWhat);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(),
                          "SELECT id, name, namespace, role, sha256, created_ms, expires_ms "
                          "FROM api_keys WHERE revoked_ms IS NULL ORDER BY created_ms, id",
                          {}, kWhat);
    if (!r) return r.error();
    std::vector<ApiKeyRow> out;
    PGresult* res = r->get();
    for (int i = 0; i < PQntuples(res); ++i) {
      ApiKeyRow k;
      k.id = PQgetvalue(res, i, 0);
      k.name = PQgetvalue(res, i, 1);
      k.ns = PQgetvalue(res, i, 2);
      k.role = PQgetvalue(res, i, 3);
      k.hash = PQgetvalue(res, i, 4);
      k.created_ms = std::strtoll(PQgetvalue(res, i, 5), nullptr, 10);
      k.expires_ms = std::strtoll(PQgetvalue(res, i, 6), nullptr, 10);
      out.push_back(std::move(k));
    }
    return out;
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgKeyStore::Insert(const ApiKeyRow& key) {
  auto op = reactor::Offload([url = url_, key]() -> Status {
    auto c = ConnectBlocking(url, kWhat);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(),
                          "INSERT INTO api_keys (id, name, namespace, role, sha256, created_ms, "
                          "expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                          {key.id, key.name, key.ns, key.role, key.hash,
                           std::to_string(key.created_ms), std::to_string(key.expires_ms)},
                          kWhat);
    if (!r) return r.error();
    return {};
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgKeyStore::Revoke(std::string_view id, int64_t at_ms) {
  auto op = reactor::Offload([url = url_, id = std::string(id), at_ms]() -> Status {
    auto c = ConnectBlocking(url, kWhat);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(),
                          "UPDATE api_keys SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
                          {id, std::to_string(at_ms)}, kWhat);
    if (!r) return r.error();
    if (std::string_view(PQcmdTuples(r->get())) == "0") return Error{Errc::kNotFound, "no key " + id};
    return {};
  });
  co_return co_await op;  // suspends
}

std::unique_ptr<KeyStore> PgStoreFactory::MakeKeyStore() {
  return std::make_unique<PgKeyStore>(options_.url);
}

}  // namespace rf::store::pg
