#pragma once
// The /v1 REST API (reference: api/README.md): thin handlers that translate
// HTTP into engine commands routed to the owning shard, and results back.

#include "api/bulk.h"
#include "api/detail/common.h"
#include "api/forward.h"
#include "api/service.h"

namespace rf::api {

// Routes of each part; `ctx` must outlive the server.
void AddWorkflowRoutes(Routes& routes, detail::ApiContext* ctx);
void AddRunRoutes(Routes& routes, detail::ApiContext* ctx);
void AddEventRoutes(Routes& routes, detail::ApiContext* ctx);
void AddKeyRoutes(Routes& routes, detail::ApiContext* ctx);
void AddTriggerRoutes(Routes& routes, detail::ApiContext* ctx);
void AddBreakerRoutes(Routes& routes, detail::ApiContext* ctx);
void AddSecretRoutes(Routes& routes, detail::ApiContext* ctx);
void AddAuditRoutes(Routes& routes, detail::ApiContext* ctx);
void AddOperationRoutes(Routes& routes, detail::ApiContext* ctx);
void AddScheduleRoutes(Routes& routes, detail::ApiContext* ctx);
void AddFlowRoutes(Routes& routes, detail::ApiContext* ctx);

class V1Api {
 public:
  explicit V1Api(engine::Engine* engine) { ctx_.engine = engine; }
  // Requests for runs another instance holds are forwarded to it (forward.h) with
  // clients[shard], counted in stats[shard]; both by shard, used only on their shard, and
  // outliving the server. Call before serving.
  // `tls`: peers serve https (this daemon has --tls-cert), so forwarded requests use it.
  // `peer_secret`: the cluster's secret, which the schedulers' requests are signed with.
  // The engine's child runs on other daemons go through it too (Engine::SetRemoteRuns).
  void EnableForwarding(std::vector<http::client::Client*> clients,
                        std::vector<ForwardStats*> stats, bool tls = false,
                        std::string peer_secret = {}) {
    ctx_.forward_clients = std::move(clients);
    ctx_.forward_stats = std::move(stats);
    ctx_.forward_tls = tls;
    ctx_.peer_secret = std::move(peer_secret);
    const detail::ApiContext* ctx = &ctx_;
    ctx_.engine->SetRemoteRuns([ctx](engine::RemoteRequest req) { return ForwardRunRequest(ctx, std::move(req)); });
  }
  // /v1/keys answers 503 until this is called. `keys` outlives the server.
  void EnableKeys(auth::KeyService* keys) { ctx_.keys = keys; }
  // Run starts and live runs are limited per namespace. `quotas` outlives the server.
  void EnableQuotas(Quotas* quotas) { ctx_.quotas = quotas; }
  // /v1/secrets and /v1/audit answer 503 until these are called; both outlive the server.
  void EnableSecrets(auth::SecretService* secrets) { ctx_.secrets = secrets; }
  void EnableAudit(auth::AuditLog* audit) { ctx_.audit = audit; }
  // /v1/operations answers 503 until this is called; `bulk` outlives the server and is bound
  // to this API's context (its engine and forwarding).
  void EnableBulk(BulkOperations* bulk) {
    ctx_.bulk = bulk;
    bulk->Bind(&ctx_);
  }
  // /v1/schedules answers 503 until this is called; `schedules` outlives the server.
  // Its fires and overlap looks of runs another instance holds go through this API's
  // forwarding (api/forward.h ForwardRunRequest).
  void EnableSchedules(schedule::Schedulers* schedules) {
    ctx_.schedules = schedules;
    const detail::ApiContext* ctx = &ctx_;
    schedules->SetForwarder([ctx](schedule::RunRequest req) { return ForwardRunRequest(ctx, std::move(req)); });
  }
  void AddRoutes(Routes& routes) {
    AddWorkflowRoutes(routes, &ctx_);
    AddFlowRoutes(routes, &ctx_);
    AddRunRoutes(routes, &ctx_);
    AddEventRoutes(routes, &ctx_);
    AddKeyRoutes(routes, &ctx_);
    AddTriggerRoutes(routes, &ctx_);
    AddBreakerRoutes(routes, &ctx_);
    AddSecretRoutes(routes, &ctx_);
    AddAuditRoutes(routes, &ctx_);
    AddOperationRoutes(routes, &ctx_);
    AddScheduleRoutes(routes, &ctx_);
  }

 private:
  detail::ApiContext ctx_;
};

}  // namespace rf::api
