#pragma once
// What callers hand the coordinator and get back from it: the engine's options, a start, the
// run as the API answers with it, listings, and requests about runs another daemon holds.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "engine/breaker.h"
#include "engine/definition.h"
#include "engine/permit_table.h"
#include "engine/run.h"
#include "json/value.h"
#include "reactor/task.h"
#include "trace/trace_context.h"

namespace rf::engine {

constexpr uint32_t kDefaultMaxWorkflowDepth = 8;
constexpr uint32_t kMaxWorkflowDepthLimit = 64;

struct EngineOptions {
  std::string data_dir;
  bool fsync = true;
  Nanos retention = 7 * 86'400 * kSeconds;  // terminal runs older than this are removed
  size_t snapshot_bytes = 8 << 20;          // journal growth that triggers a snapshot (at least)
  size_t http_concurrency = 1024;           // in-flight http steps per shard
  Nanos http_timeout = 60 * kSeconds;       // per attempt when the step sets no timeout_ms
  size_t sse_buffer = 1 << 20;              // unsent bytes before a subscriber is cut off
  size_t history_cache = 64 << 20;          // finished runs kept in memory, all shards together
  // A GET of a run at least this old, on a shard that is not its owner, reads a history on a
  // server (PostgreSQL) itself instead of asking the owner (--history-read-age;
  // Engine::GetFinished).
  Nanos history_read_age = 60 * kSeconds;
  // false: finished runs stay in memory and in the journal until retention, as
  // if they had not been moved yet (tests of the journal alone; the daemon
  // always moves them).
  bool history = true;
  // Circuit breakers of http steps (engine/breaker.h): the default of steps that name none
  // (--circuit-breaker; absent: none), and how many breakers a shard keeps (--breakers-max).
  std::optional<BreakerSettings> default_breaker;
  size_t max_breakers = 10'000;
  // Nesting of workflow steps (--max-workflow-depth): a run started by a workflow step is one
  // level below its parent; a step whose child would be deeper fails (workflow_depth_exceeded).
  uint32_t max_workflow_depth = kDefaultMaxWorkflowDepth;
  // Items of one map step (--max-map-items): a literal array above it is refused at the put, a
  // rendered one fails the step (map_too_many_items). Process-wide (engine/map_step.h).
  int64_t max_map_items = kDefaultMaxMapItems;
  // Waiters for step-level concurrency permits one home shard holds (--step-permit-waiters);
  // a request past it fails its attempt, retryably (engine/permit_table.h).
  size_t max_permit_waiters = kDefaultMaxPermitWaiters;
};

struct StartCommand {
  std::shared_ptr<const Definition> def;
  json::Value input;
  Priority priority = Priority::kDefault;
  std::string idempotency_key;
  uint32_t partition = 0;
  Nanos wait = 0;  // > 0: answer when terminal or after this long
  // > 0: kLimited when the namespace has this many live runs already (here); < 0: kLimited
  // (the cluster's other instances hold its quota); 0: no limit.
  int64_t live_limit = 0;
  trace::TraceParent trace_parent;  // the start's valid `traceparent`, joined by the run's trace
  ParentLink parent;  // a child run of a workflow step (coordinator_children.cc)
};

// A run as the API answers with it.
struct RunView {
  std::string json;      // RunToJson
  bool created = false;  // Start: this call created it
  bool terminal = false;
};

// A request about a run of a partition another daemon of the cluster holds, sent to that
// daemon as an API request (api/forward.h ForwardRunRequest, signed: auth/peer_signature.h).
struct RemoteRequest {
  uint32_t partition = 0;
  std::string method;  // "GET" or "POST"
  std::string path;    // "/v1/namespaces/<ns>/..." ("/v1/..." in the default namespace)
  std::string body;    // JSON, or empty
  std::string idempotency_key;
  std::string parent;  // a child run's start: its link (ParentHeader), sent as X-Ringflow-Parent
  std::string traceparent;  // a child run's start: the trace it joins (its parent's), or empty
};
// The holder's answer as a RunView (201: created), or its error: kNotFound, kConflict,
// kLimited, kUnavailable (no holder, unreachable, 503), kNotHeld (refused: 401, 403), kInternal.
using RemoteRuns = std::function<reactor::Task<Result<RunView>>(RemoteRequest)>;

// X-Ringflow-Parent: "<run id>;<attempt>;<depth>;<step id>", a child run's ParentLink as the
// start of a child on another daemon carries it. Parse: nullopt unless exactly that.
std::string ParentHeader(const ParentLink& p);
std::optional<ParentLink> ParseParentHeader(std::string_view text);

struct RunQuery {
  std::string workflow;  // empty: any (qualified: base/tenancy.h)
  std::optional<std::string> ns;  // only runs of this namespace; none: any
  bool any_status = true;
  RunStatus status = RunStatus::kPending;
  size_t limit = 100;
  std::optional<RunId> before;  // cursor: ids strictly older
  bool dead_letter = false;      // failed runs, with their error
};

struct RunPage {
  std::vector<std::pair<RunId, std::string>> runs;  // newest first, JSON objects
  bool more = false;
};

}  // namespace rf::engine
