// PgRunStore's ownership of partitions: Open (claim and replay), the lease
// beat, takeover, the address registry of this instance and its lookup of
// other holders, day partitions, and the handover at Close (pg_store.h).

#include <unistd.h>

#include <algorithm>

#include <string>
#include <vector>

#include "obs/log.h"
#include "reactor/shard.h"
#include "store/postgres/detail/array_text.h"
#include "store/postgres/detail/pg_setup.h"
#include "store/postgres/detail/run_statements.h"
#include "store/postgres/detail/text.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg {

using detail::ArrayText;

namespace {

// A lease lasts kLeaseSeconds from its last renewal, and renewals come every
// second: a dead instance's partitions are taken over within about 5 s, while a
// database pause of up to 3 s costs nothing.
constexpr int kLeaseSeconds = 4;
constexpr Nanos kLeaseRenewal = 1 * kSeconds;
// HolderOf answers from what it looked up this recently.
constexpr Nanos kHolderCache = 1 * kSeconds;
// Day partitions (migration 0003) are made up to two days ahead: checking hourly
// is plenty, and retention passes check too.
constexpr Nanos kEnsurePartitions = 3600 * kSeconds;
constexpr std::string_view kEnsurePartitionsSql =
    "SELECT rf_ensure_partitions((now() AT TIME ZONE 'UTC')::date, "
    "(now() AT TIME ZONE 'UTC')::date + 2)";

std::string PartitionArray(const std::vector<uint32_t>& parts) {
  ArrayText a;
  for (uint32_t p : parts) a.AddInt(p);
  return a.Take();
}

}  // namespace

reactor::Task<Status> PgRunStore::Open(RecordSink& sink) {
  pool_ = detail::MakePool(options_, options_.pool, detail::RunStoreStatements());
  if (shard_ == 0) {
    if (Status st = co_await EnsurePartitions(this); !st)  // suspends
      RF_LOG(kWarn, "postgres: day partitions not made; rows go to the DEFAULT partitions",
             {"error", st.error().ToString()});
  }
  // A member (and advertised) before claiming: peers can forward to this instance as soon as it
  // holds anything, and count it in their rings.
  if (shard_ == 0) co_await Advertise();  // suspends
  auto taken = co_await ClaimAndLoad(partitions_, sink);  // suspends
  if (!taken) co_return taken.error();
  stats_.pool = &pool_->stats();
  // After the claim: its connections would compete with the start for the database.
  read_pool_ = detail::MakePool(options_, options_.read_pool, detail::ReadStatements());
  stats_.read_pool = &read_pool_->stats();
  reactor::Spawn(Committer(this));
  if (!partitions_.empty() || shard_ == 0) {  // shard 0 beats the instance's row
    heartbeat_.self = this;
    heartbeat_.fire = &PgRunStore::OnHeartbeat;
    reactor::Shard::Current().Arm(&heartbeat_, MonoNow() + kLeaseRenewal);
  }
  co_return Status{};
}

