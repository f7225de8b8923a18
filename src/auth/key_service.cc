#include "auth/key_service.h"

#include "obs/log.h"
#include "reactor/shard.h"
#include "reactor/sleep_unless.h"
#include "reactor/submit_to.h"

namespace rf::auth {
namespace {

constexpr unsigned kOwner = 0;

int64_t NowMs() { return WallNow() / 1'000'000; }

bool ValidKeyName(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

KeyService::KeyService(std::unique_ptr<store::KeyStore> store, std::vector<Authenticator*> shards,
                       std::string bootstrap_token)
    : store_(std::move(store)), shards_(std::move(shards)), bootstrap_(std::move(bootstrap_token)) {}

reactor::Task<void> KeyService::Publish() {
  table_ = KeyTable::Build(rows_, bootstrap_);
  for (unsigned i = 0; i < shards_.size(); ++i) {
    // Named, not a temporary in the co_await: GCC 12 mishandles awaiter temporaries that own state.
    auto op = reactor::SubmitTo(
        i, [](Authenticator* a, std::shared_ptr<const KeyTable> t) { a->SetKeys(std::move(t)); },
        shards_[i], table_);
    co_await op;  // suspends
  }
}

reactor::Task<Status> KeyService::Open() {
  if (store_) {
    auto rows = co_await store_->Load();  // suspends
    if (!rows) co_return rows.error();
    rows_ = std::move(*rows);
  }
  co_await Publish();  // suspends
  RF_LOG(kInfo, "API keys loaded", {"keys", rows_.size()},
         {"bootstrap_admin_key", bootstrap_.empty() ? "no" : "yes"});
  if (store_ && store_->shared()) reactor::Spawn(Reloader(this), &reloader_);
  co_return Status{};
}

reactor::Task<void> KeyService::Close() {
  stopping_ = true;
  co_await reloader_.Wait();  // suspends
}

reactor::Task<void> KeyService::Reloader(KeyService* self) {
  while (co_await reactor::SleepUnless(kReloadInterval, self->stopping_)) {  // suspends
    co_await self->turns_.Take();  // suspends
    auto rows = co_await self->store_->Load();  // suspends
    if (!rows) {
      RF_LOG(kWarn, "cannot reload API keys; keeping the last table", {"error", rows.error().ToString()});
      self->turns_.Release();
      continue;
    }
    bool same = rows->size() == self->rows_.size();
    for (size_t i = 0; same && i < rows->size(); ++i)
      same = (*rows)[i].id == self->rows_[i].id && (*rows)[i].hash == self->rows_[i].hash;
    if (!same) {
      self->rows_ = std::move(*rows);
      co_await self->Publish();  // suspends
    }
    self->turns_.Release();
  }
}

reactor::Task<Result<CreatedKey>> KeyService::Create(NewKey key) {
  auto op = reactor::SubmitTo(kOwner, &KeyService::CreateHere, this, std::move(key));
  co_return co_await op;  // suspends
}

reactor::Task<Status> KeyService::Revoke(std::string id) {
  auto op = reactor::SubmitTo(kOwner, &KeyService::RevokeHere, this, std::move(id));
  co_return co_await op;  // suspends
}

reactor::Task<std::vector<KeyEntry>> KeyService::List() {
  auto op = reactor::SubmitTo(kOwner, [](KeyService* self) {
    std::vector<KeyEntry> out;
    if (self->table_)
      for (const KeyEntry* e : self->table_->ordered()) out.push_back(*e);
    return out;
  }, this);
  co_return co_await op;  // suspends
}

reactor::Task<Result<CreatedKey>> KeyService::CreateHere(KeyService* self, NewKey key) {
  if (!ValidKeyName(key.name))
    co_return Error{Errc::kInvalidArgument, "name must be 1..200 characters without control characters"};
  if (key.ns != "*" && !ValidNamespace(key.ns))
    co_return Error{Errc::kInvalidArgument, "namespace must be 1..63 of a-z, 0-9 and '-' (or \"*\")"};
  auto id_bytes = RandomBytes(8);
  auto secret = RandomBytes(32);
  if (!id_bytes || !secret) co_return Error{Errc::kIo, "cannot read random bytes for a key"};
  Digest idd{};
  std::copy(id_bytes->begin(), id_bytes->end(), idd.begin());
  CreatedKey out;
  out.key.id = Hex(idd).substr(0, 16);
  out.key.name = key.name;
  out.key.ns = key.ns;
  out.key.role = key.role;
  out.key.created_ms = NowMs();
  out.key.expires_ms = key.expires_ms;
  out.token = std::string(kTokenPrefix) + out.key.id + "_" + Base64UrlEncode(*secret);
  store::ApiKeyRow row{out.key.id, out.key.name, out.key.ns, std::string(RoleName(key.role)),
                       Hex(Sha256(out.token)), out.key.created_ms, out.key.expires_ms};
  co_await self->turns_.Take();  // suspends
  if (self->store_) {
    Status st = co_await self->store_->Insert(row);  // suspends
    if (!st) {
      self->turns_.Release();
      co_return st.error();
    }
  }
  self->rows_.push_back(std::move(row));
  co_await self->Publish();  // suspends
  self->turns_.Release();
  RF_LOG(kInfo, "API key created", {"id", out.key.id}, {"namespace", out.key.ns},
         {"role", RoleName(out.key.role)});
  co_return out;
}

reactor::Task<Status> KeyService::RevokeHere(KeyService* self, std::string id) {
  if (id == kBootstrapId)
    co_return Error{Errc::kConflict, "the bootstrap key comes from --admin-key-file / RINGFLOW_ADMIN_KEY: change it there"};
  co_await self->turns_.Take();  // suspends
  auto it = std::find_if(self->rows_.begin(), self->rows_.end(),
                         [&](const store::ApiKeyRow& r) { return r.id == id; });
  if (it == self->rows_.end()) {
    self->turns_.Release();
    co_return Error{Errc::kNotFound, "no API key " + id};
  }
  if (self->store_) {
    Status st = co_await self->store_->Revoke(id, NowMs());  // suspends
    if (!st) {
      self->turns_.Release();
      co_return st;
    }
  }
  self->rows_.erase(it);
  co_await self->Publish();  // suspends
  self->turns_.Release();
  RF_LOG(kInfo, "API key revoked", {"id", id});
  co_return Status{};
}

}  // namespace rf::auth
