#include "api/audit_gate.h"

#include "api/auth_gate.h"
#include "base/buffer.h"
#include "base/clock.h"
#include "json/writer.h"

namespace rf::api {
namespace {

constexpr size_t kMaxRequestId = 128;

// X-Request-Id as given, when it is short printable ASCII; a client's arbitrary bytes are not
// worth keeping forever.
std::string RequestId(std::string_view v) {
  if (v.size() > kMaxRequestId) return {};
  for (char c : v)
    if (c < 0x20 || c > 0x7e) return {};
  return std::string(v);
}

}  // namespace

store::AuditEntry MakeAuditEntry(const http::Request& req, const http::Router<http::Endpoint>::Match& m,
                                 const http::Identity& who, int status, bool auth_enabled, int64_t now_ms) {
  store::AuditEntry e;
  e.at_ms = now_ms;
  e.subject = who.authenticated ? who.subject : auth_enabled ? "unauthenticated" : "anonymous";
  e.ns = std::string(RequestNamespace(m.params));
  e.method = std::string(req.method_str);
  e.route = std::string(m.pattern);
  Buffer target;
  target.Append("{");
  bool first = true;
  for (size_t i = 0; i < m.params.count; ++i) {
    const auto& [name, value] = m.params.items[i];
    if (name == "ns") continue;  // it is the entry's namespace
    if (!first) target.Append(",");
    first = false;
    json::WriteString(name, target);
    target.Append(":");
    json::WriteString(value, target);
  }
  target.Append("}");
  e.target = std::string(target.view());
  e.status = status;
  e.request_id = RequestId(req.Header("X-Request-Id"));
  return e;
}

void AuditGate::Record(unsigned shard, const http::Request& req,
                       const http::Router<http::Endpoint>::Match& m, const http::Identity& who,
                       int status) {
  log_->Commit(shard, MakeAuditEntry(req, m, who, status, auth_enabled_, WallNow() / 1'000'000));
}

}  // namespace rf::api
