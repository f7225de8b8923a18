#pragma once
// KeyService: creates, lists and revokes API keys. Owned by app/, it lives on shard 0: every call
// hops there (SubmitTo) so changes are serialised, makes the change durable in the KeyStore, then
// builds a new KeyTable and hands that snapshot to every shard's Authenticator, awaiting each, so
// when Revoke returns no shard accepts the key any more. With a shared store (PostgreSQL) shard 0
// also reloads the table every kReloadInterval to pick up other daemons' changes.

#include <memory>
#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "auth/key_table.h"
#include "base/clock.h"
#include "reactor/task.h"
#include "reactor/turns.h"
#include "store/store.h"

namespace rf::auth {

constexpr Nanos kReloadInterval = 2 * kSeconds;

struct NewKey {
  std::string name;
  std::string ns = "default";
  Role role = Role::kViewer;
  int64_t expires_ms = 0;  // 0: never
};

struct CreatedKey {
  KeyEntry key;
  std::string token;  // shown once
};

class KeyService {
 public:
  // `store` null: keys live in memory only (lost at restart). `shards`: one per shard, by shard
  // id, each touched only on its shard. `bootstrap_token`: empty for none.
  KeyService(std::unique_ptr<store::KeyStore> store, std::vector<Authenticator*> shards,
             std::string bootstrap_token);

  // Shard 0: loads the table and publishes it to every shard. Suspends.
  reactor::Task<Status> Open();
  // Stops the reloader (shard 0). Suspends until it has.
  reactor::Task<void> Close();

  // Any shard; suspend. Errors: kInvalidArgument (Create: a bad name/namespace), kNotFound
  // (Revoke: no such key), kConflict (Revoke: the bootstrap key), the store's.
  reactor::Task<Result<CreatedKey>> Create(NewKey key);
  reactor::Task<Status> Revoke(std::string id);
  // The keys in creation order (expired ones included, the bootstrap key too).
  reactor::Task<std::vector<KeyEntry>> List();

 private:
  static reactor::Task<Result<CreatedKey>> CreateHere(KeyService* self, NewKey key);
  static reactor::Task<Status> RevokeHere(KeyService* self, std::string id);
  static reactor::Task<void> Reloader(KeyService* self);
  reactor::Task<void> Publish();  // shard 0: current rows -> every shard

  std::unique_ptr<store::KeyStore> store_;
  std::vector<Authenticator*> shards_;
  std::string bootstrap_;
  std::vector<store::ApiKeyRow> rows_;  // shard 0 only
  std::shared_ptr<const KeyTable> table_;  // shard 0 only; what the shards were given last
  bool stopping_ = false;
  reactor::Turns turns_;  // changes run one at a time (each suspends on the store)
  reactor::TaskGroup reloader_;
};

}  // namespace rf::auth
