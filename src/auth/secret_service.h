#pragma once
// Secrets of every namespace, sealed at rest (secret_box.h), revealed only when an http step
// that names one runs.
//
// SecretService (owned by app/) makes changes on shard 0, one at a time, as KeyService does:
// the value is sealed on the caller's shard (its plaintext never crosses shards), made durable
// in the store's SecretStore (embedded secrets.json, PostgreSQL `secrets`), then a new
// SecretTable snapshot goes to every shard's SecretVault before the call returns. With a
// shared store shard 0 reloads the table every kReloadInterval to pick up other daemons'
// changes. Without a key (no --secrets-key-file) nothing can be put; listing and deleting work.
//
// SecretVault: one per shard, used only there: the snapshot it was given and the shared key.
// Reveal opens one value when an http step is executed; nothing keeps the plaintext.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/key_service.h"
#include "auth/secret_box.h"
#include "base/tenancy.h"
#include "obs/metrics.h"
#include "reactor/shard.h"
#include "reactor/task.h"
#include "reactor/turns.h"
#include "store/store.h"

namespace rf::auth {

constexpr size_t kMaxSecretValueBytes = 64 * 1024;
constexpr size_t kMaxSecretsPerNamespace = 1000;
constexpr size_t kMaxSecrets = 100'000;

using ::rf::ValidSecretName;  // base/tenancy.h

// An immutable snapshot of every secret (sealed), ordered by namespace, then name.
class SecretTable {
 public:
  explicit SecretTable(std::vector<store::SecretRow> rows);
  const store::SecretRow* Find(std::string_view ns, std::string_view name) const;
  const std::vector<store::SecretRow>& rows() const { return rows_; }

 private:
  std::vector<store::SecretRow> rows_;
};

struct SecretVaultStats {
  obs::Counter revealed;   // opened for an http step
  obs::Counter not_found;  // named by a step, not set in its namespace
  obs::Counter failed;     // set, but not openable (no key, another key, tampered)
};

class SecretVault {
 public:
  // `key`: null when secrets are not configured.
  explicit SecretVault(std::shared_ptr<const SecretKey> key) : key_(std::move(key)) {}
  void SetTable(std::shared_ptr<const SecretTable> table) { table_ = std::move(table); }
  const SecretTable* table() const { return table_.get(); }
  // The value of secret `name` of namespace `ns`. Errors: kNotFound, kUnavailable (no key),
  // kCorrupt (sealed with another key, or does not open); the message names the secret, never
  // its value.
  Result<std::string> Reveal(std::string_view ns, std::string_view name);
  const SecretVaultStats& stats() const { return stats_; }

 private:
  std::shared_ptr<const SecretKey> key_;
  std::shared_ptr<const SecretTable> table_;
  SecretVaultStats stats_;
};

struct SecretInfo {
  std::string name;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

struct PutSecretOutcome {
  SecretInfo info;
  bool created = false;
};

class SecretService {
 public:
  // `store` null: secrets live in memory only. `key` null: not configured (Put refused).
  // `shards`: one vault per shard, by shard id, each touched only on its shard.
  SecretService(std::unique_ptr<store::SecretStore> store, std::shared_ptr<const SecretKey> key,
                std::vector<SecretVault*> shards);

  // Shard 0: loads the table and publishes it. Suspends.
  reactor::Task<Status> Open();
  reactor::Task<void> Close();  // stops the reloader (shard 0); suspends

  bool configured() const { return key_ != nullptr; }
  // Any shard; suspend. Errors: kUnavailable (not configured), kInvalidArgument (name),
  // kTooLarge (value over kMaxSecretValueBytes), kConflict (over the count bounds), kNotFound
  // (Delete), the store's.
  reactor::Task<Result<PutSecretOutcome>> Put(std::string ns, std::string name, std::string value);
  reactor::Task<Status> Delete(std::string ns, std::string name);
  // The calling shard's snapshot: names and times of namespace `ns`, by name. Never a value.
  std::vector<SecretInfo> List(std::string_view ns) const;
  // The calling shard's vault's SecretVault::Reveal (a trigger's signing secret); the caller
  // wipes the value when done.
  Result<std::string> Reveal(std::string_view ns, std::string_view name) {
    return shards_[reactor::Shard::Current().id()]->Reveal(ns, name);
  }
  size_t count() const { return static_cast<size_t>(count_.Get()); }  // any thread

 private:
  static reactor::Task<Result<PutSecretOutcome>> PutHere(SecretService* self, store::SecretRow row);
  static reactor::Task<Status> DeleteHere(SecretService* self, std::string ns, std::string name);
  static reactor::Task<void> Reloader(SecretService* self);
  reactor::Task<void> Publish();  // shard 0: rows_ -> every shard

  std::unique_ptr<store::SecretStore> store_;
  std::shared_ptr<const SecretKey> key_;
  std::vector<SecretVault*> shards_;
  std::vector<store::SecretRow> rows_;  // shard 0 only, ordered
  obs::Gauge count_;                    // written on shard 0
  bool stopping_ = false;
  reactor::Turns turns_;
  reactor::TaskGroup reloader_;
};

// rf_secrets and rf_secret_resolutions_total{result} summed over the vaults. Any thread.
void RenderSecretMetrics(const SecretService& service, const std::vector<const SecretVault*>& shards,
                         std::string& out);

}  // namespace rf::auth
