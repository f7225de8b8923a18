#pragma once
// AuditGate: the HTTP server's RequestAudit (http/server.h) over the audit log
// (auth/audit_log.h). The server asks it for room before a mutation of a /v1 route is even
// authenticated, and hands it the outcome once the status is known; it turns that into one
// entry: when, who (the credential's subject, "anonymous" with --auth off, "unauthenticated"
// for a request without a valid credential), the namespace, method, route pattern, the path
// parameters (the target: workflow name, run id, ...), the status and X-Request-Id.

#include "auth/audit_log.h"
#include "http/server.h"

namespace rf::api {

class AuditGate final : public http::RequestAudit {
 public:
  // `log` outlives the server.
  AuditGate(auth::AuditLog* log, bool auth_enabled) : log_(log), auth_enabled_(auth_enabled) {}
  bool Reserve(unsigned shard) override { return log_->Reserve(shard); }
  void Record(unsigned shard, const http::Request& req, const http::Router<http::Endpoint>::Match& m,
              const http::Identity& who, int status) override;

 private:
  auth::AuditLog* log_;
  bool auth_enabled_;
};

// The audit entry of one request (pure; for tests). `now_ms`: when it was answered.
store::AuditEntry MakeAuditEntry(const http::Request& req, const http::Router<http::Endpoint>::Match& m,
                                 const http::Identity& who, int status, bool auth_enabled, int64_t now_ms);

}  // namespace rf::api
