#pragma once
// Secrets and the audit log as `serve` wires them: the secrets key (read at start), a vault per
// shard, the secret service (shard 0), the audit log and the HTTP server's audit gate.

#include <memory>
#include <string>
#include <vector>

#include "api/audit_gate.h"
#include "app/config.h"
#include "auth/audit_log.h"
#include "auth/secret_service.h"
#include "reactor/task.h"
#include "store/store.h"

namespace rf::app {

// A secret or key file, at most 1 MiB (blocking: start-up, or Offload). Errors name the file.
Result<std::string> ReadSmallFile(const std::string& path);

// The secrets key of --secrets-key-file (wins) or RINGFLOW_SECRETS_KEY; null when neither is
// set. Blocking (start-up). Errors: unreadable or malformed, the message naming the setting.
Result<std::shared_ptr<const auth::SecretKey>> LoadSecretsKey(const Config& config);

struct Security {
  std::vector<std::unique_ptr<auth::SecretVault>> vaults;  // by shard, each used on its shard
  std::unique_ptr<auth::SecretService> secrets;
  std::unique_ptr<auth::AuditLog> audit;
  std::unique_ptr<api::AuditGate> audit_gate;

  // Before the shards run. `key`: LoadSecretsKey's.
  Security(const Config& config, store::StoreFactory& stores, std::shared_ptr<const auth::SecretKey> key);
  // Shard 0: loads the secrets, opens the audit store. Suspends.
  reactor::Task<Status> Open();
  // Shard 0, once no request is served any more: flushes the audit log. Suspends.
  reactor::Task<void> Close();
  // rf_secrets*, rf_secret_resolutions_total, rf_audit_*. Any thread.
  void RenderMetrics(std::string& out) const;
};

}  // namespace rf::app
