// Quotas shared by a cluster through Redis (--redis-url): the parts of api::Quotas that take
// batches of tokens, exchange live-run counts and fall back to the per-instance split while
// Redis cannot answer. Each shard runs its own (its share, its buckets, its exchange loop).

#include <algorithm>

#include "api/quotas.h"
#include "base/check.h"
#include "obs/log.h"
#include "reactor/submit_to.h"

namespace rf::api {
namespace {

// How often each shard publishes this instance's live runs and reads the others'; counts
// older than kLiveFresh are not trusted (the split decides then).
constexpr Nanos kExchangeEvery = kSeconds;
constexpr Nanos kLiveFresh = 3 * kSeconds;
// After a failed call, the next try at Redis (meanwhile every decision is the split's).
constexpr Nanos kProbeEvery = kSeconds;

bool AnyLiveLimit(const quota::Config& c) {
  if (c.defaults.live_runs > 0) return true;
  return std::any_of(c.namespaces.begin(), c.namespaces.end(),
                     [](const auto& kv) { return kv.second.live_runs > 0; });
}

}  // namespace

void Quotas::EnableSharing(std::vector<store::QuotaShare*> shares) {
  RF_CHECK(shares.size() == shards_.size());
  shares_ = std::move(shares);
  for (size_t i = 0; i < shards_.size(); ++i) shards_[i]->share = shares_[i];
}

void Quotas::StartShard(unsigned shard) {
  Part& p = *shards_[shard];
  if (!p.share) return;
  p.share->Start();
  p.up.Set(1);
  reactor::Spawn(ExchangeLoop(this, shard), &p.tasks);
}

reactor::Task<void> Quotas::CloseShard(Quotas* self, unsigned shard) {
  Part& p = *self->shards_[shard];
  if (!p.share) co_return;
  p.closing = true;
  if (p.nap) p.nap->Wake();
  co_await p.share->Close();  // suspends; a fetch in flight fails at once
  co_await p.tasks.Wait();    // suspends
}

reactor::Task<void> Quotas::Close() {
  for (unsigned i = 0; i < shards_.size(); ++i) {
    auto op = reactor::SubmitTo(i, &Quotas::CloseShard, this, i);
    co_await op;  // suspends
  }
}

quota::SharedBucket::Decision Quotas::TakeShared(quota::Kind kind, Part& p, unsigned shard,
                                                 std::string_view ns, const quota::Limits& l,
                                                 double rate, Nanos now, Nanos& wait) {
  using Decision = quota::SharedBucket::Decision;
  if (p.closing) return Decision::kFallback;
  // The bucket of `ns` (a key copy only the first time this shard sees it); bounded as the
  // limiter: idle ones go first, beyond that the split decides.
  thread_local std::string key;
  key.assign(ns);
  auto it = p.shared.find(key);
  if (it == p.shared.end()) {
    if (p.shared.size() >= quota::Limiter::kMaxNamespaces)
      std::erase_if(p.shared, [&](const auto& kv) {
        return kv.second.requests.Idle(now) && kv.second.starts.Idle(now);
      });
    if (p.shared.size() >= quota::Limiter::kMaxNamespaces) {
      p.fallback_cold.Add();
      return Decision::kFallback;
    }
    it = p.shared.emplace(key, SharedPair{}).first;
    p.shared_buckets.Set(static_cast<int64_t>(p.shared.size()));
  }
  quota::SharedBucket& b = kind == quota::Kind::kRequests ? it->second.requests : it->second.starts;
  const Decision d = b.Take(now, wait);
  const double capacity = std::max(1.0, rate * l.burst_seconds);
  const int64_t batch =
      quota::BatchSize(rate, capacity, static_cast<double>(shards_.size()) * Instances());
  if (b.NeedFetch(now, batch) && now >= p.probe_at) {
    b.Fetching();
    reactor::Spawn(Fetch(this, shard, kind, key, rate, capacity, batch), &p.tasks);
  }
  if (d == Decision::kFallback) (p.redis_down ? p.fallback_unavailable : p.fallback_cold).Add();
  return d;
}

reactor::Task<void> Quotas::Fetch(Quotas* self, unsigned shard, quota::Kind kind, std::string ns,
                                  double rate, double capacity, int64_t want) {
  Part& p = *self->shards_[shard];
  std::string key = (kind == quota::Kind::kRequests ? "requests:" : "starts:") + ns;
  auto r = co_await p.share->TakeBatch(std::move(key), rate, capacity, want);  // suspends
  const Nanos now = MonoNow();
  // A reload or a sweep may have dropped the bucket meanwhile: the answer is then not needed.
  auto it = p.shared.find(ns);
  quota::SharedBucket* b =
      it == p.shared.end()
          ? nullptr
          : (kind == quota::Kind::kRequests ? &it->second.requests : &it->second.starts);
  if (!r) {
    p.batch_errors.Add();
    p.probe_at = now + kProbeEvery;
    if (b) b->Failed();
    if (!p.redis_down && !p.closing) {
      p.redis_down = true;
      p.up.Set(0);
      if (shard == 0)
        RF_LOG(kWarn,
               "quotas: Redis does not answer; each instance enforces its split of the limits",
               {"error", r.error().ToString()});
    }
    co_return;
  }
  if (p.redis_down) {
    p.redis_down = false;
    p.up.Set(1);
    if (shard == 0) RF_LOG(kInfo, "quotas: shared through Redis again");
  }
  (r->granted > 0 ? p.batches_granted : p.batches_empty).Add();
  p.tokens_granted.Add(static_cast<uint64_t>(r->granted));
  if (b) b->Granted(r->granted, r->wait, now);
}

reactor::Task<void> Quotas::ExchangeLoop(Quotas* self, unsigned shard) {
  Part& p = *self->shards_[shard];
  while (!p.closing) {
    const quota::Config* c = p.limiter.config();
    if (c && self->usage_ && AnyLiveLimit(*c)) {
      store::QuotaShare::Counts mine;
      // This instance's counts (every shard's, kept in one table): each shard publishes the
      // same thing, so an instance's counts are at most a period old even if a shard stalls.
      self->usage_->ForEach([&](std::string_view ns, int64_t live) {
        if (live > 0) mine.emplace_back(std::string(ns), live);
      });
      auto r = co_await p.share->ExchangeLive(std::move(mine));  // suspends
      if (r) {
        p.others.clear();
        for (auto& [ns, n] : *r) p.others[std::move(ns)] += n;
        p.others_at = MonoNow();
        p.exchanges.Add();
      } else if (!p.closing) {
        p.exchange_errors.Add();
      }
    }
    if (p.closing) break;
    co_await reactor::Nap(&p.nap, kExchangeEvery);  // suspends; Close cuts it short
  }
}

int64_t Quotas::SharedLiveLimit(unsigned shard, std::string_view ns, int64_t limit) {
  Part& p = *shards_[shard];
  if (!p.share) return 0;
  if (p.others_at < 0 || MonoNow() - p.others_at > kLiveFresh) {
    p.fallback_unavailable.Add();
    return 0;
  }
  auto it = p.others.find(ns);
  const int64_t room = limit - (it == p.others.end() ? 0 : it->second);
  return room > 0 ? room : -1;
}

void Quotas::RenderSharingMetrics(std::string& out) const {
  uint64_t granted = 0, empty = 0, errors = 0, tokens = 0, unavailable = 0, cold = 0, ex = 0,
           ex_errors = 0;
  int64_t up = 0, buckets = 0;
  for (const auto& p : shards_) {
    granted += p->batches_granted.Get();
    empty += p->batches_empty.Get();
    errors += p->batch_errors.Get();
    tokens += p->tokens_granted.Get();
    unavailable += p->fallback_unavailable.Get();
    cold += p->fallback_cold.Get();
    ex += p->exchanges.Get();
    ex_errors += p->exchange_errors.Get();
    up += p->up.Get();
    buckets += p->shared_buckets.Get();
  }
  out +=
      "# HELP rf_quota_redis_batches_total Batches of tokens asked of the cluster's buckets in "
      "Redis, by outcome (empty: the cluster is at its rate).\n"
      "# TYPE rf_quota_redis_batches_total counter\n";
  out += "rf_quota_redis_batches_total{outcome=\"granted\"} " + std::to_string(granted) + "\n";
  out += "rf_quota_redis_batches_total{outcome=\"empty\"} " + std::to_string(empty) + "\n";
  out += "rf_quota_redis_batches_total{outcome=\"error\"} " + std::to_string(errors) + "\n";
  out +=
      "# HELP rf_quota_redis_tokens_total Tokens the cluster's buckets granted this instance.\n"
      "# TYPE rf_quota_redis_tokens_total counter\nrf_quota_redis_tokens_total " +
      std::to_string(tokens) + "\n";
  out +=
      "# HELP rf_quota_redis_fallback_total Quota decisions made by this instance's split of "
      "the limits instead of the cluster's (unavailable: Redis failed or live counts are stale; "
      "cold: a bucket's first request or too many namespaces).\n"
      "# TYPE rf_quota_redis_fallback_total counter\n";
  out +=
      "rf_quota_redis_fallback_total{reason=\"unavailable\"} " + std::to_string(unavailable) + "\n";
  out += "rf_quota_redis_fallback_total{reason=\"cold\"} " + std::to_string(cold) + "\n";
  out +=
      "# HELP rf_quota_redis_live_exchanges_total Live-run counts published to and read from "
      "Redis, by outcome.\n# TYPE rf_quota_redis_live_exchanges_total counter\n";
  out += "rf_quota_redis_live_exchanges_total{outcome=\"ok\"} " + std::to_string(ex) + "\n";
  out +=
      "rf_quota_redis_live_exchanges_total{outcome=\"error\"} " + std::to_string(ex_errors) + "\n";
  out +=
      "# HELP rf_quota_redis_buckets Shared rates a shard keeps batches of (every shard; at most "
      "4096 a shard, idle ones dropped first).\n# TYPE rf_quota_redis_buckets gauge\n"
      "rf_quota_redis_buckets " +
      std::to_string(buckets) + "\n";
  out +=
      "# HELP rf_quota_redis_up Shards whose quotas are shared through Redis now (the others "
      "use this instance's split).\n# TYPE rf_quota_redis_up gauge\nrf_quota_redis_up " +
      std::to_string(up) + "\n";
}

}  // namespace rf::api
