#include "auth/secret_service.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "base/clock.h"
#include "obs/log.h"
#include "reactor/shard.h"
#include "reactor/sleep_unless.h"
#include "reactor/submit_to.h"

namespace rf::auth {
namespace {

constexpr unsigned kOwner = 0;

int64_t NowMs() { return WallNow() / 1'000'000; }

bool Less(const store::SecretRow& a, std::string_view ns, std::string_view name) {
  return a.ns != ns ? a.ns < ns : a.name < name;
}

std::vector<store::SecretRow>::iterator Locate(std::vector<store::SecretRow>& rows,
                                               std::string_view ns, std::string_view name) {
  return std::lower_bound(rows.begin(), rows.end(), std::pair(ns, name),
                          [](const store::SecretRow& r, const auto& key) { return Less(r, key.first, key.second); });
}

bool SameRows(const std::vector<store::SecretRow>& a, const std::vector<store::SecretRow>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].ns != b[i].ns || a[i].name != b[i].name || a[i].updated_ms != b[i].updated_ms ||
        a[i].sealed != b[i].sealed)
      return false;
  return true;
}

}  // namespace

SecretTable::SecretTable(std::vector<store::SecretRow> rows) : rows_(std::move(rows)) {
  std::sort(rows_.begin(), rows_.end(),
            [](const store::SecretRow& a, const store::SecretRow& b) { return Less(a, b.ns, b.name); });
}

const store::SecretRow* SecretTable::Find(std::string_view ns, std::string_view name) const {
  auto it = std::lower_bound(rows_.begin(), rows_.end(), std::pair(ns, name),
                             [](const store::SecretRow& r, const auto& key) { return Less(r, key.first, key.second); });
  return it != rows_.end() && it->ns == ns && it->name == name ? &*it : nullptr;
}

Result<std::string> SecretVault::Reveal(std::string_view ns, std::string_view name) {
  const store::SecretRow* row = table_ ? table_->Find(ns, name) : nullptr;
  const std::string quoted = "secret '" + std::string(name) + "'";
  if (row == nullptr) {
    stats_.not_found.Add();
    return Error{Errc::kNotFound, quoted + " is not set in namespace '" + std::string(ns) + "'"};
  }
  if (!key_) {
    stats_.failed.Add();
    return Error{Errc::kUnavailable, quoted + " cannot be opened: secrets are not configured on this "
                                              "daemon (--secrets-key-file)"};
  }
  if (row->key_id != key_->id()) {
    stats_.failed.Add();
    return Error{Errc::kCorrupt, quoted + " was sealed with another key (id " + row->key_id +
                                     "; this daemon's --secrets-key-file has id " + key_->id() + ")"};
  }
  auto value = key_->Open(row->sealed, SecretAad(ns, name));
  if (!value) {
    stats_.failed.Add();
    return Error{Errc::kCorrupt, quoted + ": " + value.error().context};
  }
  stats_.revealed.Add();
  return value;
}

SecretService::SecretService(std::unique_ptr<store::SecretStore> store,
                             std::shared_ptr<const SecretKey> key, std::vector<SecretVault*> shards)
    : store_(std::move(store)), key_(std::move(key)), shards_(std::move(shards)) {}

reactor::Task<void> SecretService::Publish() {
  auto table = std::make_shared<const SecretTable>(rows_);
  count_.Set(static_cast<int64_t>(rows_.size()));
  for (unsigned i = 0; i < shards_.size(); ++i) {
    // Named, not a temporary in the co_await: GCC 12 mishandles awaiter temporaries that own state.
    auto op = reactor::SubmitTo(
        i, [](SecretVault* v, std::shared_ptr<const SecretTable> t) { v->SetTable(std::move(t)); },
        shards_[i], table);
    co_await op;  // suspends
  }
}

reactor::Task<Status> SecretService::Open() {
  if (store_) {
    auto rows = co_await store_->Load();  // suspends
    if (!rows) co_return rows.error();
    rows_ = std::move(*rows);
  }
  co_await Publish();  // suspends
  size_t foreign = 0;
  for (const store::SecretRow& r : rows_) foreign += key_ && r.key_id != key_->id();
  RF_LOG(kInfo, "secrets loaded", {"secrets", rows_.size()},
         {"configured", key_ ? "yes" : "no (--secrets-key-file)"});
  if (!key_ && !rows_.empty()) {
    RF_LOG(kWarn, "secrets exist but no --secrets-key-file is set: http steps that name them fail",
           {"secrets", rows_.size()});
  } else if (foreign > 0) {
    RF_LOG(kError, "secrets sealed with another key than --secrets-key-file: http steps that name "
                   "them fail until the key that sealed them is configured",
           {"secrets", foreign}, {"key_id", key_->id()});
  }
  if (store_ && store_->shared()) reactor::Spawn(Reloader(this), &reloader_);
  co_return Status{};
}

reactor::Task<void> SecretService::Close() {
  stopping_ = true;
  co_await reloader_.Wait();  // suspends
}

reactor::Task<void> SecretService::Reloader(SecretService* self) {
  while (co_await reactor::SleepUnless(kReloadInterval, self->stopping_)) {  // suspends
    co_await self->turns_.Take();  // suspends
    auto rows = co_await self->store_->Load();  // suspends
    if (!rows) {
      RF_LOG(kWarn, "cannot reload secrets; keeping the last table", {"error", rows.error().ToString()});
    } else if (!SameRows(*rows, self->rows_)) {
      self->rows_ = std::move(*rows);
      co_await self->Publish();  // suspends
    }
    self->turns_.Release();
  }
}

