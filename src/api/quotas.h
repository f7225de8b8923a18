#pragma once
// Quotas: the quota checks of the API (quota/ for the file and the buckets). Requests are
// counted at admission (AuthGate, every /v1 route but the open ones), run starts in the start
// handler, live runs by the coordinator (StartCommand::live_limit against the engine's
// NamespaceUsage). Over a limit: 429 with Retry-After and the one error shape. Each shard has
// its own limiter and counters, touched only by its shard; the config is swapped whole on
// SIGHUP (SetConfig on each shard).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/namespace_usage.h"
#include "base/clock.h"
#include "http/response.h"
#include "obs/metrics.h"
#include "quota/limiter.h"

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

  // On `shard` (its own part): the config in force from now on.
  void SetConfig(unsigned shard, std::shared_ptr<const quota::Config> config);

  // False: over the namespace's rate, 429 written.
  bool AdmitRequest(unsigned shard, std::string_view ns, http::Response& resp);
  bool AdmitStart(unsigned shard, std::string_view ns, http::Response& resp);
  // A start the scheduler makes (no request to answer): false when over the starts rate or the
  // retained history bytes.
  bool AdmitScheduledStart(unsigned shard, std::string_view ns);
  // The live runs this instance may hold for `ns` (0: no limit).
  int64_t LiveLimit(unsigned shard, std::string_view ns) const;
  void CountLiveRejected(unsigned shard) { shards_[shard]->live_rejected.Add(); }

  // rf_quota_* and, for the namespaces the quotas file names, rf_namespace_live_runs.
  void RenderMetrics(const engine::NamespaceUsage& usage, std::string& out) const;

 private:
  bool Admit(quota::Kind kind, unsigned shard, std::string_view ns, http::Response& resp);
  bool Take(quota::Kind kind, unsigned shard, std::string_view ns, Nanos& wait);
  // The namespace holds its retained_history_bytes or more (counted as refused).
  bool OverHistory(unsigned shard, std::string_view ns);
  double Instances() const;
  struct alignas(64) Part {
    quota::Limiter limiter;
    obs::Counter requests_rejected, starts_rejected, live_rejected, history_rejected;
    obs::Gauge buckets;
  };
  std::vector<std::unique_ptr<Part>> shards_;
  std::shared_ptr<const quota::Config> rendered_;  // what /metrics names (shard 0's config)
  const obs::Gauge* members_;
  const engine::NamespaceUsage* usage_;
  Nanos history_retry_;
};

}  // namespace rf::api
