#pragma once
// PgHistoryStore: finished runs served from PostgreSQL (HistoryStore).
//
// Fed by commits: a run's records are in run_records and its runs row holds its
// final status the moment its last group commit returns, so Put writes nothing
// and a finished run is "in history" exactly when its runs row has finished_at.
// Get reads the runs row and the run's records (one round trip); FindKey, List
// read runs through the partial indexes of migration 0003; Expire calls
// rf_expire (drops whole day partitions, see migrations/0003_history.sql).
//
// Threads. One instance per process. Get, FindKey, List and Expire run on any
// shard thread, with that shard's connection pools (the shard's PgRunStore's,
// found through `pools`), bounded by the statement deadline; they suspend and
// never block. Get, FindKey and List use the shard's read pool (--pg-read-pool,
// with ReadStatements prepared), so a read never queues behind the shard's group
// commits; Expire and RefreshBytes, which hold a connection for long, use the
// commit pool. They fail with kUnavailable when the calling shard's store is
// not open. Export is blocking (its own libpq connection): call it only where
// no shard runs, or from a helper thread (`archive`, reactor::Offload).
//
// Expire runs in one transaction with rf_leader_fence (migration 0011): kConflict, and nothing
// dropped, unless `term` is history retention's current term with a live lease.
//
// Expire drops whole days: one call may remove more than `max` runs (a day's
// partition is never split), and the count it returns is exact. It runs on the
// calling shard's pool, holding one connection for up to two minutes.
//
// Remove writes nothing: a retried run leaves history by itself, when the
// retry's first commit turns its runs row live again (finished_at NULL); until
// then the coordinator holds it in memory and does not ask history for it.

#include <functional>
#include <map>
#include <string>

#include "store/history_store.h"
#include "store/leader_election.h"
#include "store/postgres/pg_pool.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg {

class PgHistoryStore final : public HistoryStore {
 public:
  // The calling shard's pools; null where that shard has none (yet).
  struct ShardPools {
    PgPool* reads = nullptr;   // prepares ReadStatements()
    PgPool* writes = nullptr;  // the group commits'
  };
  using PoolsOfShard = std::function<ShardPools()>;

  PgHistoryStore(PgOptions options, PoolsOfShard pools)
      : options_(std::move(options)), pools_(std::move(pools)) {}

  // What a read pool prepares on each connection (Get, FindKey; SSE history).
  static const std::vector<Statement>& ReadStatements();

  Status Open() override { return {}; }
  void Close() override {}
  bool fed_by_commits() const override { return true; }

  reactor::Task<Status> Put(std::vector<HistoryRun> runs) override;
  reactor::Task<Result<std::optional<HistoryRun>>> Get(RunId id) override;
  reactor::Task<Result<std::optional<RunId>>> FindKey(std::string workflow,
                                                              std::string key) override;
  reactor::Task<Result<std::vector<HistoryRun>>> List(HistoryQuery q) override;
  reactor::Task<Status> Remove(RunId id) override;
  reactor::Task<Result<size_t>> Expire(int64_t cutoff_ms, size_t max, int64_t term) override;
  Status Export(int64_t before_ms,
                const std::function<Status(const HistoryRun&)>& out) override;

  // Retained bytes per namespace: sums runs.history_bytes of finished runs by workflow
  // (migration 0013) and hands each namespace's total to the sink; a namespace that had bytes
  // and has none now gets 0. On the calling shard's pool (call from one shard).
  bool refreshes_bytes() const override { return true; }
  reactor::Task<Status> RefreshBytes() override;

  // Counters are single-writer (obs::Counter): with several shards reading at
  // once an increment may be lost; they are for dashboards, not accounting.
  const HistoryStats& stats() const override { return stats_; }

 private:
  PgOptions options_;
  PoolsOfShard pools_;
  HistoryStats stats_;
  std::map<std::string, int64_t, std::less<>> reported_;  // the totals last handed to the sink
};

}  // namespace rf::store::pg
