// PgDefinitionLog: the registry's log on PostgreSQL (workflows, workflow_versions).

#include <deque>
#include <string>

#include "obs/log.h"
#include "reactor/shard.h"
#include "store/postgres/detail/pg_setup.h"
#include "store/postgres/detail/text.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg {


namespace {

// One struct per statement, one member per parameter; Bind() gives them in order.
struct MarkWorkflowDeleted {
  static constexpr std::string_view kSql =
      "UPDATE workflows SET deleted = true, updated_at = now() WHERE name = $1";
  std::string_view name;
  Query Bind() const { return {.stmt_name_or_sql = kSql, .prepared = false, .params = {name}}; }
};

struct UpsertWorkflow {
  static constexpr std::string_view kSql =
      "INSERT INTO workflows (name, latest, deleted) VALUES ($1, $2::int, false) "
      "ON CONFLICT (name) DO UPDATE SET latest = excluded.latest, deleted = false, "
      "updated_at = now()";
  std::string_view name;
  std::string_view latest;
  Query Bind() const { return {.stmt_name_or_sql = kSql, .prepared = false, .params = {name, latest}}; }
};

struct InsertWorkflowVersion {
  static constexpr std::string_view kSql =
      "INSERT INTO workflow_versions (name, version, source) VALUES ($1, $2::int, $3) "
      "ON CONFLICT (name, version) DO NOTHING";
  std::string_view name;
  std::string_view version;
  std::string_view source;
  Query Bind() const {
    return {.stmt_name_or_sql = kSql, .prepared = false, .params = {name, version, source}};
  }
};

// After the insert, in the same transaction: whether the stored version is ours. Another
// instance may have made the same version number first (both read the same latest); a
// resent commit of our own (its COMMIT's outcome was lost) finds our text.
struct VersionIsOurs {
  static constexpr std::string_view kSql =
      "SELECT source = $3 FROM workflow_versions WHERE name = $1 AND version = $2::int";
  std::string_view name;
  std::string_view version;
  std::string_view source;
  Query Bind() const {
    return {.stmt_name_or_sql = kSql, .prepared = false, .params = {name, version, source}};
  }
};

}  // namespace

PgDefinitionLog::~PgDefinitionLog() = default;

reactor::Task<Status> PgDefinitionLog::Open(DefinitionSink& sink) {
  pool_ = detail::MakePool(options_, 1, {});
  co_return co_await Reload(sink);  // suspends
}

// Every version, in order, then the deleted names: the same sequence of changes
// for every instance, whichever made them.
reactor::Task<Status> PgDefinitionLog::Reload(DefinitionSink& sink) {
  auto conn = co_await pool_->Acquire(Deadline::After(30 * kSeconds));  // suspends
  if (!conn) co_return Error{conn.error().code, "PostgreSQL: " + conn.error().context};
  PgLease lease(pool_.get(), *conn);
  // Reloads come every second: first ask whether anything changed at all.
  Query count[] = {{.stmt_name_or_sql = "SELECT (SELECT count(*) FROM workflow_versions) || ',' || "
                                        "(SELECT count(*) FROM workflows WHERE deleted)",
                    .prepared = false, .params = {}}};
  auto counted = co_await lease->Pipeline(count, Deadline::After(30 * kSeconds));  // suspends
  if (!counted) co_return counted.error();
  if (Status st = FirstError(*counted); !st) co_return st;
  const std::string seen((*counted)[0].value(0, 0));
  if (seen == seen_) co_return Status{};
  Query qs[] = {{.stmt_name_or_sql = "SELECT name, version, source FROM workflow_versions ORDER BY name, version",
                 .prepared = false, .params = {}},
                {.stmt_name_or_sql = "SELECT name FROM workflows WHERE deleted ORDER BY name",
                 .prepared = false, .params = {}}};
  auto res = co_await lease->Pipeline(qs, Deadline::After(60 * kSeconds));  // suspends
  if (!res) co_return res.error();
  if (Status st = FirstError(*res); !st) co_return st;
  const PgResult& versions = (*res)[0];
  for (int i = 0; i < versions.rows(); ++i) {
    DefinitionChange c{.kind = DefinitionChange::Kind::kPut,
                       .name = std::string(versions.value(i, 0)),
                       .version = 0,
                       .source = std::string(versions.value(i, 2))};
    if (!detail::ParseInt(versions.value(i, 1), c.version))
      co_return Error{Errc::kCorrupt, "workflow_versions: bad version of " + c.name};
    if (Status st = sink.OnDefinition(c); !st) co_return st;
  }
  const PgResult& deleted = (*res)[1];
  for (int i = 0; i < deleted.rows(); ++i) {
    DefinitionChange c{.kind = DefinitionChange::Kind::kDelete,
                       .name = std::string(deleted.value(i, 0)),
                       .version = 0,
                       .source = {}};
    if (Status st = sink.OnDefinition(c); !st) co_return st;
  }
  seen_ = seen;  // a read that failed half way is read again next time
  co_return Status{};
}

void PgDefinitionLog::Append(const DefinitionChange& change) { pending_.push_back(change); }

reactor::Task<Status> PgDefinitionLog::Commit() {
  if (pending_.empty()) co_return Status{};
  auto batch = std::move(pending_);
  pending_.clear();
  std::vector<std::string> versions;  // the text of each put's version, bound below
  versions.reserve(batch.size());
  for (const DefinitionChange& c : batch) versions.push_back(std::to_string(c.version));
  std::vector<Query> qs;
  std::vector<std::pair<size_t, std::string>> checks;  // VersionIsOurs's index in qs, the workflow
  qs.push_back({.stmt_name_or_sql = "BEGIN", .prepared = false, .params = {}});
  for (size_t i = 0; i < batch.size(); ++i) {
    const DefinitionChange& c = batch[i];
    if (c.kind == DefinitionChange::Kind::kDelete) {
      qs.push_back(MarkWorkflowDeleted{.name = c.name}.Bind());
      continue;
    }
    qs.push_back(UpsertWorkflow{.name = c.name, .latest = versions[i]}.Bind());
    qs.push_back(InsertWorkflowVersion{.name = c.name, .version = versions[i], .source = c.source}.Bind());
    checks.emplace_back(qs.size(), c.name);
    qs.push_back(VersionIsOurs{.name = c.name, .version = versions[i], .source = c.source}.Bind());
  }
  qs.push_back({.stmt_name_or_sql = "COMMIT", .prepared = false, .params = {}});
  // The registry in memory already has these changes: they must reach the
  // database, so a failure is retried until it does.
  Nanos backoff = 100 * kMillis;
  while (true) {
    auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
    if (conn) {
      PgLease lease(pool_.get(), *conn);
      auto res = co_await lease->Pipeline(qs, detail::StatementDeadline(options_));  // suspends
      if (res) {
        Status st = FirstError(*res);
        if (st) {
          // A version taken by another instance: the rest of the batch is committed (the
          // workflow row's latest is that version either way); the caller undoes ours.
          for (const auto& [index, name] : checks)
            if ((*res)[index].rows() == 0 || (*res)[index].value(0, 0) != "t")
              co_return Error{Errc::kConflict, "workflow '" + name + "': version made by another instance"};
          co_return Status{};
        }
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

}  // namespace rf::store::pg
