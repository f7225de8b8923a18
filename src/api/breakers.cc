// GET /v1/breakers: the circuit breakers of http steps, read from every shard (each shard
// trips on its own calls, so a key may be listed once per shard). Breakers are the daemon's,
// not a namespace's: the route is in the default namespace.

#include <algorithm>
#include <charconv>

#include "api/detail/common.h"
#include "api/v1.h"
#include "json/writer.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using http::RequestContext;
using State = engine::CircuitBreaker::State;

// Open ones first: they are what an operator looks for.
int Rank(State s) { return s == State::kOpen ? 0 : s == State::kHalfOpen ? 1 : 2; }

json::Value SettingsJson(const engine::BreakerSettings& s) {
  json::Object o;
  if (s.consecutive_failures > 0)
    o.emplace_back("consecutive_failures", static_cast<int64_t>(s.consecutive_failures));
  if (s.rate_threshold > 0) {
    o.emplace_back("failure_rate", json::Object{{"threshold", s.rate_threshold},
                                                {"window_ms", s.rate_window / kMillis},
                                                {"min_calls", static_cast<int64_t>(s.rate_min_calls)}});
  }
  o.emplace_back("cool_down_ms", s.cool_down / kMillis);
  o.emplace_back("half_open_probes", static_cast<int64_t>(s.half_open_probes));
  o.emplace_back("when_open", std::string(engine::WhenOpenName(s.when_open)));
  return json::Value(std::move(o));
}

json::Value BreakerJson(const engine::BreakerView& v) {
  auto ms_or_null = [](int64_t ms) { return ms != 0 ? json::Value(ms) : json::Value(nullptr); };
  json::Object o{{"key", v.key},
                 {"shard", static_cast<int64_t>(v.shard)},
                 {"state", std::string(engine::BreakerStateName(v.state))},
                 {"consecutive_failures", static_cast<int64_t>(v.consecutive_failures)},
                 {"window", json::Object{{"calls", static_cast<int64_t>(v.window_calls)},
                                         {"failures", static_cast<int64_t>(v.window_failures)}}},
                 {"opened_at_ms", ms_or_null(v.opened_at_ms)},
                 {"next_probe_ms", ms_or_null(v.next_probe_ms)},
                 {"probes_in_flight", static_cast<int64_t>(v.probes_in_flight)},
                 {"delayed_steps", static_cast<int64_t>(v.delayed)},
                 {"settings", SettingsJson(v.settings)}};
  return json::Value(std::move(o));
}

reactor::Task<void> List(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) ||
      !detail::OnlyParams(rc.req.query, {"state", "key", "limit"}, rc.resp))
    co_return;
  bool bad = false;
  std::optional<State> state;
  if (auto s = detail::QueryParam(rc.req.query, "state", bad)) {
    if (*s == "closed") state = State::kClosed;
    else if (*s == "open") state = State::kOpen;
    else if (*s == "half_open") state = State::kHalfOpen;
    else {
      rc.resp.Error(400, "invalid_argument", "state must be closed, open or half_open");
      co_return;
    }
  }
  const std::optional<std::string> key = detail::QueryParam(rc.req.query, "key", bad);
  size_t limit = 100;
  if (auto l = detail::QueryParam(rc.req.query, "limit", bad)) {
    auto [end, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
    if (ec != std::errc() || end != l->data() + l->size() || limit < 1 || limit > 1000) {
      rc.resp.Error(400, "invalid_argument", "limit must be an integer from 1 to 1000");
      co_return;
    }
  }
  if (bad) {
    rc.resp.Error(400, "invalid_argument", "malformed percent-encoding in the query");
    co_return;
  }
  std::vector<engine::BreakerView> all = co_await ctx.engine->Breakers();  // suspends
  std::erase_if(all, [&](const engine::BreakerView& v) {
    return (state && v.state != *state) || (key && v.key != *key);
  });
  std::sort(all.begin(), all.end(), [](const engine::BreakerView& a, const engine::BreakerView& b) {
    if (Rank(a.state) != Rank(b.state)) return Rank(a.state) < Rank(b.state);
    if (a.key != b.key) return a.key < b.key;
    return a.shard < b.shard;
  });
  json::Array list;
  for (size_t i = 0; i < all.size() && i < limit; ++i) list.push_back(BreakerJson(all[i]));
  json::Object out{{"breakers", std::move(list)},
                   {"total", static_cast<int64_t>(all.size())},
                   {"more", all.size() > limit}};
  detail::ReplyJson(rc.resp, 200, json::ToString(json::Value(std::move(out))));
}

}  // namespace

void AddBreakerRoutes(Routes& routes, detail::ApiContext* ctx) {
  routes.Add(http::Method::kGet, "/v1/breakers", auth::Access::kRead, {nullptr, &List, ctx});
}

}  // namespace rf::api
