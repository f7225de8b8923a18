#include "store/postgres/pg_history.h"

#include <libpq-fe.h>

#include <charconv>
#include <memory>

#include "base/tenancy.h"
#include "store/postgres/detail/pg_setup.h"
#include "store/postgres/detail/run_statements.h"
#include "store/postgres/detail/text.h"
#include "store/run_log.h"

namespace rf::store::pg {

namespace {

using detail::kSummaryColumns;
using enum detail::SummaryColumn;

// One statement's text and its parameters, built together: each Param() adds a
// value and returns the "$n::type" that names it in the text.
class Bound {
 public:
  std::string Param(std::string value, std::string_view type) {
    values_.push_back(std::move(value));
    return "$" + std::to_string(values_.size()) + "::" + std::string(type);
  }
  Query AsQuery() const {
    Query q{.stmt_name_or_sql = sql, .prepared = false};
    for (const std::string& v : values_) q.params.emplace_back(v);
    return q;
  }
  std::string sql;

 private:
  std::vector<std::string> values_;
};

// A page of finished runs, newest first. Only the filters that are set appear in
// the text, so the planner sees which partial index (runs_finished_by_workflow,
// runs_finished_by_status, or the primary key) serves it.
struct SelectFinishedRuns {
  std::string workflow;  // empty: any
  std::optional<std::string> ns;  // none: any
  std::optional<RunStatus> status;
  std::optional<RunId> before;
  size_t limit = 0;
  Bound Build() const {
    Bound b;
    b.sql = "SELECT " + std::string(kSummaryColumns) + " FROM runs WHERE finished_at IS NOT NULL";
    if (!workflow.empty()) {
      b.sql += " AND workflow = " + b.Param(workflow, "text");
    } else if (ns && *ns == kDefaultNamespace) {
      b.sql += " AND strpos(workflow, '/') = 0";  // base/tenancy.h: default names have no prefix
    } else if (ns) {
      b.sql += " AND starts_with(workflow, " + b.Param(*ns + "/", "text") + ")";
    }
    if (status)
      b.sql += " AND status = " + b.Param(std::string(RunStatusName(*status)), "text");
    if (before) b.sql += " AND run_id < " + b.Param(before->ToString(), "uuid");
    b.sql += " ORDER BY run_id DESC LIMIT " + b.Param(std::to_string(limit), "bigint");
    return b;
  }
};

// Bytes of finished runs by workflow (runs_finished_bytes, migration 0013).
struct SumHistoryBytes {
  Bound Build() const {
    Bound b;
    b.sql = "SELECT workflow, sum(history_bytes)::bigint FROM runs WHERE finished_at IS NOT NULL "
            "GROUP BY workflow";
    return b;
  }
};

// Retention (migration 0003's rf_expire): whole days first, then DEFAULT rows.
struct ExpireFinishedRuns {
  int64_t cutoff_ms = 0;
  size_t max_runs = 0;
  Bound Build() const {
    Bound b;
    b.sql = "SELECT rf_expire(to_timestamp(" + b.Param(std::to_string(cutoff_ms), "bigint") +
            " / 1000.0), " + b.Param(std::to_string(max_runs), "bigint") + ")";
    return b;
  }
};

// A singleton write's fence (rf_leader_fence, migration 0011): raises RF002 (kConflict) unless
// `term` is the job's current term with a live lease.
struct LeaderFence {
  std::string job;
  int64_t term = 0;
  Bound Build() const {
    Bound b;
    b.sql = "SELECT rf_leader_fence(" + b.Param(job, "text") + ", " +
            b.Param(std::to_string(term), "bigint") + ")";
    return b;
  }
};

Result<HistoryRun> Summary(const PgResult& r, int row) {
  HistoryRun h;
  auto id = ParseRunId(r.value(row, kRunId));
  if (!id) return Error{Errc::kCorrupt, "history: bad run id " + std::string(r.value(row, kRunId))};
  h.id = *id;
  h.workflow = r.value(row, kWorkflow);
  if (!detail::ParseInt(r.value(row, kVersion), h.version) ||
      !ParseRunStatus(r.value(row, kStatus), h.status) ||
      !detail::ParseInt(r.value(row, kCreatedMs), h.created_ms) ||
      !detail::ParseInt(r.value(row, kFinishedMs), h.finished_ms))
    return Error{Errc::kCorrupt, "history: bad runs row " + id->ToString()};
  h.idempotency_key = r.value(row, kIdempotencyKey);
  h.error = r.value(row, kError);
  h.failed_step = r.value(row, kFailedStep);
  return h;
}

// Appends `lines` (records, one per line) to a run log: [u32 len][record] ...
void AppendLines(std::string& log, std::string_view lines) {
  while (!lines.empty()) {
    const size_t nl = lines.find('\n');
    AppendToLog(log, lines.substr(0, nl));
    lines = nl == std::string_view::npos ? std::string_view{} : lines.substr(nl + 1);
  }
}

constexpr Nanos kExpireTimeout = 120 * kSeconds;  // a day's partition is scanned once

// Runs `qs` as one pipeline on `pool` (the calling shard's). The caller keeps what the
// queries' views point to. suspends.
reactor::Task<Result<std::vector<PgResult>>> Exchange(PgPool* pool, std::vector<Query> qs,
                                                      Deadline deadline) {
  if (pool == nullptr)
    co_return Error{Errc::kUnavailable, "postgres history: this shard's store is not open"};
  auto conn = co_await pool->Acquire(deadline);  // suspends
  if (!conn) co_return conn.error();
  PgLease lease(pool, *conn);
  auto res = co_await lease->Pipeline(qs, deadline);  // suspends
  if (!res) co_return res.error();
  if (Status st = FirstError(*res); !st) co_return st.error();
  co_return std::move(*res);
}

}  // namespace

reactor::Task<Status> PgHistoryStore::Put(std::vector<HistoryRun>) {
  co_return Status{};  // fed by commits: the runs are there already
}

reactor::Task<Result<std::optional<HistoryRun>>> PgHistoryStore::Get(RunId id) {
  const Nanos t0 = MonoNow();
  const detail::SelectFinishedRun run_row{.run_id = id.ToString()};
  const detail::SelectRunRecords records_of{.run_id = run_row.run_id};
  std::vector<Query> qs = {run_row.Bind(), records_of.Bind()};
  auto res = co_await Exchange(pools_().reads, std::move(qs), detail::StatementDeadline(options_));
  stats_.reads.Add();
  if (!res) co_return res.error();
  const PgResult& row = (*res)[0];
  if (row.rows() == 0) co_return std::optional<HistoryRun>();
  auto run = Summary(row, 0);
  if (!run) co_return run.error();
  const PgResult& records = (*res)[1];
  for (int i = 0; i < records.rows(); ++i) AppendLines(run->log, records.value(i, 0));
  stats_.read_latency.ObserveNanos(MonoNow() - t0);
  co_return std::optional<HistoryRun>(std::move(*run));
}

reactor::Task<Result<std::optional<RunId>>> PgHistoryStore::FindKey(std::string workflow,
                                                                    std::string key) {
  const Nanos t0 = MonoNow();
  const detail::SelectFinishedRunByKey by_key{.workflow = std::move(workflow),
                                              .idempotency_key = std::move(key)};
  std::vector<Query> qs = {by_key.Bind()};
  auto res = co_await Exchange(pools_().reads, std::move(qs), detail::StatementDeadline(options_));
  stats_.reads.Add();
  if (!res) co_return res.error();
  const PgResult& row = (*res)[0];
  if (row.rows() == 0) co_return std::optional<RunId>();
  auto id = ParseRunId(row.value(0, 0));
  if (!id) co_return Error{Errc::kCorrupt, "history: bad run id " + std::string(row.value(0, 0))};
  stats_.read_latency.ObserveNanos(MonoNow() - t0);
  co_return std::optional<RunId>(*id);
}

reactor::Task<Result<std::vector<HistoryRun>>> PgHistoryStore::List(HistoryQuery q) {
  const Nanos t0 = MonoNow();
  const Bound page = SelectFinishedRuns{.workflow = std::move(q.workflow),
                                        .ns = std::move(q.ns),
                                        .status = q.status,
                                        .before = q.before,
                                        .limit = q.limit + 1}
                        .Build();
  std::vector<Query> qs = {page.AsQuery()};
  auto res = co_await Exchange(pools_().reads, std::move(qs), detail::StatementDeadline(options_));
  stats_.reads.Add();
  if (!res) co_return res.error();
  const PgResult& rows = (*res)[0];
  std::vector<HistoryRun> out;
  out.reserve(static_cast<size_t>(rows.rows()));
  for (int i = 0; i < rows.rows(); ++i) {
    auto run = Summary(rows, i);
    if (!run) co_return run.error();
    out.push_back(std::move(*run));
  }
  stats_.read_latency.ObserveNanos(MonoNow() - t0);
  co_return out;
}

reactor::Task<Status> PgHistoryStore::RefreshBytes() {
  if (!bytes_sink_) co_return Status{};
  const Bound sum = SumHistoryBytes{}.Build();
  std::vector<Query> qs = {sum.AsQuery()};
  // On the commit pool: a sum over every finished run would hold a read connection for long.
  auto res = co_await Exchange(pools_().writes, std::move(qs), detail::StatementDeadline(options_));  // suspends
  if (!res) co_return res.error();
  const PgResult& rows = (*res)[0];
  std::map<std::string, int64_t, std::less<>> totals;
  for (int i = 0; i < rows.rows(); ++i) {
    int64_t bytes = 0;
    if (!detail::ParseInt(rows.value(i, 1), bytes))
      co_return Error{Errc::kCorrupt, "history bytes: not a number"};
    totals[std::string(SplitQualified(rows.value(i, 0)).ns)] += bytes;
  }
  for (const auto& [ns, bytes] : reported_)
    if (!totals.contains(ns)) bytes_sink_(ns, 0);  // all of it expired
  for (const auto& [ns, bytes] : totals) bytes_sink_(ns, bytes);
  reported_ = std::move(totals);
  co_return Status{};
}

reactor::Task<Status> PgHistoryStore::Remove(RunId) {
  co_return Status{};  // the retry's first commit makes the runs row live again
}

reactor::Task<Result<size_t>> PgHistoryStore::Expire(int64_t cutoff_ms, size_t max, int64_t term) {
  // One pipeline, one implicit transaction: the fence aborts the drop when this daemon is not
  // the retention's leader at `term` any more (migration 0011).
  const Bound fence = LeaderFence{.job = std::string(kJobHistoryRetention), .term = term}.Build();
  const Bound expire = ExpireFinishedRuns{.cutoff_ms = cutoff_ms, .max_runs = max}.Build();
  std::vector<Query> qs = {fence.AsQuery(), expire.AsQuery()};
  auto res = co_await Exchange(pools_().writes, std::move(qs), Deadline::After(kExpireTimeout));
  if (!res) co_return res.error();
  size_t removed = 0;
  if ((*res)[1].rows() != 1 || !detail::ParseInt((*res)[1].value(0, 0), removed))
    co_return Error{Errc::kInternal, "rf_expire returned no count"};
  stats_.runs_expired.Add(removed);
  co_return removed;
}

const std::vector<Statement>& PgHistoryStore::ReadStatements() { return detail::ReadStatements(); }

Status PgHistoryStore::Export(int64_t before_ms,
                              const std::function<Status(const HistoryRun&)>& out) {
  struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  std::unique_ptr<PGconn, ConnDeleter> conn(PQconnectdb(options_.url.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK)
    return Error{Errc::kUnavailable,
                 "postgres history export: " + std::string(conn ? PQerrorMessage(conn.get()) : "")};
  auto exec = [&](const std::string& sql) -> Result<PgResult> {
    PgResult r(PQexec(conn.get(), sql.c_str()));
    if (!r.ok()) return r.ToError();
    return r;
  };
  // One snapshot for the whole export; a cursor sorts once and hands out pages.
  if (auto r = exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !r) return r.error();
  const std::string declare =
      "DECLARE rf_export NO SCROLL CURSOR FOR SELECT " + std::string(kSummaryColumns) +
      ", (SELECT string_agg(payload, E'\\n' ORDER BY seq) FROM run_records r "
      "WHERE r.run_id = u.run_id) FROM runs u WHERE finished_at < to_timestamp(" +
      std::to_string(before_ms) + " / 1000.0) ORDER BY finished_at, run_id";
  if (auto r = exec(declare); !r) return r.error();
  while (true) {
    auto page = exec("FETCH 200 FROM rf_export");
    if (!page) return page.error();
    if (page->rows() == 0) break;
    for (int i = 0; i < page->rows(); ++i) {
      auto run = Summary(*page, i);
      if (!run) return run.error();
      AppendLines(run->log, page->value(i, kSummaryEnd));
      if (Status st = out(*run); !st) return st;
    }
  }
  if (auto r = exec("COMMIT"); !r) return r.error();
  return {};
}

}  // namespace rf::store::pg
