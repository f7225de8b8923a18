#pragma once
// The /v1 REST API (reference: api/README.md): thin handlers that translate
// HTTP into engine commands routed to the owning shard, and results back.

#include "api/detail/common.h"
#include "api/service.h"

namespace rf::api {

// Routes of each part; `ctx` must outlive the server.
void AddWorkflowRoutes(Routes& routes, detail::ApiContext* ctx);
void AddRunRoutes(Routes& routes, detail::ApiContext* ctx);
void AddEventRoutes(Routes& routes, detail::ApiContext* ctx);

class V1Api {
 public:
  explicit V1Api(engine::Engine* engine) { ctx_.engine = engine; }
  void AddRoutes(Routes& routes) {
    AddWorkflowRoutes(routes, &ctx_);
    AddRunRoutes(routes, &ctx_);
    AddEventRoutes(routes, &ctx_);
  }

 private:
  detail::ApiContext ctx_;
};

}  // namespace rf::api
