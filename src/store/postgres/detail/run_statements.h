#pragma once
// The run store's statements: one struct per statement, one member per
// parameter (multi-row statements take one array per column, built with
// ArrayText). Bind() hands the members to libpq in the statement's order, so
// no caller counts positions. Prepared statements also name themselves for
// the pool (kName, kSql, kParams: see Prepare in pg_setup.h). Private to
// store/postgres.

#include <string>
#include <string_view>
#include <vector>

#include "store/postgres/detail/array_text.h"
#include "store/postgres/detail/pg_setup.h"
#include "store/postgres/pg_conn.h"

namespace rf::store::pg::detail {

// Raises RF001 (and aborts the transaction) unless `owner` holds each partition
// in `partitions` at the matching epoch in `epochs` (migration 0004).
struct CheckFence {
  static constexpr std::string_view kName = "rf_fence";
  static constexpr std::string_view kSql = "SELECT rf_fence_each($1::smallint[], $2, $3::bigint[])";
  static constexpr int kParams = 3;
  std::string partitions;  // array
  std::string_view owner;
  std::string epochs;  // array, one per partition
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {partitions, owner, epochs}}; }
};

// The runs rows a batch changed. A row is written only by a batch whose epoch
// (its partition's lease epoch) is not older and whose last record is newer
// than the row's. history_bytes: the run's log size when the row was written (migration 0013;
// a finished run's row is written with its last records, so it holds the whole log).
// live_runs (migration 0015) follows the rows written: a live one is listed (once), a
// finished one leaves. The connection's rf.live_runs_kept = on keeps the triggers that do the
// same for other writers from firing (PgConn::Connect).
struct UpsertRuns {
  static constexpr std::string_view kName = "rf_runs";
  static constexpr std::string_view kSql =
      "WITH up AS (INSERT INTO runs (run_id, partition, workflow, version, status, priority, idempotency_key, "
      "input, output, error, created_at, updated_at, finished_at, deadline_at, epoch, last_seq, "
      "history_bytes) "
      "SELECT r, pa, w, v, st, pr, k, i::json, o::json, e::json, to_timestamp(c / 1000.0), "
      "to_timestamp(u / 1000.0), to_timestamp(f / 1000.0), to_timestamp(d / 1000.0), ep, l, hb "
      "FROM unnest($1::uuid[], $2::smallint[], $3::text[], $4::int[], $5::text[], $6::smallint[], "
      "$7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], "
      "$14::bigint[], $15::bigint[], $16::int[], $17::bigint[]) "
      "AS x(r, pa, w, v, st, pr, k, i, o, e, c, u, f, d, ep, l, hb) "
      "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, output = excluded.output, "
      "error = excluded.error, updated_at = excluded.updated_at, finished_at = excluded.finished_at, "
      "deadline_at = excluded.deadline_at, epoch = excluded.epoch, last_seq = excluded.last_seq, "
      "history_bytes = excluded.history_bytes "
      "WHERE runs.last_seq < excluded.last_seq AND runs.epoch <= excluded.epoch "
      "RETURNING run_id, partition, status IN ('queued', 'pending', 'running', 'waiting') AS live), "
      "gone AS (DELETE FROM live_runs l USING up WHERE l.run_id = up.run_id AND NOT up.live) "
      "INSERT INTO live_runs (run_id, partition) SELECT run_id, partition FROM up WHERE live "
      "ON CONFLICT (run_id) DO NOTHING";
  static constexpr int kParams = 17;
  ArrayText run_id, partition, workflow, version, status, priority, idempotency_key, input, output,
      error, created_ms, updated_ms, finished_ms, deadline_ms, epoch, last_seq, history_bytes;
  // Takes the arrays: call once. `keep` gives the stable storage Query's views need.
  template <class Keep>
  Query Bind(Keep keep) {
    return {.stmt_name_or_sql = kName,
            .prepared = true,
            .params = {keep(run_id.Take()), keep(partition.Take()), keep(workflow.Take()),
                       keep(version.Take()), keep(status.Take()), keep(priority.Take()),
                       keep(idempotency_key.Take()), keep(input.Take()), keep(output.Take()),
                       keep(error.Take()), keep(created_ms.Take()), keep(updated_ms.Take()),
                       keep(finished_ms.Take()), keep(deadline_ms.Take()), keep(epoch.Take()),
                       keep(last_seq.Take()), keep(history_bytes.Take())}};
  }
};

