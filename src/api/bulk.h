#pragma once
// Bulk operations (POST /v1/operations): cancel or retry every run of a namespace that matches a
// filter, in the background, at a bounded rate, with progress readable while it works.
//
// An operation lives on the shard that accepted it (its id names that shard, so any shard
// routes GET /v1/operations/{id} there, as run ids name their partition). Its worker pages
// through the runs (Engine::List, newest first, the cursor moving past each page) and sends one
// command at a time to each run's owner shard, or to the instance holding it (SendToHolder,
// with the caller's credential), pausing so it never exceeds max_per_second: live work keeps
// the shards. A run the command does not apply to (cancel of a finished run, retry of one that
// did not fail) is counted as skipped.
//
// In memory only: operations end with the daemon (a restart loses the unfinished part; cancel
// and retry of an already handled run are skipped, so sending the operation again finishes it).
// Bounded: kMaxRunningPerShard at once and kKeptPerShard remembered per shard (finished ones
// are forgotten oldest first).

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/detail/common.h"
#include "engine/run.h"
#include "obs/metrics.h"
#include "reactor/task.h"

namespace rf::api {

inline constexpr size_t kMaxRunningPerShard = 4;
inline constexpr size_t kKeptPerShard = 64;
inline constexpr uint32_t kDefaultBulkRate = 100;  // runs per second
inline constexpr uint32_t kMaxBulkRate = 2000;
inline constexpr size_t kKeptErrors = 20;

enum class BulkAction { kCancel, kRetry };

struct BulkFilter {
  std::string workflow;  // qualified; empty: any
  std::optional<engine::RunStatus> status;
  int64_t created_after_ms = 0;   // 0: no bound; runs created at or after
  int64_t created_before_ms = 0;  // 0: no bound; runs created strictly before
};

struct BulkOperation {
  std::string id;
  std::string ns;
  BulkAction action = BulkAction::kCancel;
  BulkFilter filter;
  uint32_t max_per_second = kDefaultBulkRate;
  std::string authorization;  // the caller's, for runs held by other instances; never shown
  enum class State { kRunning, kSucceeded, kFailed, kCancelled } state = State::kRunning;
  uint64_t matched = 0, done = 0, skipped = 0, failed = 0;
  std::vector<std::pair<std::string, std::string>> errors;  // run id -> message, first kKeptErrors
  std::string error;  // why the operation itself failed (listing the runs)
  int64_t created_ms = 0, finished_ms = 0;
  bool stop = false;

  std::string ToJson(std::string_view plain_workflow) const;
};

// Counters of one shard's operations (written on that shard, read by /metrics anywhere).
struct BulkStats {
  obs::Gauge running;
  obs::Counter runs_done, runs_skipped, runs_failed;
};

class BulkOperations {
 public:
  explicit BulkOperations(unsigned shards);
  // The API context whose engine and forwarding the workers use (V1Api::EnableBulk).
  void Bind(const detail::ApiContext* ctx) { ctx_ = ctx; }

  // On the calling shard. Errors: kLimited (kMaxRunningPerShard already running here).
  Result<std::shared_ptr<BulkOperation>> Start(BulkOperation op);
  // On the operation's shard (ShardOf): the operation if it exists in `ns`.
  std::shared_ptr<BulkOperation> Find(std::string_view id, std::string_view ns) const;
  // The calling shard's operations of `ns`, newest first.
  std::vector<std::shared_ptr<const BulkOperation>> List(std::string_view ns) const;
  // The shard an id names; nullopt when it names none.
  std::optional<unsigned> ShardOf(std::string_view id) const;
  // Every shard: stops the workers and waits for them. Suspends.
  reactor::Task<void> Close();

  void RenderMetrics(std::string& out) const;  // any thread

 private:
  struct Shard {
    std::deque<std::shared_ptr<BulkOperation>> ops;  // oldest first
    reactor::TaskGroup workers;
    uint64_t next = 0;
    bool closing = false;
    BulkStats stats;
  };
  static reactor::Task<void> Work(BulkOperations* self, std::shared_ptr<BulkOperation> op);
  static reactor::Task<void> CloseHere(BulkOperations* self);
  reactor::Task<Status> Apply(BulkOperation& op, const engine::RunId& id);

  std::vector<std::unique_ptr<Shard>> shards_;
  const detail::ApiContext* ctx_ = nullptr;
};

}  // namespace rf::api
