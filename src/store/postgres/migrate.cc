#include "store/postgres/migrate.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace rf::store::pg {
namespace {

// Any 64-bit key shared by every ringflow migrator.
constexpr const char* kLock = "SELECT pg_advisory_lock(7239811046582319443)";

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
using Res = std::unique_ptr<PGresult, ResultDeleter>;

std::string Message(PGconn* c) {
  std::string m = PQerrorMessage(c);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

Result<Conn> Connect(const std::string& url) {
  Conn c(PQconnectdb(url.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK)
    return Error{Errc::kUnavailable, "cannot connect to PostgreSQL: " + (c ? Message(c.get()) : "out of memory")};
  return c;
}

Status Exec(PGconn* c, const char* sql) {
  Res r(PQexec(c, sql));
  ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Error{Errc::kIo, Message(c)};
  return {};
}

Result<SchemaState> Read(PGconn* c) {
  if (auto st = Exec(c, "SET client_min_messages = warning"); !st) return st.error();
  if (auto st = Exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        "version integer PRIMARY KEY, name text NOT NULL, "
                        "applied_at timestamptz NOT NULL DEFAULT now())");
      !st)
    return st.error();
  Res r(PQexec(c, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return Error{Errc::kIo, Message(c)};
  SchemaState s;
  s.known = Migrations().empty() ? 0 : Migrations().back().version;
  std::vector<int> applied;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    int v = std::atoi(PQgetvalue(r.get(), i, 0));
    applied.push_back(v);
    s.applied = std::max(s.applied, v);
    s.lines.push_back(std::to_string(v) + " " + PQgetvalue(r.get(), i, 1) + "  applied " +
                      PQgetvalue(r.get(), i, 2));
  }
  for (const Migration& m : Migrations()) {
    if (std::find(applied.begin(), applied.end(), m.version) == applied.end())
      s.lines.push_back(std::to_string(m.version) + " " + m.name + "  pending");
  }
  if (std::find(applied.begin(), applied.end(), kClusterSecretVersion) != applied.end()) {
    Res secret(PQexec(c, "SELECT secret FROM cluster_secret"));
    if (PQresultStatus(secret.get()) != PGRES_TUPLES_OK) return Error{Errc::kIo, Message(c)};
    if (PQntuples(secret.get()) == 1) s.cluster_secret = PQgetvalue(secret.get(), 0, 0);
  }
  return s;
}

}  // namespace

Result<SchemaState> ReadSchema(const std::string& url) {
  auto c = Connect(url);
  if (!c) return c.error();
  return Read(c->get());
}

Result<SchemaState> MigrateUp(const std::string& url) {
  auto c = Connect(url);
  if (!c) return c.error();
  PGconn* conn = c->get();
  if (auto st = Exec(conn, kLock); !st) return st.error();
  auto state = Read(conn);
  if (!state) return state.error();
  if (state->applied > state->known) {
    return Error{Errc::kConflict, "the database schema is at version " + std::to_string(state->applied) +
                                      ", newer than this ringflow knows (" + std::to_string(state->known) +
                                      "): upgrade ringflow"};
  }
  bool applied_any = false;
  for (const Migration& m : Migrations()) {
    if (m.version <= state->applied) continue;
    applied_any = true;
    if (auto st = Exec(conn, "BEGIN"); !st) return st.error();
    if (auto st = Exec(conn, m.sql); !st) {
      (void)Exec(conn, "ROLLBACK");  // the migration error is the one to report
      return Error{Errc::kIo, "migration " + std::to_string(m.version) + " " + m.name + " failed: " +
                                  st.error().context};
    }
    std::string rec = "INSERT INTO schema_migrations (version, name) VALUES (" +
                      std::to_string(m.version) + ", '" + m.name + "')";
    if (auto st = Exec(conn, rec.c_str()); !st) return st.error();
    if (auto st = Exec(conn, "COMMIT"); !st) return st.error();
  }
  if (!applied_any) return state;  // `serve --migrate true` on an up-to-date schema: read once
  return Read(conn);
}

Status CheckSchema(const std::string& url) {
  auto s = ReadSchema(url);
  if (!s) return s.error();
  return CheckSchema(*s);
}

Status CheckSchema(const SchemaState& s) {
  if (s.applied == s.known) return {};
  if (s.applied < s.known) {
    return Error{Errc::kConflict, "the database schema is at version " + std::to_string(s.applied) +
                                      ", this ringflow needs " + std::to_string(s.known) +
                                      ": run `ringflow migrate up` (or start with --migrate)"};
  }
  return Error{Errc::kConflict, "the database schema is at version " + std::to_string(s.applied) +
                                    ", newer than this ringflow knows (" + std::to_string(s.known) +
                                    "): upgrade ringflow"};
}

}  // namespace rf::store::pg