reactor::Task<Result<std::vector<uint32_t>>> PgRunStore::ClaimAndLoad(std::vector<uint32_t> wanted,
                                                                       RecordSink& sink) {
  std::vector<uint32_t> taken;
  if (wanted.empty()) co_return taken;
  const Nanos began = MonoNow();  // the phases go to the log: restart time is watched
  auto conn = co_await pool_->Acquire(Deadline::After(30 * kSeconds));  // suspends
  if (!conn) co_return Error{conn.error().code, "PostgreSQL: " + conn.error().context};
  PgLease lease(pool_.get(), *conn);
  const std::string want = PartitionArray(wanted), seconds = std::to_string(kLeaseSeconds);
  Query claim[] = {
      detail::ClaimPartitions{.partitions = want, .owner = options_.instance, .lease_seconds = seconds}
          .Bind()};
  auto got = co_await lease->Pipeline(claim, detail::StatementDeadline(options_));  // suspends
  if (!got) co_return Error{got.error().code, "PostgreSQL: " + got.error().context};
  if (Status st = FirstError(*got); !st) co_return st.error();
  const PgResult& claimed = (*got)[0];
  for (int i = 0; i < claimed.rows(); ++i) {
    uint32_t partition = 0;
    int64_t epoch = 0;
    if (!detail::ParseInt(claimed.value(i, 0), partition) || !detail::ParseInt(claimed.value(i, 1), epoch))
      co_return Error{Errc::kCorrupt, "partition_leases: bad row " + std::string(claimed.value(i, 0))};
    leases_[partition] = Lease{epoch, false};  // renewed from now on, not served yet
    taken.push_back(partition);
  }
  if (taken.empty()) co_return taken;
  // Read after the claim: a former holder's late commits fail its fence from here on.
  const Nanos claimed_at = MonoNow();
  const std::string parts = PartitionArray(taken);
  Query qs[] = {detail::SelectLiveRecords{.partitions = parts}.Bind(),
                detail::SelectLiveTimers{.partitions = parts}.Bind()};
  auto res = co_await lease->Pipeline(qs, Deadline::After(120 * kSeconds));  // suspends
  if (!res) co_return Error{res.error().code, "PostgreSQL: " + res.error().context};
  if (Status st = FirstError(*res); !st) co_return st.error();
  const Nanos read_at = MonoNow();
  const PgResult& rows = (*res)[0];
  size_t replayed = 0;
  for (int i = 0; i < rows.rows(); ++i) {
    std::string_view text = rows.value(i, 0);
    while (!text.empty()) {
      size_t nl = text.find('\n');
      if (Status st = sink.OnRecord(text.substr(0, nl)); !st) co_return st.error();
      ++replayed;
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    }
  }
  const PgResult& due = (*res)[1];
  for (int i = 0; i < due.rows(); ++i) {
    auto id = ParseRunId(due.value(i, 0));
    if (!id) co_return Error{Errc::kCorrupt, "timeouts: bad run id " + std::string(due.value(i, 0))};
    int step = 0;
    int64_t due_ms = 0;
    if (!detail::ParseInt(due.value(i, 1), step) || !detail::ParseInt(due.value(i, 2), due_ms))
      co_return Error{Errc::kCorrupt, "timeouts: bad row of run " + std::string(due.value(i, 0))};
    const uint32_t s = step < 0 ? kRunTimer : static_cast<uint32_t>(step);
    if (Status st = sink.OnTimer(*id, s, due_ms); !st) co_return st.error();
  }
  for (uint32_t p : taken) leases_[p].ready = true;
  RF_LOG(kInfo, "partitions taken (postgres)", {"shard", shard_}, {"partitions", taken.size()},
         {"wanted", wanted.size()}, {"records_replayed", replayed}, {"timers", due.rows()},
         {"claim_ms", (claimed_at - began) / kMillis}, {"read_ms", (read_at - claimed_at) / kMillis},
         {"replay_ms", (MonoNow() - read_at) / kMillis});
  co_return taken;
}

std::vector<uint32_t> PgRunStore::held() const {
  std::vector<uint32_t> out;
  for (const auto& [p, l] : leases_)
    if (l.ready) out.push_back(p);
  return out;
}

reactor::Task<Result<std::vector<uint32_t>>> PgRunStore::TakeOver(std::vector<uint32_t> wanted,
                                                                   RecordSink& sink) {
  std::vector<uint32_t> missing;
  if (closing_) co_return missing;
  for (uint32_t p : wanted)
    if (!leases_.contains(p)) missing.push_back(p);
  co_return co_await ClaimAndLoad(std::move(missing), sink);  // suspends
}

reactor::Task<Status> PgRunStore::Release(std::vector<uint32_t> partitions) {
  // A renewal under way was sent with these leases: if the next holder took one
  // before it arrived, it would count as lost (exit 75). Wait for it.
  while (renewing_) co_await reactor::Sleep(5 * kMillis);  // suspends
  std::erase_if(partitions, [this](uint32_t p) { return !leases_.contains(p); });
  if (partitions.empty() || closing_) co_return Status{};
  co_await ReleaseLeases(std::move(partitions));  // suspends
  co_return Status{};
}

