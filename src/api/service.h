#pragma once
// ServiceState: what the operational endpoints report on. Owned by app/,
// read from every shard (atomics only).

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "auth/role.h"
#include "engine/engine.h"
#include "http/handler.h"
#include "http/server.h"
#include "reactor/reactor.h"

namespace rf::api {

class SloService;

struct ServiceState {
  std::string version;
  Nanos started_mono = 0;
  double started_unix = 0;
  size_t shards = 0;
  http::Server* server = nullptr;
  http::Server* internal_server = nullptr;  // --internal-listen; its requests count in /metrics too
  reactor::Reactor* reactor = nullptr;
  engine::Engine* engine = nullptr;
  std::atomic<bool> draining{false};
  // Appends metric families of modules api may not include (the http steps' outbound client);
  // set by app/ before serving, called on any shard, reads only what outlives the server.
  std::function<void(std::string& out)> more_metrics;
  // Set by app/ when schedules are served: not ready until they are loaded too.
  const std::atomic<bool>* schedules_open = nullptr;
  // What works in part while the daemon is still ready (/health/ready's "degraded"): each a
  // component and what pauses without it, e.g. {"redis", "cross-instance event streams pause"}.
  // Set by app/ before serving; called on any shard. Unset: nothing is ever degraded.
  struct Degraded {
    std::string component;
    std::string effect;
  };
  std::function<std::vector<Degraded>()> degraded;
  // GET /v1/slo's source (api/slo.h); set by app/ before serving.
  SloService* slo = nullptr;

  bool Ready() const {
    return !draining.load(std::memory_order_acquire) && server &&
           server->serving_shards() == static_cast<int>(shards) &&
           (!engine || (engine->ready() && engine->stores_healthy())) &&
           (!schedules_open || schedules_open->load(std::memory_order_acquire));
  }
};

// The routing table under construction: the router plus the metric label of each route, and
// the list of what was registered (for the OpenAPI document's test and `ringflow routes`).
struct Routes {
  struct Entry {
    http::Method method;
    std::string pattern;
    auth::Access access;
  };
  http::Router<http::Endpoint> router;
  std::vector<std::string> names{"other"};
  std::vector<Entry> table;  // in registration order; HEAD is implied by GET, not listed

  // Every route states what access it needs (auth/role.h): the server's admission (auth_gate.h)
  // checks it before the handler runs, so no route can be added without a decision.
  void Add(http::Method method, std::string_view pattern, auth::Access access, http::Endpoint ep);
  // A route of something that belongs to a namespace: `pattern` ("/v1/...") serves the default
  // namespace, and "/v1/namespaces/{ns}/..." any namespace; the handler reads which with
  // RequestNamespace (auth_gate.h), which the admission has already checked.
  void AddScoped(http::Method method, std::string_view pattern, auth::Access access,
                 http::Endpoint ep);
};

// GET /health, /health/live, /health/ready, /metrics.
void AddOperationalRoutes(Routes& routes, ServiceState* state);

}  // namespace rf::api
