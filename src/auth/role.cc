#include "auth/role.h"

namespace rf::auth {

bool RoleAllows(Role role, Access access) {
  switch (access) {
    case Access::kOpen:
    case Access::kMetrics:
    case Access::kRead: return true;  // every role reads
    case Access::kRunsStart:
    case Access::kRunsControl: return role != Role::kViewer;
    case Access::kWorkflowsWrite: return role == Role::kDeveloper || role == Role::kAdmin;
    case Access::kKeys:
    case Access::kAudit: return role == Role::kAdmin;
    case Access::kSecretsRead:
    case Access::kSecretsWrite: return role == Role::kDeveloper || role == Role::kAdmin;
  }
  return false;
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "operator") return Role::kOperator;
  if (name == "developer") return Role::kDeveloper;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kDeveloper: return "developer";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

std::string_view AccessName(Access access) {
  switch (access) {
    case Access::kOpen: return "open";
    case Access::kMetrics: return "metrics";
    case Access::kRead: return "read";
    case Access::kRunsStart: return "runs.start";
    case Access::kRunsControl: return "runs.control";
    case Access::kWorkflowsWrite: return "workflows.write";
    case Access::kKeys: return "keys";
    case Access::kSecretsRead: return "secrets.read";
    case Access::kSecretsWrite: return "secrets.write";
    case Access::kAudit: return "audit";
  }
  return "?";
}

}  // namespace rf::auth
