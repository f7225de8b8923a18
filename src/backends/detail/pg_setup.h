#pragma once
// What the PostgreSQL backends share: their pools and statement deadlines. Private to backends/.

#include <memory>
#include <utility>
#include <vector>

#include "backends/pg_store.h"
#include "store/postgres/pg_pool.h"

namespace rf::backends::detail {

inline Deadline StatementDeadline(const PgOptions& o) { return Deadline::After(o.statement_timeout); }

// A started pool of `size` connections to o.url, each preparing `statements`. On the calling shard.
inline std::unique_ptr<store::pg::PgPool> MakePool(const PgOptions& o, size_t size,
                                                   std::vector<store::pg::Statement> statements) {
  store::pg::PgPool::Options po;
  po.url = o.url;
  po.size = size;
  po.statements = std::move(statements);
  auto pool = std::make_unique<store::pg::PgPool>(std::move(po));
  pool->Start();
  return pool;
}

}  // namespace rf::backends::detail
