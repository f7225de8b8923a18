#include "store/postgres/pg_blocking.h"

#include <string_view>

namespace rf::store::pg {

Result<BlockingConn> ConnectBlocking(const std::string& url, const char* what) {
  const char* keys[] = {"dbname", "connect_timeout", "options", nullptr};
  const char* vals[] = {url.c_str(), "5", "-c statement_timeout=5000", nullptr};
  BlockingConn c(PQconnectdbParams(keys, vals, 1));
  if (!c || PQstatus(c.get()) != CONNECTION_OK)
    return Error{Errc::kUnavailable,
                 std::string(what) + ": " + (c ? PQerrorMessage(c.get()) : "out of memory")};
  return c;
}

Result<BlockingRes> ExecBlocking(PGconn* c, const char* sql, const std::vector<std::string>& params,
                                 const char* what) {
  std::vector<const char*> p;
  for (const auto& s : params) p.push_back(s.c_str());
  BlockingRes r(PQexecParams(c, sql, static_cast<int>(p.size()), nullptr, p.data(), nullptr, nullptr, 0));
  const auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  // 23505: a duplicate key; RF002: a deposed leader's write (rf_leader_fence, migration 0011).
  const bool conflict = state && (std::string_view(state) == "23505" || std::string_view(state) == "RF002");
  Errc code = conflict ? Errc::kConflict : Errc::kIo;
  return Error{code, std::string(what) + ": " + PQerrorMessage(c)};
}

}  // namespace rf::store::pg
