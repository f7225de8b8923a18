#pragma once
// Schema migrations: the SQL files in migrations/ (embedded at build time),
// applied in version order, each in its own transaction, recorded in
// schema_migrations. Blocking libpq: for `ringflow migrate` and for the check
// `serve` makes before its reactor starts, never on a shard.

#include <string>
#include <vector>

#include "base/result.h"

namespace rf::store::pg {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Every migration this binary knows, ascending.
const std::vector<Migration>& Migrations();

// The migration that made cluster_secret.
inline constexpr int kClusterSecretVersion = 14;

struct SchemaState {
  int applied = 0;        // the highest applied version (0: none)
  int known = 0;          // the highest this binary knows
  std::vector<std::string> lines;  // "0001 init  applied 2026-..." / "... pending"
  // What the daemons sharing the database sign their requests to each other with
  // (auth/peer_signature.h); empty before migration 0014 or if its row was deleted.
  std::string cluster_secret;
};

// Reads the state. Errors: kUnavailable (cannot connect), kIo (a query failed).
Result<SchemaState> ReadSchema(const std::string& url);

// Applies the pending migrations under an advisory lock (concurrent migrators
// wait for each other). Returns the state afterwards. Errors as ReadSchema, and
// kConflict when the database has a version this binary does not know.
Result<SchemaState> MigrateUp(const std::string& url);

// For `serve`: ok when the schema is exactly what this binary knows; otherwise
// an error that says what to run (kConflict).
Status CheckSchema(const std::string& url);
// The same for a state already read (MigrateUp's answer: no second connection).
Status CheckSchema(const SchemaState& s);

}  // namespace rf::store::pg