// One run_records row per run and batch: its records (one per line) and the
// events they produced (a JSON array), for replay and SSE history.
struct InsertRunRecords {
  static constexpr std::string_view kName = "rf_records";
  static constexpr std::string_view kSql =
      "INSERT INTO run_records (run_id, seq, last_seq, payload, at, ev_seq, ev_last, events) "
      "SELECT r, s, l, p, to_timestamp(a / 1000.0), es, el, ev "
      "FROM unnest($1::uuid[], $2::int[], $3::int[], $4::text[], $5::bigint[], $6::int[], $7::int[], "
      "$8::text[]) AS x(r, s, l, p, a, es, el, ev) "
      "ON CONFLICT (run_id, seq) DO NOTHING";
  static constexpr int kParams = 8;
  ArrayText run_id, first_seq, last_seq, payload, at_ms, first_event, last_event, events;
  template <class Keep>
  Query Bind(Keep keep) {
    return {.stmt_name_or_sql = kName,
            .prepared = true,
            .params = {keep(run_id.Take()), keep(first_seq.Take()), keep(last_seq.Take()),
                       keep(payload.Take()), keep(at_ms.Take()), keep(first_event.Take()),
                       keep(last_event.Take()), keep(events.Take())}};
  }
};

// The relay's queue: one row per batch, a line per run that had events, naming the partitions
// of those runs (migration 0016).
struct InsertOutbox {
  static constexpr std::string_view kName = "rf_outbox";
  static constexpr std::string_view kSql = "INSERT INTO outbox (parts, data) VALUES ($1::smallint[], $2::text)";
  static constexpr int kParams = 2;
  std::string_view partitions;  // array, each once
  std::string_view data;        // the lines
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {partitions, data}}; }
};

// Durable timers, one row per (run, step); step -1 is the run's deadline.
struct UpsertTimeouts {
  static constexpr std::string_view kName = "rf_timeouts";
  static constexpr std::string_view kSql =
      "INSERT INTO timeouts (run_id, step_index, expire_at, completed) "
      "SELECT r, s, to_timestamp(a / 1000.0), c FROM unnest($1::uuid[], $2::int[], $3::bigint[], "
      "$4::bool[]) AS x(r, s, a, c) ON CONFLICT (run_id, step_index) DO UPDATE SET "
      "expire_at = excluded.expire_at, completed = excluded.completed";
  static constexpr int kParams = 4;
  ArrayText run_id, step_index, expire_ms, completed;
  template <class Keep>
  Query Bind(Keep keep) {
    return {.stmt_name_or_sql = kName,
            .prepared = true,
            .params = {keep(run_id.Take()), keep(step_index.Take()), keep(expire_ms.Take()),
                       keep(completed.Take())}};
  }
};

// A run's committed events after `after_seq` (SSE history).
struct SelectEventHistory {
  static constexpr std::string_view kName = "rf_history";
  static constexpr std::string_view kSql =
      "SELECT ev_seq, ev_last, events FROM run_records WHERE run_id = $1::uuid AND ev_last > $2::int "
      "ORDER BY seq";
  static constexpr int kParams = 2;
  std::string run_id;
  std::string after_seq;
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {run_id, after_seq}}; }
};

// Reads of finished runs (PgHistoryStore), prepared on each shard's read pool. Rows of
// SelectFinishedRun start with kSummaryColumns, in the order of SummaryColumn.
constexpr std::string_view kSummaryColumns =
    "run_id, workflow, version, status, round(extract(epoch FROM created_at) * 1000)::bigint, "
    "round(extract(epoch FROM finished_at) * 1000)::bigint, idempotency_key, "
    "error->>'message', error->>'step'";
enum SummaryColumn : int {
  kRunId,
  kWorkflow,
  kVersion,
  kStatus,
  kCreatedMs,
  kFinishedMs,
  kIdempotencyKey,
  kError,
  kFailedStep,
  kSummaryEnd,  // the column after the summary
};

// A finished run's runs row (none while it is live).
struct SelectFinishedRun {
  static constexpr std::string_view kName = "rf_finished_run";
  static constexpr std::string_view kSql =
      "SELECT run_id, workflow, version, status, round(extract(epoch FROM created_at) * 1000)::bigint, "
      "round(extract(epoch FROM finished_at) * 1000)::bigint, idempotency_key, "
      "error->>'message', error->>'step' FROM runs WHERE run_id = $1::uuid AND finished_at IS NOT NULL";
  static constexpr int kParams = 1;
  std::string run_id;
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {run_id}}; }
};
static_assert(SelectFinishedRun::kSql.substr(7, kSummaryColumns.size()) == kSummaryColumns);

// A run's records, one row per commit, in order (lines of EncodeRecord's text).
struct SelectRunRecords {
  static constexpr std::string_view kName = "rf_run_records";
  static constexpr std::string_view kSql =
      "SELECT payload FROM run_records WHERE run_id = $1::uuid ORDER BY seq";
  static constexpr int kParams = 1;
  std::string run_id;
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {run_id}}; }
};

