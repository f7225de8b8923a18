#pragma once
// Roles and the access each route needs. A principal (an API key or a JWT) holds one role in one
// namespace ("*": every namespace); a route declares one Access when it is registered
// (api::Routes::Add), and RoleAllows is the whole permission table (src/api/README.md shows it).

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/tenancy.h"

namespace rf::auth {

enum class Role : uint8_t { kViewer, kOperator, kDeveloper, kAdmin };

enum class Access : uint8_t {
  kOpen,            // no credential needed (/health/*)
  kMetrics,         // /metrics: open unless --metrics-auth on, then any role
  kRead,            // GETs of workflows, runs, events, dead-letter, the OpenAPI document
  kRunsStart,       // POST /v1/workflows/{name}/runs
  kRunsControl,     // cancel, signal, retry
  kWorkflowsWrite,  // PUT / DELETE /v1/workflows/{name}
  kKeys,            // /v1/keys
  kSecretsRead,     // GET /v1/secrets (names and times only, never values)
  kSecretsWrite,    // PUT / DELETE /v1/secrets/{name}
  kAudit,           // GET /v1/audit
};

constexpr size_t kRoleCount = 4;

bool RoleAllows(Role role, Access access);
std::optional<Role> ParseRole(std::string_view name);  // "admin", "operator", ...
std::string_view RoleName(Role role);
std::string_view AccessName(Access access);  // "read", "runs.start", ...

// Whether a principal of namespace `principal_ns` may act in namespace `ns`.
inline bool NamespaceAllows(std::string_view principal_ns, std::string_view ns) {
  return principal_ns == "*" || principal_ns == ns;
}

// Namespace names: base/tenancy.h's ValidNamespace ("*", every namespace, for keys only).
using rf::ValidNamespace;

}  // namespace rf::auth