reactor::Task<Result<PutSecretOutcome>> SecretService::Put(std::string ns, std::string name,
                                                           std::string value) {
  if (!key_)
    co_return Error{Errc::kUnavailable, "secrets are not configured on this daemon: start it with "
                                        "--secrets-key-file (32 random bytes, hex or raw)"};
  if (!ValidSecretName(name))
    co_return Error{Errc::kInvalidArgument, "a secret name is 1..128 of A-Z, a-z, 0-9, '_' and '-'"};
  if (value.size() > kMaxSecretValueBytes)
    co_return Error{Errc::kTooLarge, "a secret value is at most 64 KiB"};
  auto sealed = key_->Seal(value, SecretAad(ns, name));
  OPENSSL_cleanse(value.data(), value.size());
  if (!sealed) co_return sealed.error();
  const int64_t now = NowMs();
  store::SecretRow row{std::move(ns), std::move(name), std::move(*sealed), key_->id(), now, now};
  auto op = reactor::SubmitTo(kOwner, &SecretService::PutHere, this, std::move(row));
  co_return co_await op;  // suspends
}

reactor::Task<Status> SecretService::Delete(std::string ns, std::string name) {
  auto op = reactor::SubmitTo(kOwner, &SecretService::DeleteHere, this, std::move(ns), std::move(name));
  co_return co_await op;  // suspends
}

std::vector<SecretInfo> SecretService::List(std::string_view ns) const {
  std::vector<SecretInfo> out;
  const SecretTable* t = shards_[reactor::Shard::Current().id()]->table();
  if (t == nullptr) return out;
  for (const store::SecretRow& r : t->rows())
    if (r.ns == ns) out.push_back(SecretInfo{r.name, r.created_ms, r.updated_ms});
  return out;
}

reactor::Task<Result<PutSecretOutcome>> SecretService::PutHere(SecretService* self, store::SecretRow row) {
  co_await self->turns_.Take();  // suspends
  auto it = Locate(self->rows_, row.ns, row.name);
  const bool exists = it != self->rows_.end() && it->ns == row.ns && it->name == row.name;
  if (!exists) {
    const size_t in_ns = static_cast<size_t>(std::count_if(
        self->rows_.begin(), self->rows_.end(), [&](const store::SecretRow& r) { return r.ns == row.ns; }));
    if (in_ns >= kMaxSecretsPerNamespace || self->rows_.size() >= kMaxSecrets) {
      self->turns_.Release();
      co_return Error{Errc::kConflict, "namespace '" + row.ns + "' has " + std::to_string(in_ns) +
                                           " secrets (at most " + std::to_string(kMaxSecretsPerNamespace) +
                                           " per namespace, " + std::to_string(kMaxSecrets) + " in all)"};
    }
  } else {
    row.created_ms = it->created_ms;
  }
  if (self->store_) {
    Status st = co_await self->store_->Put(row);  // suspends
    if (!st) {
      self->turns_.Release();
      co_return st.error();
    }
  }
  PutSecretOutcome out{SecretInfo{row.name, row.created_ms, row.updated_ms}, !exists};
  const std::string ns = row.ns;
  it = Locate(self->rows_, row.ns, row.name);  // the store call suspended, but under the turn
  if (exists)
    *it = std::move(row);
  else
    self->rows_.insert(it, std::move(row));
  co_await self->Publish();  // suspends
  self->turns_.Release();
  RF_LOG(kInfo, exists ? "secret replaced" : "secret created", {"namespace", ns}, {"name", out.info.name});
  co_return out;
}

reactor::Task<Status> SecretService::DeleteHere(SecretService* self, std::string ns, std::string name) {
  co_await self->turns_.Take();  // suspends
  auto it = Locate(self->rows_, ns, name);
  if (it == self->rows_.end() || it->ns != ns || it->name != name) {
    self->turns_.Release();
    co_return Error{Errc::kNotFound, "no secret '" + name + "' in namespace '" + ns + "'"};
  }
  if (self->store_) {
    Status st = co_await self->store_->Delete(ns, name);  // suspends
    // Another daemon may have deleted it first: gone is gone.
    if (!st && st.error().code != Errc::kNotFound) {
      self->turns_.Release();
      co_return st;
    }
  }
  self->rows_.erase(Locate(self->rows_, ns, name));
  co_await self->Publish();  // suspends
  self->turns_.Release();
  RF_LOG(kInfo, "secret deleted", {"namespace", ns}, {"name", name});
  co_return Status{};
}

void RenderSecretMetrics(const SecretService& service, const std::vector<const SecretVault*>& shards,
                         std::string& out) {
  obs::TextExposition x(out);
  x.Family("rf_secrets", "gauge", "secrets stored, every namespace");
  x.SampleU("rf_secrets", "", service.count());
  auto sum = [&](auto get) {
    uint64_t n = 0;
    for (const SecretVault* v : shards) n += get(v->stats());
    return n;
  };
  x.Family("rf_secret_resolutions_total", "counter",
           "{{secrets.NAME}} references of http steps by result: ok, not_found (not set in the run's "
           "namespace), failed (no key, sealed with another key, or does not open)");
  x.SampleU("rf_secret_resolutions_total", "result=\"ok\"", sum([](const SecretVaultStats& s) { return s.revealed.Get(); }));
  x.SampleU("rf_secret_resolutions_total", "result=\"not_found\"", sum([](const SecretVaultStats& s) { return s.not_found.Get(); }));
  x.SampleU("rf_secret_resolutions_total", "result=\"failed\"", sum([](const SecretVaultStats& s) { return s.failed.Get(); }));
}

}  // namespace rf::auth
