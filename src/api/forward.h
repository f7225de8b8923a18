#pragma once
// Forwarding: a request for a run whose partition another instance holds (the engine answers
// kNotHeld) is sent on to that instance and its answer relayed, so any daemon accepts any API
// request.
//
// The holder's address comes from the store (Engine::HolderOf: PostgreSQL's instances table,
// cached about a second). The request goes over the calling shard's own outbound client
// (keep-alive connections; allow-all egress, since peers are private addresses) with its method,
// path and query, body, Content-Type, Idempotency-Key and Accept, plus X-Ringflow-Forwarded: 1;
// the answer's status, body, Content-Type, Retry-After and Location are relayed. A request that
// already carries X-Ringflow-Forwarded is never forwarded again, so two daemons cannot bounce
// one. Forwarding impossible (no holder known, holder unreachable, loop, no client) answers the
// engine's 503 + Retry-After. SSE streams are not forwarded.

#include <string>
#include <vector>

#include "api/detail/common.h"
#include "http/client/client.h"
#include "obs/metrics.h"
#include "schedule/scheduler.h"

namespace rf::api {

inline constexpr std::string_view kForwardedHeader = "X-Ringflow-Forwarded";
// A child run's start sent to the daemon holding its key's partition: its parent's link
// (engine::ParentHeader). Taken only from a signed peer, or with --auth off.
inline constexpr std::string_view kParentHeader = "X-Ringflow-Parent";

// One shard's forwarding counters (written only on that shard).
struct ForwardStats {
  obs::Counter ok;           // relayed the holder's answer (whatever its status)
  obs::Counter unreachable;  // the holder did not answer (connect, timeout, bad response)
  obs::Counter no_holder;    // no other instance holds the partition now (or the lookup failed)
  obs::Counter loop;         // the request had been forwarded already
  obs::Histogram seconds;    // holder lookup + exchange, forwarded requests only
};

// rf_forward_requests_total{outcome="ok|unreachable|no_holder|loop"} and rf_forward_seconds, summed
// over the shards.
void RenderForwardMetrics(const std::vector<const ForwardStats*>& shards, std::string& out);

// Sends `req` (its url only the path and query) to the instance holding `partition`, marked as
// forwarded, over the calling shard's client; counted in its ForwardStats. Suspends. Errors:
// kUnavailable naming why (no peers, no holder, the holder did not answer).
reactor::Task<Result<http::client::Response>> SendToHolder(const detail::ApiContext& ctx, uint32_t partition,
                                                          http::client::Request req, Nanos wait = 0);

// Answers `rc` for a request the engine refused with `refused` (kNotHeld) for a run of
// `partition`: relays the holder's answer, or writes the 503. `wait`: the request's ?wait, added to
// the deadline. Suspends.
reactor::Task<void> Forward(const detail::ApiContext& ctx, http::RequestContext& rc, uint32_t partition,
                            Error refused, Nanos wait = 0);

// The schedulers' forwarder (schedule::Forwarder): sends `req` to the holder of its partition
// with SendToHolder and reads the answer as a run. No Authorization goes with it (a fire has no
// caller): a holder that requires one answers 401, which is kNotHeld here, so the scheduler
// starts the fire on the schedule's own partition instead (scheduler_route.cc). Suspends.
reactor::Task<Result<engine::RunView>> ForwardRunRequest(const detail::ApiContext* ctx,
                                                         engine::RemoteRequest req);

}  // namespace rf::api
