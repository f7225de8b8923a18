#include "api/quotas.h"

#include <algorithm>
#include <cmath>

#include "base/clock.h"
#include "obs/metrics.h"

namespace rf::api {

Quotas::Quotas(size_t shards, std::shared_ptr<const quota::Config> config, const obs::Gauge* members,
               const engine::NamespaceUsage* usage, Nanos history_retry)
    : rendered_(config), members_(members), usage_(usage), history_retry_(history_retry) {
  for (size_t i = 0; i < shards; ++i) {
    shards_.push_back(std::make_unique<Part>());
    shards_.back()->limiter.SetConfig(config);
  }
}

void Quotas::SetConfig(unsigned shard, std::shared_ptr<const quota::Config> config) {
  if (shard == 0) std::atomic_store(&rendered_, config);
  shards_[shard]->limiter.SetConfig(std::move(config));
  shards_[shard]->shared.clear();  // the batches in hand were taken under the old limits
  shards_[shard]->shared_buckets.Set(0);
}

double Quotas::Instances() const {
  const int64_t n = members_ ? members_->Get() : 0;
  return n > 1 ? static_cast<double>(n) : 1.0;
}

bool Quotas::Take(quota::Kind kind, unsigned shard, std::string_view ns, Nanos& wait) {
  Part& p = *shards_[shard];
  const quota::Config* c = p.limiter.config();
  if (!c) return true;
  const Nanos now = MonoNow();
  if (p.share) {
    const quota::Limits& l = c->For(ns);
    const double rate = kind == quota::Kind::kRequests ? l.requests_per_second : l.starts_per_second;
    if (rate <= 0) return true;
    switch (TakeShared(kind, p, shard, ns, l, rate, now, wait)) {
      case quota::SharedBucket::Decision::kAdmit:
        return true;
      case quota::SharedBucket::Decision::kRefuse:
        (kind == quota::Kind::kRequests ? p.requests_rejected : p.starts_rejected).Add();
        return false;
      case quota::SharedBucket::Decision::kFallback:
        break;  // this instance's split decides, as without Redis
    }
  }
  p.limiter.SetShare(static_cast<double>(shards_.size()) * Instances());
  const bool ok = p.limiter.Admit(kind, ns, now, wait);
  p.buckets.Set(static_cast<int64_t>(p.limiter.buckets()));
  if (ok) return true;
  (kind == quota::Kind::kRequests ? p.requests_rejected : p.starts_rejected).Add();
  return false;
}

bool Quotas::OverHistory(unsigned shard, std::string_view ns) {
  Part& p = *shards_[shard];
  const quota::Config* c = p.limiter.config();
  if (!c || !usage_) return false;
  // One relaxed load of a value the history store keeps current (embedded: after each write;
  // PostgreSQL: every few seconds), so admission costs no store round trip.
  const int64_t limit = c->For(ns).retained_history_bytes;
  if (limit <= 0 || usage_->HistoryBytes(ns) < limit) return false;
  p.history_rejected.Add();
  return true;
}

bool Quotas::AdmitScheduledStart(unsigned shard, std::string_view ns) {
  if (OverHistory(shard, ns)) return false;
  Nanos wait = 0;
  return Take(quota::Kind::kStarts, shard, ns, wait);
}

bool Quotas::Admit(quota::Kind kind, unsigned shard, std::string_view ns, http::Response& resp) {
  Nanos wait = 0;
  if (Take(kind, shard, ns, wait)) return true;
  const auto seconds = std::max<int64_t>(1, (wait + kSeconds - 1) / kSeconds);
  resp.Error(429, "rate_limited",
             "namespace '" + std::string(ns) + "' is over its " +
                 (kind == quota::Kind::kRequests ? "requests" : "run starts") +
                 " per second (--quotas-file); retry after " + std::to_string(seconds) + " s");
  resp.AddHeader("Retry-After", std::to_string(seconds));
  return false;
}

bool Quotas::AdmitRequest(unsigned shard, std::string_view ns, http::Response& resp) {
  return Admit(quota::Kind::kRequests, shard, ns, resp);
}

bool Quotas::AdmitStart(unsigned shard, std::string_view ns, http::Response& resp) {
  if (OverHistory(shard, ns)) {
    const auto seconds = std::max<int64_t>(1, history_retry_ / kSeconds);
    resp.Error(429, "quota_exceeded",
               "namespace '" + std::string(ns) + "' keeps " + std::to_string(usage_->HistoryBytes(ns)) +
                   " bytes of finished runs, its retained_history_bytes is " +
                   std::to_string(shards_[shard]->limiter.config()->For(ns).retained_history_bytes) +
                   " (--quotas-file); starts resume once retention (--retention) removes old runs");
    resp.AddHeader("Retry-After", std::to_string(seconds));
    return false;
  }
  return Admit(quota::Kind::kStarts, shard, ns, resp);
}

int64_t Quotas::LiveLimit(unsigned shard, std::string_view ns) {
  const quota::Config* c = shards_[shard]->limiter.config();
  if (!c) return 0;
  const int64_t limit = c->For(ns).live_runs;
  if (limit <= 0) return 0;
  if (const int64_t shared = SharedLiveLimit(shard, ns, limit); shared != 0) return shared;
  return static_cast<int64_t>(std::ceil(static_cast<double>(limit) / Instances()));
}

void Quotas::RenderMetrics(const engine::NamespaceUsage& usage, std::string& out) const {
  uint64_t req = 0, starts = 0, live = 0, history = 0;
  int64_t buckets = 0;
  for (const auto& p : shards_) {
    req += p->requests_rejected.Get();
    starts += p->starts_rejected.Get();
    live += p->live_rejected.Get();
    history += p->history_rejected.Get();
    buckets += p->buckets.Get();
  }
  out += "# HELP rf_quota_rejected_total Requests refused with 429 by a namespace's quota, by limit.\n"
         "# TYPE rf_quota_rejected_total counter\n";
  out += "rf_quota_rejected_total{limit=\"requests_per_second\"} " + std::to_string(req) + "\n";
  out += "rf_quota_rejected_total{limit=\"starts_per_second\"} " + std::to_string(starts) + "\n";
  out += "rf_quota_rejected_total{limit=\"live_runs\"} " + std::to_string(live) + "\n";
  out += "rf_quota_rejected_total{limit=\"retained_history_bytes\"} " + std::to_string(history) + "\n";
  if (sharing()) RenderSharingMetrics(out);
  out += "# HELP rf_quota_buckets Token buckets held (namespaces seen lately, every shard; at most "
         "4096 a shard).\n# TYPE rf_quota_buckets gauge\nrf_quota_buckets " +
         std::to_string(buckets) + "\n";
  out += "# HELP rf_namespace_usage_overflow Live-run counts that found no slot (more than 4096 "
         "namespaces): the live-runs quota is not enforced for those.\n"
         "# TYPE rf_namespace_usage_overflow counter\nrf_namespace_usage_overflow " +
         std::to_string(usage.overflowed()) + "\n";
  // One series per namespace the quotas file names (and default): a bounded label set.
  const auto config = std::atomic_load(&rendered_);
  out += "# HELP rf_namespace_live_runs Live runs of a namespace on this instance (namespaces "
         "named in --quotas-file, and default).\n# TYPE rf_namespace_live_runs gauge\n";
  out += "rf_namespace_live_runs{namespace=\"default\"} " + std::to_string(usage.Live("default")) + "\n";
  if (config) {
    for (const auto& [ns, limits] : config->namespaces) {
      if (ns == "default") continue;
      out += "rf_namespace_live_runs{namespace=\"" + ns + "\"} " + std::to_string(usage.Live(ns)) + "\n";
    }
  }
  out += "# HELP rf_namespace_history_bytes Bytes of finished-run history a namespace keeps (the "
         "retained_history_bytes quota; namespaces named in --quotas-file, and default).\n"
         "# TYPE rf_namespace_history_bytes gauge\n";
  out += "rf_namespace_history_bytes{namespace=\"default\"} " +
         std::to_string(usage.HistoryBytes("default")) + "\n";
  if (config) {
    for (const auto& [ns, limits] : config->namespaces) {
      if (ns == "default") continue;
      out += "rf_namespace_history_bytes{namespace=\"" + ns + "\"} " +
             std::to_string(usage.HistoryBytes(ns)) + "\n";
    }
  }
}

}  // namespace rf::api
