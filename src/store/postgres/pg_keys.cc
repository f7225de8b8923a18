#include "store/postgres/pg_keys.h"

#include <libpq-fe.h>

#include <memory>

#include "reactor/offload.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg {
namespace {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
using Res = std::unique_ptr<PGresult, ResDeleter>;

Result<Conn> ConnectBlocking(const std::string& url) {
  const char* keys[] = {"dbname", "connect_timeout", "options", nullptr};
  const char* vals[] = {url.c_str(), "5", "-c statement_timeout=5000", nullptr};
  Conn c(PQconnectdbParams(keys, vals, 1));
  if (!c || PQstatus(c.get()) != CONNECTION_OK)
    return Error{Errc::kUnavailable, "postgres keys: " + std::string(c ? PQerrorMessage(c.get()) : "out of memory")};
  return c;
}

// Runs one statement with text parameters; errors carry the server's message.
Result<Res> ExecBlocking(PGconn* c, const char* sql, const std::vector<std::string>& params) {
  std::vector<const char*> p;
  for (const auto& s : params) p.push_back(s.c_str());
  Res r(PQexecParams(c, sql, static_cast<int>(p.size()), nullptr, p.data(), nullptr, nullptr, 0));
  const auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  Errc code = state && std::string_view(state) == "23505" ? Errc::kConflict : Errc::kIo;
  return Error{code, "postgres keys: " + std::string(PQerrorMessage(c))};
}

}  // namespace

reactor::Task<Result<std::vector<ApiKeyRow>>> PgKeyStore::Load() {
  auto op = reactor::Offload([url = url_]() -> Result<std::vector<ApiKeyRow>> {
    auto c = ConnectBlocking(url);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(),
                          "SELECT id, name, namespace, role, sha256, created_ms, expires_ms "
                          "FROM api_keys WHERE revoked_ms IS NULL ORDER BY created_ms, id",
                          {});
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
    auto c = ConnectBlocking(url);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(),
                          "INSERT INTO api_keys (id, name, namespace, role, sha256, created_ms, "
                          "expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                          {key.id, key.name, key.ns, key.role, key.hash,
                           std::to_string(key.created_ms), std::to_string(key.expires_ms)});
    if (!r) return r.error();
    return {};
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgKeyStore::Revoke(std::string_view id, int64_t at_ms) {
  auto op = reactor::Offload([url = url_, id = std::string(id), at_ms]() -> Status {
    auto c = ConnectBlocking(url);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(),
                          "UPDATE api_keys SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
                          {id, std::to_string(at_ms)});
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