reactor::Task<Result<std::vector<Member>>> PgRunStore::Members() {
  if (!pool_) co_return Error{Errc::kUnavailable, "the store is not open"};
  auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
  if (!conn) co_return conn.error();
  PgLease lease(pool_.get(), *conn);
  const std::string seconds = std::to_string(kLeaseSeconds);
  Query q[] = {detail::SelectMembers{.live_seconds = seconds}.Bind()};
  auto res = co_await lease->Pipeline(q, detail::StatementDeadline(options_));  // suspends
  if (!res) co_return res.error();
  if (Status st = FirstError(*res); !st) co_return st.error();
  std::vector<Member> out;
  const PgResult& rows = (*res)[0];
  for (int i = 0; i < rows.rows(); ++i) {
    Member m{std::string(rows.value(i, 0)), 1, rows.value(i, 0) == options_.instance,
             rows.value(i, 2) == "t"};
    if (!detail::ParseInt(rows.value(i, 1), m.shards) || m.shards == 0)
      co_return Error{Errc::kCorrupt, "instances: bad shards of " + m.id};
    out.push_back(std::move(m));
  }
  co_return out;
}

std::pair<std::string, std::string> PgRunStore::LeaseArrays(const std::vector<uint32_t>* only) const {
  ArrayText parts, epochs;
  for (const auto& [p, l] : leases_) {
    if (only && std::find(only->begin(), only->end(), p) == only->end()) continue;
    parts.AddInt(p);
    epochs.AddInt(l.epoch);
  }
  return {parts.Take(), epochs.Take()};
}

void PgRunStore::OnHeartbeat(reactor::Shard::TimerNode* n) {
  PgRunStore* self = static_cast<Heartbeat*>(n)->self;
  if (self->closing_) return;
  reactor::Spawn(RenewLeases(self), &self->background_);
}

// Keeps the leases of this shard alive; finding one held by someone else, or at
// another epoch, means another instance took the partition over: stop before
// writing anything more for it.
reactor::Task<void> PgRunStore::Renew() {
  renewing_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{renewing_};
  auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
  if (!conn) co_return;  // the database is away: the next beat tries again
  PgLease lease(pool_.get(), *conn);
  const size_t held = leases_.size();
  const auto [parts, epochs] = LeaseArrays();
  const std::string seconds = std::to_string(kLeaseSeconds);
  Query q[] = {detail::RenewLeases{.partitions = parts, .owner = options_.instance, .epochs = epochs,
                                   .lease_seconds = seconds}
                   .Bind()};
  auto res = co_await lease->Pipeline(q, detail::StatementDeadline(options_));  // suspends
  // Leases taken while this renewal was under way are renewed at the next beat.
  if (res && FirstError(*res) && (*res)[0].affected() < held) {
    RF_LOG(kError, "postgres: another instance took over partitions of this one; stopping",
           {"shard", shard_}, {"held", (*res)[0].affected()}, {"expected", held});
    ::_exit(75);
  }
  // A failed renewal (database away) is retried at the next beat; commits stop on
  // their own while it is away.
}

// The beat: lease renewal, and on shard 0 the day partitions.
reactor::Task<void> PgRunStore::RenewLeases(PgRunStore* self) {
  if (!self->leases_.empty()) co_await self->Renew();  // suspends
  if (self->shard_ == 0 && !self->closing_) co_await self->Advertise();  // suspends
  if (self->shard_ == 0 && !self->closing_ &&
      MonoNow() - self->partitions_ensured_ >= kEnsurePartitions) {
    if (Status st = co_await EnsurePartitions(self); !st)  // suspends
      RF_LOG(kWarn, "postgres: day partitions not made; retrying at the next beat",
             {"error", st.error().ToString()});
  }
  if (!self->closing_)
    reactor::Shard::Current().Arm(&self->heartbeat_, MonoNow() + kLeaseRenewal);
}