// The finished run started with an idempotency key (runs_idempotency_key).
struct SelectFinishedRunByKey {
  static constexpr std::string_view kName = "rf_finished_by_key";
  static constexpr std::string_view kSql =
      "SELECT run_id FROM runs WHERE workflow = $1::text AND idempotency_key = $2::text "
      "AND finished_at IS NOT NULL ORDER BY run_id DESC LIMIT 1";
  static constexpr int kParams = 2;
  std::string workflow;
  std::string idempotency_key;
  Query Bind() const {
    return {.stmt_name_or_sql = kName, .prepared = true, .params = {workflow, idempotency_key}};
  }
};

// Retention of runs kept in memory (no history store): their rows go.
struct ForgetRecords {
  static constexpr std::string_view kName = "rf_forget_records";
  static constexpr std::string_view kSql = "DELETE FROM run_records WHERE run_id = ANY($1::uuid[])";
  static constexpr int kParams = 1;
};
struct ForgetRuns {
  static constexpr std::string_view kName = "rf_forget_runs";
  static constexpr std::string_view kSql = "DELETE FROM runs WHERE run_id = ANY($1::uuid[])";
  static constexpr int kParams = 1;
};
struct ForgetTimeouts {
  static constexpr std::string_view kName = "rf_forget_timeouts";
  static constexpr std::string_view kSql = "DELETE FROM timeouts WHERE run_id = ANY($1::uuid[])";
  static constexpr int kParams = 1;
};

// Takes those of `partitions` whose lease is free, expired (by the database's
// clock) or already `owner`'s, each with a new fencing epoch, for kLeaseSeconds.
// Answers the partitions taken with their epochs; a lease another instance
// holds is left alone (its row is locked and re-checked, so two takers never
// both win).
struct ClaimPartitions {
  static constexpr std::string_view kSql =
      "WITH e AS (SELECT COALESCE(max(epoch), 0) + 1 AS v FROM partition_leases) "
      "INSERT INTO partition_leases AS l (partition, owner, epoch, expires_at) "
      "SELECT p, $2, e.v, now() + $3::int * interval '1 second' FROM unnest($1::smallint[]) AS p, e "
      "ON CONFLICT (partition) DO UPDATE SET owner = excluded.owner, epoch = excluded.epoch, "
      "expires_at = excluded.expires_at WHERE l.owner = excluded.owner OR l.expires_at < now() "
      "RETURNING partition, epoch";
  std::string_view partitions;
  std::string_view owner;
  std::string_view lease_seconds;
  Query Bind() const {
    return {.stmt_name_or_sql = kSql, .prepared = false, .params = {partitions, owner, lease_seconds}};
  }
};

// Open and takeover: the records of the live runs of `partitions` (live_runs, migration 0015);
// finished runs are read through PgHistoryStore when asked for. Each live run's records by
// its primary key (the LATERAL subquery with ORDER BY is not flattened): written as a plain
// join, the planner hashed the whole run_records table (a sequential scan of every retained
// run's records: 1M retained runs cost the restart a second).
struct SelectLiveRecords {
  static constexpr std::string_view kSql =
      "SELECT r.payload FROM live_runs u CROSS JOIN LATERAL (SELECT x.payload, x.seq FROM run_records x "
      "WHERE x.run_id = u.run_id ORDER BY x.seq) r "
      "WHERE u.partition = ANY($1::smallint[]) ORDER BY u.run_id, r.seq";
  std::string_view partitions;
  Query Bind() const { return {.stmt_name_or_sql = kSql, .prepared = false, .params = {partitions}}; }
};

// Open and takeover: the pending timers of the live runs (live_runs, then the timeouts key).
struct SelectLiveTimers {
  static constexpr std::string_view kSql =
      "SELECT t.run_id, t.step_index, (extract(epoch FROM t.expire_at) * 1000)::bigint "
      "FROM live_runs u JOIN timeouts t ON t.run_id = u.run_id "
      "WHERE u.partition = ANY($1::smallint[]) AND NOT t.completed";
  std::string_view partitions;
  Query Bind() const { return {.stmt_name_or_sql = kSql, .prepared = false, .params = {partitions}}; }
};

// The heartbeat: keeps the leases this owner holds at these epochs for
// kLeaseSeconds more. Affects fewer rows than it names when one was taken over.
struct RenewLeases {
  static constexpr std::string_view kSql =
      "UPDATE partition_leases l SET expires_at = now() + $4::int * interval '1 second' "
      "FROM unnest($1::smallint[], $3::bigint[]) AS h(p, e) "
      "WHERE l.partition = h.p AND l.epoch = h.e AND l.owner = $2";
  std::string_view partitions;
  std::string_view owner;
  std::string_view epochs;
  std::string_view lease_seconds;
  Query Bind() const {
    return {.stmt_name_or_sql = kSql, .prepared = false, .params = {partitions, owner, epochs, lease_seconds}};
  }
};

