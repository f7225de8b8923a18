#pragma once
// Blocking libpq for the small tables that change rarely and never on a request's path (API
// keys, secrets) and for the audit log's writer: every call here runs on the offload pool
// (reactor/offload.h), never on a shard. A connection of its own, connect_timeout 5 s,
// statement_timeout 5 s.

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace rf::store::pg {

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using BlockingConn = std::unique_ptr<PGconn, PgConnDeleter>;
using BlockingRes = std::unique_ptr<PGresult, PgResDeleter>;

// Errors: kUnavailable with the server's message, prefixed with `what` ("postgres keys").
Result<BlockingConn> ConnectBlocking(const std::string& url, const char* what);
// One statement with text parameters. Errors: kConflict (unique violation), kIo, with the
// server's message prefixed with `what`.
Result<BlockingRes> ExecBlocking(PGconn* c, const char* sql, const std::vector<std::string>& params,
                                 const char* what);

}  // namespace rf::store::pg
