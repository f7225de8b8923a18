// GET /v1/slo and the SLO windows behind it (slo.h).

#include "api/slo.h"

#include <cstdio>

#include "api/detail/common.h"
#include "api/service.h"
#include "api/slo_state.h"
#include "http/stats.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "reactor/shard.h"
#include "reactor/sleep_unless.h"
#include "reactor/submit_to.h"

namespace rf::api {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 60 * kMinuteMs;

int64_t NowUnixMs() { return WallNow() / kMillis; }

bool IsV1(std::string_view route) { return route.starts_with("/v1/"); }
// Event streams last as long as their client wants: their duration says nothing of ours.
bool IsStream(std::string_view route) { return route.ends_with("/events"); }

void Num(Buffer& b, double v) {
  char tmp[48];
  const int n = std::snprintf(tmp, sizeof tmp, "%.6g", v);
  b.Append(std::string_view(tmp, static_cast<size_t>(n)));
}

// One objective over one window: what happened, the share that was good, how much of the error
// budget is left (1: untouched, 0: spent, negative: overspent) and the burn rate (1: spending it
// exactly as fast as the objective allows).
void Objective(Buffer& b, std::string_view total_name, uint64_t total, std::string_view bad_name,
               uint64_t bad, double target) {
  const double allowed = (1.0 - target) * static_cast<double>(total);
  const double bad_ratio = total ? static_cast<double>(bad) / static_cast<double>(total) : 0.0;
  b.Append("{\"");
  b.Append(total_name);
  b.Append("\":");
  b.AppendUnsigned(total);
  b.Append(",\"");
  b.Append(bad_name);
  b.Append("\":");
  b.AppendUnsigned(bad);
  b.Append(",\"ratio\":");
  Num(b, 1.0 - bad_ratio);
  b.Append(",\"error_budget_remaining\":");
  Num(b, total ? 1.0 - static_cast<double>(bad) / allowed : 1.0);
  b.Append(",\"burn_rate\":");
  Num(b, bad_ratio / (1.0 - target));
  b.Append('}');
}

std::string ReportOn(const SloService* slo) {
  Buffer b;
  slo->Report(NowUnixMs(), b);
  return std::string(b.view());
}

reactor::Task<void> GetSlo(void* p, http::RequestContext& rc) {
  const SloService* slo = static_cast<const ServiceState*>(p)->slo;
  if (!detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  if (!slo) {
    rc.resp.Error(503, "unavailable", "service level objectives are not tracked by this process");
    co_return;
  }
  // The windows live on shard 0.
  std::string body = co_await reactor::SubmitTo(0, &ReportOn, slo);  // suspends
  detail::ReplyJson(rc.resp, 200, body);
}

}  // namespace

template <size_t N>
const SloWindows::Snapshot* SloWindows::Find(const Ring<N>& ring, int64_t cutoff_ms) {
  if (ring.size == 0) return nullptr;
  for (size_t back = 0; back < ring.size; ++back) {
    const Snapshot& s = ring.Newest(back);
    if (s.at_ms <= cutoff_ms) return &s;
  }
  return &ring.Newest(ring.size - 1);  // the oldest kept: the data is younger than the window
}

template <size_t N>
std::vector<SloWindows::Snapshot> SloWindows::Oldest(const Ring<N>& ring) {
  std::vector<Snapshot> out;
  out.reserve(ring.size);
  for (size_t back = ring.size; back-- > 0;) out.push_back(ring.Newest(back));
  return out;
}

void SloWindows::Restore(const std::vector<Snapshot>& minutes, const std::vector<Snapshot>& hours) {
  minutes_ = {};
  hours_ = {};
  for (size_t i = minutes.size() > kMinutes ? minutes.size() - kMinutes : 0; i < minutes.size(); ++i)
    minutes_.Push(minutes[i]);
  for (size_t i = hours.size() > kHours ? hours.size() - kHours : 0; i < hours.size(); ++i)
    hours_.Push(hours[i]);
}

void SloWindows::Record(int64_t now_ms, const SloCounts& totals) {
  minutes_.Push(Snapshot{now_ms, totals});
  if (hours_.size == 0 || now_ms - hours_.Newest(0).at_ms >= kHourMs) hours_.Push(Snapshot{now_ms, totals});
}

SloWindows::Delta SloWindows::Over(int64_t now_ms, int64_t window_ms, const SloCounts& totals) const {
  const int64_t cutoff = now_ms - window_ms;
  const Snapshot* from = window_ms <= kHourMs ? Find(minutes_, cutoff) : Find(hours_, cutoff);
  Delta d;
  if (!from) {
    d.counts = totals;
    return d;
  }
  // Counters only grow; a snapshot is never ahead of `totals` (taken from the same counters).
  d.counts.requests = totals.requests - from->counts.requests;
  d.counts.errors = totals.errors - from->counts.errors;
  d.counts.timed = totals.timed - from->counts.timed;
  d.counts.slow = totals.slow - from->counts.slow;
  d.covered_ms = now_ms - from->at_ms;
  return d;
}

SloService::SloService(SloObjectives objectives, const ServiceState* state, Persistence persistence)
    : objectives_(objectives), state_(state), started_ms_(NowUnixMs()), persistence_(std::move(persistence)) {
  // Fast means within the largest histogram bound not above the threshold (the smallest bound
  // when the threshold is below every bound): a conservative reading, never a generous one.
  const double threshold_s = static_cast<double>(objectives_.latency_ms) / 1000.0;
  bound_index_ = 0;
  for (size_t i = 0; i < obs::Histogram::kBounds.size(); ++i)
    if (obs::Histogram::kBounds[i] <= threshold_s + 1e-12) bound_index_ = i;
  bound_s_ = obs::Histogram::kBounds[bound_index_];
  const int64_t now_ms = started_ms_;
  if (!persistence_.saved.empty()) Restore(now_ms);
  persistence_.saved.clear();
  windows_.Record(now_ms, base_);
}

void SloService::Restore(int64_t now_ms) {
  auto state = DecodeSloState(persistence_.saved);
  std::string_view why;
  if (!state) {
    RF_LOG(kWarn, "slo: the saved state is unreadable; the objectives' windows start empty",
           {"error", state.error().ToString()});
    return;
  }
  if (state->measured_at_us != static_cast<int64_t>(bound_s_ * 1e6 + 0.5))
    why = "the latency threshold changed";
  else if (state->saved_ms > now_ms + kMinuteMs)
    why = "it was saved in the future (the clock went back)";
  if (!why.empty()) {
    RF_LOG(kWarn, "slo: the saved state does not apply; the objectives' windows start empty",
           {"reason", why});
    return;
  }
  base_ = state->totals;
  started_ms_ = state->since_ms;
  windows_.Restore(state->minutes, state->hours);
}

reactor::Task<void> SloService::Save() {
  if (!persistence_.save) co_return;
  SloState s;
  s.since_ms = started_ms_;
  s.saved_ms = NowUnixMs();
  s.measured_at_us = static_cast<int64_t>(bound_s_ * 1e6 + 0.5);
  s.totals = Totals();
  s.minutes = windows_.Minutes();
  s.hours = windows_.Hours();
  Status st = co_await persistence_.save(EncodeSloState(s));  // suspends
  if (!st && !save_failing_) {
    RF_LOG(kWarn, "slo: cannot save the objectives' state (retried every minute)",
           {"error", st.error().ToString()});
  } else if (st && save_failing_) {
    RF_LOG(kInfo, "slo: the objectives' state is saved again");
  }
  save_failing_ = !st;
}

SloCounts SloService::Totals() const {
  SloCounts c = base_;
  if (!state_->server) return c;
  const auto& names = state_->server->route_names();
  for (size_t shard = 0; shard < state_->shards; ++shard) {
    const http::HttpStats& st = state_->server->stats(static_cast<unsigned>(shard));
    for (size_t route = 1; route < names.size() && route < http::kMaxRoutes; ++route) {
      if (!IsV1(names[route])) continue;
      uint64_t all = 0;
      for (size_t slot = 0; slot < http::kStatusSlots.size(); ++slot) {
        const uint64_t n = st.requests[route][slot].Get();
        all += n;
        if (http::kStatusSlots[slot] >= 500) c.errors += n;
      }
      c.requests += all;
      if (IsStream(names[route])) continue;
      const obs::Histogram& h = st.duration[route];
      uint64_t count = 0, fast = 0;
      for (size_t i = 0; i <= obs::Histogram::kBounds.size(); ++i) {
        const uint64_t n = h.BucketCount(i);
        count += n;
        if (i <= bound_index_) fast += n;
      }
      c.timed += count;
      c.slow += count - fast;
    }
  }
  return c;
}

reactor::Task<void> SloService::Sample(const bool* stop) {
  // Not `while (co_await ...)`: built by GCC 12 with -fsanitize=undefined, this member coroutine
  // trapped (SIGILL) on entry in that form.
  while (true) {
    const bool more = co_await reactor::SleepUnless(kMinuteMs * kMillis, *stop, 100 * kMillis);  // suspends
    if (!more) break;
    windows_.Record(NowUnixMs(), Totals());
    co_await Save();  // suspends
  }
}

void SloService::Report(int64_t now_ms, Buffer& b) const {
  const SloCounts totals = Totals();
  b.Append("{\"objectives\":{\"availability\":{\"target\":");
  Num(b, objectives_.availability);
  b.Append("},\"latency\":{\"threshold_ms\":");
  b.AppendSigned(objectives_.latency_ms);
  b.Append(",\"measured_at_ms\":");
  Num(b, bound_s_ * 1000.0);
  b.Append(",\"target\":");
  Num(b, objectives_.latency_target);
  b.Append("}},\"since_ms\":");
  b.AppendSigned(started_ms_);
  b.Append(",\"windows\":[");
  struct W {
    const char* name;
    int64_t ms;
  };
  constexpr W kWindows[] = {{"1h", kHourMs}, {"24h", 24 * kHourMs}, {"30d", 30 * 24 * kHourMs}};
  bool first = true;
  for (const W& w : kWindows) {
    const SloWindows::Delta d = windows_.Over(now_ms, w.ms, totals);
    b.Append(first ? "{\"window\":\"" : ",{\"window\":\"");
    first = false;
    b.Append(w.name);
    b.Append("\",\"seconds\":");
    b.AppendSigned(w.ms / 1000);
    b.Append(",\"covered_seconds\":");
    b.AppendSigned(d.covered_ms / 1000);
    b.Append(",\"availability\":");
    Objective(b, "requests", d.counts.requests, "errors", d.counts.errors, objectives_.availability);
    b.Append(",\"latency\":");
    Objective(b, "requests", d.counts.timed, "slow", d.counts.slow, objectives_.latency_target);
    b.Append('}');
  }
  b.Append("]}");
}

void AddSloRoute(Routes& routes, ServiceState* state) {
  routes.Add(http::Method::kGet, "/v1/slo", auth::Access::kRead, {nullptr, &GetSlo, state});
}

}  // namespace rf::api