// A clean stop hands its partitions over: their leases expire now, so another
// instance may take them at its next look instead of waiting for the expiry.
struct ReleaseLeases {
  static constexpr std::string_view kSql =
      "UPDATE partition_leases l SET expires_at = now() - interval '1 second' "
      "FROM unnest($1::smallint[], $3::bigint[]) AS h(p, e) "
      "WHERE l.partition = h.p AND l.epoch = h.e AND l.owner = $2";
  std::string_view partitions;
  std::string_view owner;
  std::string_view epochs;
  Query Bind() const { return {.stmt_name_or_sql = kSql, .prepared = false, .params = {partitions, owner, epochs}}; }
};

// Shard 0's beat: this instance is alive, where it answers (--advertise, for
// peers that forward requests to the holder of a partition; empty: not
// advertised) and how many shards it runs (its share of the ring; 0005, 0006).
struct UpsertInstance {
  static constexpr std::string_view kName = "rf_instance";
  static constexpr std::string_view kSql =
      "INSERT INTO instances (id, advertise, seen_at, shards, standby) VALUES ($1, $2, now(), $3::int, $4::bool) "
      "ON CONFLICT (id) DO UPDATE SET advertise = excluded.advertise, seen_at = excluded.seen_at, "
      "shards = excluded.shards, standby = excluded.standby";
  static constexpr int kParams = 4;
  std::string_view id;
  std::string_view advertise;
  std::string_view shards;
  std::string_view standby;  // "t" or "f"
  Query Bind() const {
    return {.stmt_name_or_sql = kName, .prepared = true, .params = {id, advertise, shards, standby}};
  }
};

// The live instances: a beat within the lease time, so an instance leaves the
// ring about when its leases expire.
struct SelectMembers {
  static constexpr std::string_view kName = "rf_members";
  static constexpr std::string_view kSql =
      "SELECT id, shards, standby FROM instances WHERE seen_at > now() - $1::int * interval '1 second' ORDER BY id";
  static constexpr int kParams = 1;
  std::string_view live_seconds;
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {live_seconds}}; }
};

// A clean stop leaves the ring at once (the others take its partitions at their next beat).
struct DeleteInstance {
  static constexpr std::string_view kSql = "DELETE FROM instances WHERE id = $1";
  std::string_view id;
  Query Bind() const { return {.stmt_name_or_sql = kSql, .prepared = false, .params = {id}}; }
};

// Rows of instances that stopped beating a day ago (killed, never restarted).
struct DeleteGoneInstances {
  static constexpr std::string_view kSql = "DELETE FROM instances WHERE seen_at < now() - interval '1 day'";
  Query Bind() const { return {.stmt_name_or_sql = kSql, .prepared = false, .params = {}}; }
};

// The address of the other instance whose lease on `partition` is live (no row:
// nobody else holds it, or its holder never advertised).
struct SelectHolder {
  static constexpr std::string_view kName = "rf_holder";
  static constexpr std::string_view kSql =
      "SELECT i.advertise FROM partition_leases l JOIN instances i ON i.id = l.owner "
      "WHERE l.partition = $1::smallint AND l.expires_at > now() AND l.owner <> $2";
  static constexpr int kParams = 2;
  std::string_view partition;
  std::string_view me;
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {partition, me}}; }
};

// The prepared statements of the run store's commit pool (reads: ReadStatements).
inline const std::vector<Statement>& RunStoreStatements() {
  static const std::vector<Statement> kAll = {
      Prepare<CheckFence>(),     Prepare<InsertRunRecords>(),
      Prepare<UpsertRuns>(),     Prepare<InsertOutbox>(),
      Prepare<UpsertTimeouts>(), Prepare<ForgetRecords>(),
      Prepare<ForgetRuns>(),
      Prepare<ForgetTimeouts>(), Prepare<UpsertInstance>(),
      Prepare<SelectHolder>(), Prepare<SelectMembers>(),
  };
  return kAll;
}

// The prepared statements of a shard's read pool (history reads and SSE history).
inline const std::vector<Statement>& ReadStatements() {
  static const std::vector<Statement> kAll = {
      Prepare<SelectFinishedRun>(), Prepare<SelectRunRecords>(),
      Prepare<SelectFinishedRunByKey>(), Prepare<SelectEventHistory>(),
  };
  return kAll;
}

}  // namespace rf::store::pg::detail
