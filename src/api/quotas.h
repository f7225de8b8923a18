#pragma once
// Quotas: the quota checks of the API (quota/ for the file and the buckets). Requests are
// counted at admission (AuthGate, every /v1 route but the open ones), run starts in the start
// handler, live runs by the coordinator (StartCommand::live_limit against the engine's
// NamespaceUsage). Over a limit: 429 with Retry-After and the one error shape. Each shard has
// its own limiter and counters, touched only by its shard; the config is swapped whole on
// SIGHUP (SetConfig on each shard).
//
// In a cluster with --redis-url (EnableSharing) the limits hold for the cluster: rates through
// token buckets in Redis that each shard takes batches from (quota/shared_bucket.h; no round
// trip per request), live runs through the counts every instance publishes about once a second
// (quota_sharing.cc). While Redis is away or slow, and for a bucket's first request, each
// instance falls back to its split (rate and live runs over the live members), counted in
// rf_quota_redis_fallback_total; requests never wait for Redis.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/namespace_usage.h"
#include "base/clock.h"
#include "http/response.h"
#include "obs/metrics.h"
#include "quota/limiter.h"
#include "quota/shared_bucket.h"
#include "reactor/nap.h"
#include "reactor/task.h"
#include "store/quota_share.h"

namespace rf::api {

class Quotas {
 public:
  // `members`: the live instances sharing the work (rates and live runs split over them; 0 or
  // 1: this instance alone). Outlives this.
  // `usage`: live runs and retained history bytes per namespace (outlives this; null: neither
  // is known, so retained_history_bytes is not enforced). `history_retry`: the Retry-After of
  // a start refused for its history (about when retention looks again).
  Quotas(size_t shards, std::shared_ptr<const quota::Config> config, const obs::Gauge* members,
         const engine::NamespaceUsage* usage = nullptr, Nanos history_retry = 60 * kSeconds);

  // Limits shared by the cluster through `shares` (one per shard, made and used on their
  // shards; outlive this). Before serving.
  void EnableSharing(std::vector<store::QuotaShare*> shares);
  bool sharing() const { return !shares_.empty(); }
  // On each shard once it runs: starts its share and the exchange of live-run counts.
  void StartShard(unsigned shard);
  // Stops sharing on every shard (their fetches and exchanges end, the shares close). suspends.
  reactor::Task<void> Close();

  // On `shard` (its own part): the config in force from now on.
  void SetConfig(unsigned shard, std::shared_ptr<const quota::Config> config);

  // False: over the namespace's rate, 429 written.
  bool AdmitRequest(unsigned shard, std::string_view ns, http::Response& resp);
  bool AdmitStart(unsigned shard, std::string_view ns, http::Response& resp);
  // A start the scheduler makes (no request to answer): false when over the starts rate or the
  // retained history bytes.
  bool AdmitScheduledStart(unsigned shard, std::string_view ns);
  // The live runs this instance may hold for `ns` (0: no limit; < 0: none, the other
  // instances of the cluster hold the namespace's quota).
  int64_t LiveLimit(unsigned shard, std::string_view ns);
  void CountLiveRejected(unsigned shard) { shards_[shard]->live_rejected.Add(); }

  // rf_quota_* and, for the namespaces the quotas file names, rf_namespace_live_runs.
  void RenderMetrics(const engine::NamespaceUsage& usage, std::string& out) const;

 private:
  bool Admit(quota::Kind kind, unsigned shard, std::string_view ns, http::Response& resp);
  bool Take(quota::Kind kind, unsigned shard, std::string_view ns, Nanos& wait);
  struct Part;
  // The cluster's word on one request: admit, refuse, or kFallback (the instance's split).
  quota::SharedBucket::Decision TakeShared(quota::Kind kind, Part& p, unsigned shard,
                                           std::string_view ns, const quota::Limits& l, double rate,
                                           Nanos now, Nanos& wait);
  static reactor::Task<void> Fetch(Quotas* self, unsigned shard, quota::Kind kind, std::string ns,
                                   double rate, double capacity, int64_t want);
  static reactor::Task<void> ExchangeLoop(Quotas* self, unsigned shard);
  static reactor::Task<void> CloseShard(Quotas* self, unsigned shard);
  void RenderSharingMetrics(std::string& out) const;
  // The live runs this instance may hold given what the others publish (limit minus theirs;
  // -1 when nothing is left); 0 when not shared or their counts are stale (then the split).
  int64_t SharedLiveLimit(unsigned shard, std::string_view ns, int64_t limit);
  // The namespace holds its retained_history_bytes or more (counted as refused).
  bool OverHistory(unsigned shard, std::string_view ns);
  double Instances() const;
  struct SharedPair {
    quota::SharedBucket requests, starts;
  };
  struct alignas(64) Part {
    quota::Limiter limiter;
    obs::Counter requests_rejected, starts_rejected, live_rejected, history_rejected;
    obs::Gauge buckets;
    // Sharing (null share: per instance). Buckets bounded as the limiter's; beyond, fall back.
    store::QuotaShare* share = nullptr;
    std::unordered_map<std::string, SharedPair> shared;
    bool redis_down = false;  // the last batch or exchange failed
    Nanos probe_at = 0;       // while down: the next batch request goes no earlier
    std::map<std::string, int64_t, std::less<>> others;  // other instances' live runs
    Nanos others_at = -1;                                // when `others` arrived (-1: never)
    bool closing = false;
    reactor::Nap* nap = nullptr;  // the exchange loop's pause
    reactor::TaskGroup tasks;     // fetches and the exchange loop
    obs::Counter batches_granted, batches_empty, batch_errors, tokens_granted;
    obs::Counter fallback_unavailable, fallback_cold, exchanges, exchange_errors;
    obs::Gauge up, shared_buckets;
  };
  std::vector<std::unique_ptr<Part>> shards_;
  std::vector<store::QuotaShare*> shares_;
  std::shared_ptr<const quota::Config> rendered_;  // what /metrics names (shard 0's config)
  const obs::Gauge* members_;
  const engine::NamespaceUsage* usage_;
  Nanos history_retry_;
};

}  // namespace rf::api
