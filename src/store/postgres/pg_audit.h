#pragma once
// The PostgreSQL adapter of AuditStore: the audit_log table (migration 0009), shared by every
// daemon on the database. Appends are one INSERT of the whole batch (unnest of arrays) on a
// connection the store keeps; Append and Trim run one at a time (the audit writer awaits each),
// always on the offload pool (blocking libpq, pg_blocking.h), never on the shard. A query uses
// a short connection of its own, so a page read never waits behind a batch. Trim is a singleton
// job's write: each batch is one rf_audit_trim call, fenced by the audit retention's lease
// (migration 0011).

#include <string>

#include "store/postgres/pg_blocking.h"
#include "store/store.h"

namespace rf::store::pg {

class PgAuditStore final : public AuditStore {
 public:
  explicit PgAuditStore(std::string url) : url_(std::move(url)) {}
  ~PgAuditStore() override;
  reactor::Task<Status> Open() override;
  reactor::Task<Status> Append(std::vector<AuditEntry>& entries) override;
  reactor::Task<Result<AuditPage>> Query(AuditQuery q) override;
  reactor::Task<Result<uint64_t>> Trim(int64_t before_ms, int64_t term) override;
  reactor::Task<Status> Close() override;

 private:
  std::string url_;
  BlockingConn conn_;  // touched only inside the offloaded Append / Trim, one at a time
};

}  // namespace rf::store::pg