reactor::Task<void> PgRunStore::Advertise() {
  auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
  if (!conn) co_return;  // the database is away: the next beat tries again
  PgLease lease(pool_.get(), *conn);
  const std::string shards = std::to_string(options_.shards);
  Query q[] = {
      detail::UpsertInstance{.id = options_.instance, .advertise = options_.advertise, .shards = shards,
                             .standby = options_.standby ? "t" : "f"}
          .Bind()};
  auto res = co_await lease->Pipeline(q, detail::StatementDeadline(options_));  // suspends
  if (!res || !FirstError(*res))
    RF_LOG(kDebug, "postgres: advertising this instance failed; retrying at the next beat");
}

reactor::Task<Result<std::string>> PgRunStore::HolderOf(uint32_t partition) {
  auto not_held = [partition] {
    return Error{Errc::kNotFound, "no other instance holds partition " + std::to_string(partition)};
  };
  if (auto it = holders_.find(partition); it != holders_.end() && MonoNow() - it->second.looked < kHolderCache) {
    if (it->second.advertise.empty()) co_return not_held();
    co_return it->second.advertise;
  }
  if (!pool_) co_return Error{Errc::kUnavailable, "the store is not open"};
  auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
  if (!conn) co_return conn.error();
  PgLease lease(pool_.get(), *conn);
  const std::string part = std::to_string(partition);
  Query q[] = {detail::SelectHolder{.partition = part, .me = options_.instance}.Bind()};
  auto res = co_await lease->Pipeline(q, detail::StatementDeadline(options_));  // suspends
  if (!res) co_return res.error();
  if (Status st = FirstError(*res); !st) co_return st.error();
  Holder& h = holders_[partition];
  h.looked = MonoNow();
  h.advertise = (*res)[0].rows() > 0 ? std::string((*res)[0].value(0, 0)) : std::string();
  if (h.advertise.empty()) co_return not_held();
  co_return h.advertise;
}

// Makes today's and the next two days' partitions (rf_ensure_partitions, migration
// 0003). On shard 0 only: one caller per instance is enough, and instances take
// turns on the function's advisory lock.
reactor::Task<Status> PgRunStore::EnsurePartitions(PgRunStore* self) {
  auto conn = co_await self->pool_->Acquire(detail::StatementDeadline(self->options_));  // suspends
  if (!conn) co_return conn.error();
  PgLease lease(self->pool_.get(), *conn);
  Query q[] = {{.stmt_name_or_sql = kEnsurePartitionsSql, .prepared = false, .params = {}},
               detail::DeleteGoneInstances{}.Bind()};
  auto res = co_await lease->Pipeline(q, detail::StatementDeadline(self->options_));  // suspends
  if (!res) co_return res.error();
  if (Status st = FirstError(*res); !st) co_return st;
  self->partitions_ensured_ = MonoNow();
  if (std::string_view made = (*res)[0].value(0, 0); made != "0")
    RF_LOG(kInfo, "postgres: day partitions made", {"tables", made});
  co_return Status{};
}

// Everything appended for them is committed (or was refused): hand the
// partitions over. A failure only costs the next holder the lease's expiry. At
// Close, shard 0 first leaves the members, so the others want these at once.
reactor::Task<void> PgRunStore::ReleaseLeases(std::vector<uint32_t> parts) {
  std::vector<Query> q;
  if (closing_ && shard_ == 0) q.push_back(detail::DeleteInstance{.id = options_.instance}.Bind());
  const auto [arr, epochs] = LeaseArrays(&parts);
  if (!parts.empty())
    q.push_back(detail::ReleaseLeases{.partitions = arr, .owner = options_.instance, .epochs = epochs}.Bind());
  if (!q.empty()) {
    auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
    if (conn) {
      PgLease lease(pool_.get(), *conn);
      auto res = co_await lease->Pipeline(q, detail::StatementDeadline(options_));  // suspends
      if (res && FirstError(*res) && !parts.empty())
        RF_LOG(kInfo, "postgres: partitions handed over", {"shard", shard_},
               {"partitions", res->back().affected()});
    }
  }
  for (uint32_t p : parts) leases_.erase(p);
  std::erase_if(persisted_, [&](const auto& kv) {
    return std::find(parts.begin(), parts.end(), kv.first.partition()) != parts.end();
  });
}

}  // namespace rf::store::pg
