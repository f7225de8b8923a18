#include "store/postgres/pg_secrets.h"

#include "base/hex.h"
#include "reactor/offload.h"
#include "store/postgres/pg_blocking.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg {
namespace {

constexpr const char* kWhat = "postgres secrets";

}  // namespace

reactor::Task<Result<std::vector<SecretRow>>> PgSecretStore::Load() {
  auto op = reactor::Offload([url = url_]() -> Result<std::vector<SecretRow>> {
    auto c = ConnectBlocking(url, kWhat);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(),
                          "SELECT namespace, name, encode(sealed, 'hex'), key_id, created_ms, updated_ms "
                          "FROM secrets ORDER BY namespace, name",
                          {}, kWhat);
    if (!r) return r.error();
    std::vector<SecretRow> out;
    PGresult* res = r->get();
    for (int i = 0; i < PQntuples(res); ++i) {
      SecretRow s;
      s.ns = PQgetvalue(res, i, 0);
      s.name = PQgetvalue(res, i, 1);
      auto sealed = HexDecode(PQgetvalue(res, i, 2));
      if (!sealed) return Error{Errc::kCorrupt, std::string(kWhat) + ": a sealed value is not hex"};
      s.sealed = std::move(*sealed);
      s.key_id = PQgetvalue(res, i, 3);
      s.created_ms = std::strtoll(PQgetvalue(res, i, 4), nullptr, 10);
      s.updated_ms = std::strtoll(PQgetvalue(res, i, 5), nullptr, 10);
      out.push_back(std::move(s));
    }
    return out;
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgSecretStore::Put(const SecretRow& row) {
  auto op = reactor::Offload([url = url_, ns = row.ns, name = row.name, sealed = HexEncode(row.sealed),
                              key_id = row.key_id, created = std::to_string(row.created_ms),
                              updated = std::to_string(row.updated_ms)]() -> Status {
    auto c = ConnectBlocking(url, kWhat);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(),
                          "INSERT INTO secrets (namespace, name, sealed, key_id, created_ms, updated_ms) "
                          "VALUES ($1, $2, decode($3, 'hex'), $4, $5, $6) "
                          "ON CONFLICT (namespace, name) DO UPDATE SET sealed = EXCLUDED.sealed, "
                          "key_id = EXCLUDED.key_id, updated_ms = EXCLUDED.updated_ms",
                          {ns, name, sealed, key_id, created, updated}, kWhat);
    if (!r) return r.error();
    return {};
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgSecretStore::Delete(std::string_view ns, std::string_view name) {
  auto op = reactor::Offload([url = url_, ns = std::string(ns), name = std::string(name)]() -> Status {
    auto c = ConnectBlocking(url, kWhat);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(), "DELETE FROM secrets WHERE namespace = $1 AND name = $2",
                          {ns, name}, kWhat);
    if (!r) return r.error();
    if (std::string_view(PQcmdTuples(r->get())) == "0")
      return Error{Errc::kNotFound, "no secret " + name + " in namespace " + ns};
    return {};
  });
  co_return co_await op;  // suspends
}

std::unique_ptr<SecretStore> PgStoreFactory::MakeSecretStore() {
  return std::make_unique<PgSecretStore>(options_.url);
}

}  // namespace rf::store::pg
