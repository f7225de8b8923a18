// Server-Sent Events: GET /v1/runs/{id}/events and GET /v1/events?workflow=.
// The subscriber lives on the connection's shard; owners publish into it by
// mailbox and never wait for it. This coroutine drains it into the socket,
// sends a heartbeat comment when idle, and ends with the run (or on overflow,
// drain, or a dead peer).

#include <charconv>

#include "api/detail/common.h"
#include "api/v1.h"
#include "reactor/submit_to.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using engine::Coordinator;
using http::RequestContext;

constexpr Nanos kHeartbeat = 15 * kSeconds;

// Parks the writer until the subscriber has news or `timeout` passes.
class ParkFor {
 public:
  ParkFor(fanout::Subscriber& s, Nanos timeout) : sub_(s), when_(MonoNow() + timeout) {
    node_.fire = &Fire;
    node_.self = this;
  }
  bool await_ready() const noexcept { return sub_.has_pending() || sub_.ended() || sub_.overflowed(); }
  void await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    sub_.Park(h);
    reactor::Shard::Current().Arm(&node_, when_);
  }
  bool await_resume() {  // false: timed out
    reactor::Shard::Current().Disarm(&node_);
    return !timed_out_;
  }

 private:
  struct Node : reactor::Shard::TimerNode {
    ParkFor* self;
  };
  static void Fire(reactor::Shard::TimerNode* n) {
    ParkFor* p = static_cast<Node*>(n)->self;
    p->timed_out_ = true;
    p->sub_.Unpark();
    reactor::Shard::Current().Schedule(p->handle_);
  }
  fanout::Subscriber& sub_;
  Nanos when_;
  Node node_;
  std::coroutine_handle<> handle_;
  bool timed_out_ = false;
};

void AbortStream(void* p) { static_cast<http::Stream*>(p)->Abort(); }
void WakeWriter(void* p) { static_cast<fanout::Subscriber*>(p)->Wake(); }

// Kernel send buffer of an HTTP/1.1 SSE connection: events are small, and a reader that
// stops pins at most this in the kernel (on top of --sse-buffer of references here)
// instead of what TCP autotuning would grow to (megabytes). Costs throughput only
// on links whose bandwidth-delay product exceeds it.
constexpr int kSseSendBuffer = 64 * 1024;

reactor::Task<void> Write(ApiContext& ctx, RequestContext& rc, fanout::Subscriber& sub) {
  engine::ShardEngineStats& stats =
      const_cast<engine::ShardEngineStats&>(ctx.engine->metrics().shards[rc.stream->shard()]);
  stats.sse_subscribers.Add(1);
  sub.OnOverflow(&AbortStream, rc.stream);
  rc.stream->OnAbort(&WakeWriter, &sub);
  rc.stream->LimitSendBuffer(kSseSendBuffer);
  rc.resp.status = 200;
  rc.resp.content_type = "text/event-stream";
  rc.resp.body.Clear();
  rc.resp.AddHeader("Cache-Control", "no-cache");
  rc.resp.AddHeader("X-Accel-Buffering", "no");
  bool ok = co_await rc.stream->Start(rc.resp);  // suspends
  rc.stream->ReleaseRequest();  // rc is not read from here on: an idle stream keeps no buffers
  // Every frame queued since the last write goes out in one write: references to the
  // shared chunks (held until the send is done), never a per-connection copy.
  std::vector<fanout::Chunk> batch;
  std::vector<std::string_view> parts;
  while (ok && !sub.overflowed()) {
    if (sub.has_pending()) {
      sub.TakePending(batch);
      parts.clear();
      for (const fanout::Chunk& c : batch) parts.push_back(*c);
      stats.sse_writes.Add();
      stats.sse_frames.Add(batch.size());
      ok = co_await rc.stream->Send(std::span<const std::string_view>(parts));  // suspends
      batch.clear();
      continue;
    }
    // Idle: no capacity kept between bursts (a parked subscriber holds no buffers).
    if (batch.capacity() > 16) {
      batch.shrink_to_fit();
      parts.shrink_to_fit();
    }
    if (sub.ended() || rc.stream->aborted()) break;
    ParkFor park(sub, kHeartbeat);
    if (!co_await park) {
      static constexpr std::string_view kBeat = ": heartbeat\n\n";
      ok = co_await rc.stream->Send(std::span<const std::string_view>(&kBeat, 1));  // suspends
    }
  }
  if (sub.overflowed()) stats.sse_dropped.Add();
  sub.Close();
  sub.OnOverflow(nullptr, nullptr);
  stats.sse_subscribers.Add(-1);
}

reactor::Task<Status> SubscribeOn(engine::RunId id, uint64_t after, std::shared_ptr<fanout::Subscriber> s,
                                  std::string ns) {
  return Coordinator::Local().Subscribe(id, after, std::move(s), std::move(ns));
}

void SubscribeWorkflowOn(std::string workflow, std::shared_ptr<fanout::Subscriber> s) {
  Coordinator::Local().SubscribeWorkflow(std::move(workflow), std::move(s));
}

reactor::Task<void> RunEvents(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  auto id = detail::PathRunId(rc);
  if (!id) co_return;
  uint64_t after = 0;
  if (std::string_view last = rc.req.Header("Last-Event-ID"); !last.empty()) {
    auto [end, ec] = std::from_chars(last.data(), last.data() + last.size(), after);
    if (ec != std::errc() || end != last.data() + last.size()) {
      rc.resp.Error(400, "invalid_argument", "Last-Event-ID must be an event id this stream sent");
      co_return;
    }
  }
  auto sub = std::make_shared<fanout::Subscriber>(rc.stream->shard(), ctx.engine->options().sse_buffer);
  auto op = reactor::SubmitTo(ctx.engine->OwnerOf(*id), &SubscribeOn, *id, after, sub,
                              std::string(detail::Namespace(rc)));
  Status st = co_await op;  // suspends
  if (!st) {
    sub->Close();
    detail::ReplyError(rc.resp, st.error(), "run_not_found");
    co_return;
  }
  co_await Write(ctx, rc, *sub);  // suspends
}

reactor::Task<void> WorkflowEvents(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {"workflow"}, rc.resp))
    co_return;
  bool bad = false;
  auto name = detail::QueryParam(rc.req.query, "workflow", bad);
  if (!name || bad) {
    rc.resp.Error(400, "invalid_argument", "workflow=NAME is required");
    co_return;
  }
  const std::string qualified = detail::QualifiedName(rc, *name);
  if (!Coordinator::Local().registry().Latest(qualified)) {
    rc.resp.Error(404, "workflow_not_found", "no workflow named '" + *name + "'");
    co_return;
  }
  auto sub = std::make_shared<fanout::Subscriber>(rc.stream->shard(), ctx.engine->options().sse_buffer);
  for (unsigned i = 0; i < ctx.engine->shards(); ++i) {
    auto op = reactor::SubmitTo(i, &SubscribeWorkflowOn, qualified, sub);
    co_await op;  // suspends
  }
  co_await Write(ctx, rc, *sub);  // suspends
}

}  // namespace

void AddEventRoutes(Routes& routes, detail::ApiContext* ctx) {
  using http::Method;
  routes.AddScoped(Method::kGet, "/v1/runs/{id}/events", auth::Access::kRead, {nullptr, &RunEvents, ctx});
  routes.AddScoped(Method::kGet, "/v1/events", auth::Access::kRead, {nullptr, &WorkflowEvents, ctx});
}

}  // namespace rf::api
