#pragma once
// The running daemon's parts, shared by `serve`'s wiring (serve.cc), its start and drain
// (lifecycle.cc) and its signals and reloads (reloads.cc). Owned by Serve(); every pointer
// outlives the reactor's run.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "api/bulk.h"
#include "api/forward.h"
#include "api/quotas.h"
#include "api/service.h"
#include "api/slo.h"
#include "app/config.h"
#include "app/namespace_egress.h"
#include "app/notify.h"
#include "app/security.h"
#include "app/tracing.h"
#include "auth/authenticator.h"
#include "auth/key_service.h"
#include "engine/engine.h"
#include "http/client/client.h"
#include "http/client/egress_policy.h"
#include "http/server.h"
#include "reactor/reactor.h"
#include "reactor/task.h"
#include "schedule/scheduler.h"
#include "steps/http_step.h"
#include "store/leadership.h"
#include "tls/tls_client.h"
#include "tls/tls_context.h"

namespace rf::app {

struct Daemon {
  explicit Daemon(const Config& c) : config(c) {}
  const Config& config;
  api::ServiceState state;
  reactor::Reactor* reactor = nullptr;
  http::Server* server = nullptr;
  engine::Engine* engine = nullptr;
  // What the clients may connect to (shared, immutable), and their counters, which /metrics
  // reads: both outlive the clients.
  http::client::EgressPolicy egress;
  std::vector<std::unique_ptr<http::client::ClientStats>> client_stats;
  std::unique_ptr<tls::TlsClientContext> http_tls;  // https for http steps; null: refused
  // Each shard's http step client: destroyed on its shard (its pool's timers live there).
  std::vector<std::unique_ptr<steps::ClientHttpExecutor>> executors;
  int signal_fd = -1;
  // The signal watcher (shard 0) and its read in flight: Drain cancels the read and waits for the
  // watcher to end, so its frame is freed before the reactor stops.
  reactor::Completion* signal_read = nullptr;
  reactor::TaskGroup signal_watcher;
  std::atomic<int> exit_code{0};
  std::atomic<unsigned> started{0};
  Notifier notifier;
  // Forwarding API requests to the instance that holds the run (store postgres): each shard's
  // client (destroyed on its shard, as the executors) under an allow-all policy (peers are
  // private addresses), and their counters.
  http::client::EgressPolicy forward_egress;
  std::unique_ptr<NamespaceEgress> ns_egress;  // --quotas-file "egress_allow"; null: no file
  std::unique_ptr<tls::TlsClientContext> peer_tls;  // --tls-cert: peers are reached over https
  std::vector<std::unique_ptr<http::client::Client>> forward_clients;
  std::vector<std::unique_ptr<api::ForwardStats>> forward_stats;
  // Authentication: each shard's authenticator (used only on its shard) and the key service
  // (shard 0). The JWT keys are swapped whole on SIGHUP (ReloadJwks).
  std::vector<std::unique_ptr<auth::Authenticator>> authenticators;
  std::unique_ptr<auth::KeyService> keys;
  std::string jwt_secret;
  std::unique_ptr<api::Quotas> quotas;  // --quotas-file; null without one
  tls::TlsContext* tls = nullptr;  // --tls-cert: reloaded on SIGHUP
  http::Server* internal = nullptr;           // --internal-listen; null: none
  tls::TlsContext* internal_tls = nullptr;    // its context (client certificates required)
  // Secrets (a vault per shard, the service on shard 0) and the audit log.
  std::unique_ptr<Security> security;
  std::unique_ptr<api::BulkOperations> bulk;  // /v1/operations: workers stopped before the engine
  // Every shard's scheduler (schedule/scheduler.h); opened after the engine, closed before it.
  std::unique_ptr<schedule::Schedulers> schedules;
  // The singleton jobs this daemon leads (shard 0's election rounds).
  store::Leadership* leadership = nullptr;
  Tracing* tracing = nullptr;  // tracers and OTLP exporters (--otlp-endpoint)
  bool slo_stop = false;       // ends the SLO sampler (shard 0)
  reactor::TaskGroup slo_sampler;
};

int64_t OpenConnections(const Daemon* d);
// Replays the store, then tells systemd we are ready: /v1 answers 503 until then. A store,
// key set or schedule table that cannot be loaded drains the daemon with exit code 1.
reactor::Task<void> OpenEngine(Daemon* d, std::string where);
// Closes the listeners, waits for open connections (--drain-timeout), then closes every part
// in the order that loses nothing, and stops the reactor.
reactor::Task<void> Drain(Daemon* d);
// Shard 0: SIGTERM/SIGINT drain (a second one exits at once); SIGHUP reloads the JWKS, the TLS
// certificates and the quotas file.
reactor::Task<void> WatchSignals(Daemon* d);

// Authentication (auth_setup.cc): the bootstrap admin key, the JWT keys, one authenticator per
// shard (appended to `shards`) and the key service on `stores`. 0, or the exit code after
// logging which file or setting cannot be used.
int SetUpAuth(Daemon& d, store::StoreFactory& stores, std::vector<auth::Authenticator*>& shards);

}  // namespace rf::app
