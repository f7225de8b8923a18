#pragma once
// What the PostgreSQL adapters share: their pools and statement deadlines. Private to store/postgres.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/postgres/pg_pool.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg::detail {

// A statement struct (kName, kSql, kParams) as the pool prepares it on every connection.
template <class S>
Statement Prepare() {
  return {std::string(S::kName), std::string(S::kSql), S::kParams};
}

inline Deadline StatementDeadline(const PgOptions& o) { return Deadline::After(o.statement_timeout); }

// A started pool of `size` connections to o.url, each preparing `statements`. On the calling shard.
inline std::unique_ptr<PgPool> MakePool(const PgOptions& o, size_t size,
                                                   std::vector<Statement> statements) {
  PgPool::Options po;
  po.url = o.url;
  po.size = size;
  po.statements = std::move(statements);
  auto pool = std::make_unique<PgPool>(std::move(po));
  pool->Start();
  return pool;
}

}  // namespace rf::store::pg::detail
