// Forwarding a request to the instance that holds its run's partition (forward.h).

#include "api/forward.h"

#include <array>
#include <string>

#include "auth/peer_signature.h"
#include "base/clock.h"
#include "http/syntax.h"
#include "json/parse.h"
#include "store/run_status.h"
#include "reactor/shard.h"

namespace rf::api {
namespace {

constexpr Nanos kForwardDeadline = 10 * kSeconds;

// Response::content_type is a view that must outlive the handler: the holder's Content-Type is
// kept in this shard's small set of those seen (the holder is a ringflow: a handful at most).
std::string_view StableContentType(std::string_view ct) {
  if (ct.empty()) return {};
  if (http::syntax::IEquals(ct, "application/json")) return "application/json";
  thread_local std::array<std::string, 8> seen;
  thread_local size_t used = 0;
  for (size_t i = 0; i < used; ++i)
    if (seen[i] == ct) return seen[i];
  if (used == seen.size()) return "application/octet-stream";
  seen[used] = std::string(ct);
  return seen[used++];
}

void Refuse(http::Response& resp, const Error& refused, std::string_view why) {
  Error e = refused;
  if (e.code == Errc::kNotHeld) e.code = Errc::kUnavailable;
  if (!why.empty()) {
    e.context += " (";
    e.context += why;
    e.context += ')';
  }
  resp.body.Clear();
  resp.extra_headers.clear();
  detail::ReplyError(resp, e);
}

}  // namespace

reactor::Task<Result<http::client::Response>> SendToHolder(const detail::ApiContext& ctx, uint32_t partition,
                                                          http::client::Request req, Nanos wait) {
  const unsigned shard = reactor::Shard::Current().id();
  if (shard >= ctx.forward_clients.size() || !ctx.forward_clients[shard])
    co_return Error{Errc::kUnavailable, "not forwarded: this daemon has no peers"};
  ForwardStats& stats = *ctx.forward_stats[shard];
  const Nanos t0 = MonoNow();
  auto holder = co_await ctx.engine->HolderOf(partition);  // suspends
  if (!holder) {
    stats.no_holder.Add();
    co_return Error{Errc::kUnavailable, holder.error().code == Errc::kNotFound ? "no other instance holds it now"
                                                                               : "its holder is unknown"};
  }
  req.url = (ctx.forward_tls ? "https://" : "http://") + *holder + req.url;
  req.headers.emplace_back(kForwardedHeader, "1");
  req.deadline = Deadline::After(kForwardDeadline + wait);
  auto got = co_await ctx.forward_clients[shard]->Send(std::move(req));  // suspends
  stats.seconds.ObserveNanos(MonoNow() - t0);
  if (!got) {
    stats.unreachable.Add();
    co_return Error{Errc::kUnavailable, "its holder " + *holder + " did not answer: " + got.error().ToString()};
  }
  stats.ok.Add();
  co_return got;
}

reactor::Task<void> Forward(const detail::ApiContext& ctx, http::RequestContext& rc, uint32_t partition,
                            Error refused, Nanos wait) {
  const unsigned shard = reactor::Shard::Current().id();
  if (refused.code != Errc::kNotHeld || shard >= ctx.forward_clients.size() ||
      !ctx.forward_clients[shard]) {
    Refuse(rc.resp, refused, {});
    co_return;
  }
  if (!rc.req.Header(kForwardedHeader).empty()) {
    ctx.forward_stats[shard]->loop.Add();
    Refuse(rc.resp, refused, "already forwarded once; not forwarded again");
    co_return;
  }
  http::client::Request req;
  req.method = std::string(rc.req.method_str);
  req.url = std::string(rc.req.path);
  if (!rc.req.query.empty()) {
    req.url += '?';
    req.url += rc.req.query;
  }
  // Authorization too: the holder checks the same credential (keys are shared through the
  // database; JWT settings must be the same on every daemon).
  for (std::string_view name : {std::string_view("Content-Type"), std::string_view("Idempotency-Key"),
                                std::string_view("Accept"), std::string_view("Authorization"),
                                std::string_view("traceparent")}) {  // the run joins the caller's trace there
    if (std::string_view v = rc.req.Header(name); !v.empty()) req.headers.emplace_back(name, v);
  }
  req.body = std::string(rc.req.body);
  auto got = co_await SendToHolder(ctx, partition, std::move(req), wait);  // suspends
  if (!got) {
    Refuse(rc.resp, refused, got.error().context);
    co_return;
  }
  http::Response& resp = rc.resp;
  resp.status = got->status;
  resp.content_type = StableContentType(got->Header("Content-Type"));
  resp.body.Clear();
  resp.body.Append(got->body);
  for (std::string_view name : {std::string_view("Retry-After"), std::string_view("Location")}) {
    if (std::string_view v = got->Header(name); !v.empty()) resp.AddHeader(name, v);
  }
}

reactor::Task<Result<engine::RunView>> ForwardRunRequest(const detail::ApiContext* ctx,
                                                         engine::RemoteRequest r) {
  http::client::Request req;
  req.method = std::move(r.method);
  req.url = std::move(r.path);
  // Also a POST without a body (a cancellation): the API refuses one without it (415).
  if (!r.body.empty() || req.method == "POST") req.headers.emplace_back("Content-Type", "application/json");
  if (!r.idempotency_key.empty()) req.headers.emplace_back("Idempotency-Key", r.idempotency_key);
  if (!r.parent.empty()) req.headers.emplace_back(std::string(kParentHeader), r.parent);
  if (!r.traceparent.empty()) req.headers.emplace_back("traceparent", r.traceparent);
  if (!ctx->peer_secret.empty()) {
    const auth::PeerRequest signed_part{req.method, req.url, r.idempotency_key, r.body};
    req.headers.emplace_back(std::string(auth::kPeerHeader),
                             auth::SignPeerRequest(ctx->peer_secret, WallNow() / kSeconds, signed_part));
  }
  req.body = std::move(r.body);
  auto got = co_await SendToHolder(*ctx, r.partition, std::move(req));  // suspends
  if (!got) co_return got.error();
  const int status = got->status;
  if (status == 200 || status == 201 || status == 202) {
    engine::RunView view;
    view.json = std::string(got->body);
    view.created = status == 201;
    if (auto v = json::Parse(view.json)) {
      store::RunStatus st{};
      const json::Value* s = v->Find("status");
      view.terminal = s && s->is_string() && store::ParseRunStatus(s->as_string(), st) && store::IsTerminal(st);
    }
    co_return view;
  }
  std::string what = "the holder answered " + std::to_string(status) + ": " + std::string(got->body).substr(0, 200);
  switch (status) {
    case 401:  // not signed, or a holder that checks no signature: the fire runs on its own partition
    case 403: co_return Error{Errc::kNotHeld, std::move(what)};
    case 404: co_return Error{Errc::kNotFound, std::move(what)};
    case 409: co_return Error{Errc::kConflict, std::move(what)};
    case 429: co_return Error{Errc::kLimited, std::move(what)};
    case 502:
    case 503:
    case 504: co_return Error{Errc::kUnavailable, std::move(what)};
    default: co_return Error{Errc::kInternal, std::move(what)};
  }
}

void RenderForwardMetrics(const std::vector<const ForwardStats*>& shards, std::string& out) {
  obs::TextExposition x(out);
  x.Family("rf_forward_requests_total", "counter",
           "requests for runs another instance holds, sent on to it, by outcome");
  auto sum = [&](auto member) {
    uint64_t n = 0;
    for (const ForwardStats* s : shards) n += (s->*member).Get();
    return n;
  };
  x.SampleU("rf_forward_requests_total", "outcome=\"ok\"", sum(&ForwardStats::ok));
  x.SampleU("rf_forward_requests_total", "outcome=\"unreachable\"", sum(&ForwardStats::unreachable));
  x.SampleU("rf_forward_requests_total", "outcome=\"no_holder\"", sum(&ForwardStats::no_holder));
  x.SampleU("rf_forward_requests_total", "outcome=\"loop\"", sum(&ForwardStats::loop));
  x.Family("rf_forward_seconds", "histogram", "holder lookup and exchange of forwarded requests");
  std::vector<const obs::Histogram*> parts;
  for (const ForwardStats* s : shards) parts.push_back(&s->seconds);
  x.HistogramSum("rf_forward_seconds", "", parts);
}

}  // namespace rf::api
