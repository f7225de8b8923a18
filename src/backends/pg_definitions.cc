// PgDefinitionLog: the registry's log on PostgreSQL (workflows, workflow_versions).

#include <deque>
#include <string>

#include "backends/detail/pg_setup.h"
#include "backends/pg_store.h"
#include "engine/registry.h"
#include "json/parse.h"
#include "json/writer.h"
#include "obs/log.h"
#include "reactor/shard.h"

namespace rf::backends {

using store::pg::PgLease;
using store::pg::PgResult;
using store::pg::Query;

PgDefinitionLog::~PgDefinitionLog() = default;

reactor::Task<Status> PgDefinitionLog::Open(store::embedded::ReplaySink& sink) {
  pool_ = detail::MakePool(options_, 1, {});
  auto conn = co_await pool_->Acquire(Deadline::After(30 * kSeconds));  // suspends
  if (!conn) co_return Error{conn.error().code, "PostgreSQL: " + conn.error().context};
  PgLease lease(pool_.get(), *conn);
  Query qs[] = {{.stmt_name_or_sql = "SELECT name, version, source FROM workflow_versions ORDER BY name, version",
                 .prepared = false, .params = {}},
                {.stmt_name_or_sql = "SELECT name FROM workflows WHERE deleted ORDER BY name",
                 .prepared = false, .params = {}}};
  auto res = co_await lease->Pipeline(qs, Deadline::After(60 * kSeconds));  // suspends
  if (!res) co_return res.error();
  if (Status st = store::pg::FirstError(*res); !st) co_return st;
  uint64_t lsn = 0;
  const PgResult& versions = (*res)[0];
  for (int i = 0; i < versions.rows(); ++i) {
    json::Object o{{"name", std::string(versions.value(i, 0))},
                   {"version", static_cast<int64_t>(std::stoll(std::string(versions.value(i, 1))))},
                   {"source", std::string(versions.value(i, 2))}};
    Status st = sink.OnRecord(++lsn, static_cast<uint8_t>(engine::DefinitionRecord::kPut),
                              json::ToString(json::Value(std::move(o))));
    if (!st) co_return st;
  }
  const PgResult& deleted = (*res)[1];
  for (int i = 0; i < deleted.rows(); ++i) {
    Status st = sink.OnRecord(++lsn, static_cast<uint8_t>(engine::DefinitionRecord::kDelete),
                              engine::EncodeDefinitionDelete(deleted.value(i, 0)));
    if (!st) co_return st;
  }
  co_return Status{};
}

void PgDefinitionLog::Append(uint8_t type, std::string_view payload) {
  pending_.emplace_back(type, std::string(payload));
}

reactor::Task<Status> PgDefinitionLog::Commit() {
  if (pending_.empty()) co_return Status{};
  auto batch = std::move(pending_);
  pending_.clear();
  // The registry in memory already has these changes: they must reach the
  // database, so a failure is retried until it does.
  Nanos backoff = 100 * kMillis;
  while (true) {
    std::deque<std::string> owned;  // stable addresses: Query holds views into them
    std::vector<Query> qs;
    qs.push_back({.stmt_name_or_sql = "BEGIN", .prepared = false, .params = {}});
    for (auto& [type, payload] : batch) {
      auto v = json::Parse(payload, {.max_bytes = 8 << 20, .max_depth = 8});
      if (!v || !v->Find("name")) co_return Error{Errc::kInternal, "definitions: bad record"};
      std::string_view name = owned.emplace_back(v->Find("name")->as_string());
      if (type == static_cast<uint8_t>(engine::DefinitionRecord::kDelete)) {
        qs.push_back({.stmt_name_or_sql = "UPDATE workflows SET deleted = true, updated_at = now() WHERE name = $1",
                      .prepared = false, .params = {name}});
        continue;
      }
      std::string_view version = owned.emplace_back(std::to_string(v->Find("version")->as_int()));
      std::string_view source = owned.emplace_back(v->Find("source")->as_string());
      qs.push_back({.stmt_name_or_sql =
                        "INSERT INTO workflows (name, latest, deleted) VALUES ($1, $2::int, false) "
                        "ON CONFLICT (name) DO UPDATE SET latest = excluded.latest, deleted = false, "
                        "updated_at = now()",
                    .prepared = false, .params = {name, version}});
      qs.push_back({.stmt_name_or_sql =
                        "INSERT INTO workflow_versions (name, version, source) VALUES ($1, $2::int, $3) "
                        "ON CONFLICT (name, version) DO NOTHING",
                    .prepared = false, .params = {name, version, source}});
    }
    qs.push_back({.stmt_name_or_sql = "COMMIT", .prepared = false, .params = {}});
    auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
    if (conn) {
      PgLease lease(pool_.get(), *conn);
      auto res = co_await lease->Pipeline(qs, detail::StatementDeadline(options_));  // suspends
      if (res) {
        Status st = store::pg::FirstError(*res);
        if (st) co_return Status{};
        RF_LOG(kWarn, "postgres: definitions commit failed, retrying", {"error", st.error().ToString()});
      }
    }
    co_await reactor::Sleep(backoff);  // suspends
    backoff = std::min<Nanos>(backoff * 2, 2 * kSeconds);
  }
}

reactor::Task<Status> PgDefinitionLog::Close() {
  if (pool_) co_await pool_->Close();  // suspends
  co_return Status{};
}

}  // namespace rf::backends
