#include "engine/engine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/hash_ring.h"
#include "base/tenancy.h"
#include "engine/map_step.h"
#include "engine/membership.h"
#include "engine/record.h"
#include "obs/log.h"
#include "reactor/offload.h"
#include "reactor/submit_to.h"
#include "store/history_store.h"

namespace rf::engine {

Status CheckLayout(const std::string& data_dir, size_t shards) {
  if (::mkdir(data_dir.c_str(), 0750) != 0 && errno != EEXIST)
    return Error::FromErrno(errno, "cannot create data dir " + data_dir);
  const std::string path = data_dir + "/layout";
  const std::string want = "shards=" + std::to_string(shards) + "\npartitions=" +
                           std::to_string(kPartitions) + "\n";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) return Error::FromErrno(errno, "cannot read " + path);
  if (fd >= 0) {
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n < 0) return Error::FromErrno(errno, "cannot read " + path);
    std::string have(buf, static_cast<size_t>(n));
    if (have != want) {
      return Error{Errc::kInvalidArgument,
                   path + " says \"" + have.substr(0, have.find('\n')) + "\" but this start has " +
                       std::to_string(shards) + " shards: start with --shards matching the data " +
                       "directory (runs are stored by shard)"};
    }
    return {};
  }
  const std::string tmp = path + ".tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Error::FromErrno(errno, "cannot write " + tmp);
  bool ok = ::write(fd, want.data(), want.size()) == static_cast<ssize_t>(want.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return Error::FromErrno(ok ? errno : err, "cannot write " + path);
  return {};
}

namespace {

// The master registry already holds the change, and the journal may have lost pages it reported
// written (see journal.h): answering 503 and carrying on could later acknowledge a version that
// was never durable. Stop, as Coordinator::Fail does for run records; a restart replays what is
// on disk, and no caller heard of the change.
[[noreturn]] void FailDefinitions(const Error& e) {
  RF_LOG(kError, "definitions log failed: stopping so a restart can replay the durable state",
         {"error", e.ToString()});
  ::_exit(75);
}

}  // namespace

class Engine::DefinitionsSink : public store::DefinitionSink {
 public:
  explicit DefinitionsSink(Registry& r) : reg_(r) {}
  Status OnDefinition(const store::DefinitionChange& c) override { return ApplyDefinition(reg_, c); }

 private:
  Registry& reg_;
};

// Definitions read again from a shared store: versions this registry has are
// skipped, new ones compiled and added, deletions applied.
class Engine::RefreshSink : public store::DefinitionSink {
 public:
  explicit RefreshSink(Registry& r) : reg_(r) {}
  Status OnDefinition(const store::DefinitionChange& c) override {
    if (c.kind == store::DefinitionChange::Kind::kDelete) {
      changed_ |= reg_.Delete(c.name);
      return {};
    }
    if (reg_.Find(c.name, c.version)) return {};
    Status st = ApplyDefinition(reg_, c);
    if (st) changed_ = true;
    return st;
  }
  bool changed() const { return changed_; }

 private:
  Registry& reg_;
  bool changed_ = false;
};

Engine::Engine(size_t shards, EngineOptions options, std::vector<HttpExecutor*> http,
               store::StoreFactory* stores)
    : options_(std::move(options)), metrics_(shards), stores_(stores), owner_(kPartitions), owned_(shards) {
  SetMaxMapItems(options_.max_map_items);  // before any shard runs a map step
  definitions_ = stores->MakeDefinitionLog();
  relay_ = stores->relay();
  history_ = options_.history ? stores->history() : nullptr;
  if (history_) {
    // Retained history bytes per namespace, for the quota and /metrics (lock-free reads).
    NamespaceUsage* usage = &metrics_.namespaces;
    history_->SetBytesSink([usage](std::string_view ns, int64_t bytes) { usage->SetHistoryBytes(ns, bytes); });
  }
  std::vector<uint32_t> nodes;
  for (size_t i = 0; i < shards; ++i) nodes.push_back(static_cast<uint32_t>(i));
  HashRing ring(nodes);
  for (uint32_t p = 0; p < kPartitions; ++p) {
    owner_[p] = ring.Owner(p);
    owned_[owner_[p]].push_back(p);
  }
  for (size_t i = 0; i < shards; ++i) {
    // A shard the ring gave no partition (possible with many shards) still
    // serves HTTP; its starts go to the partition's owner.
    coordinators_.push_back(std::make_unique<Coordinator>(
        static_cast<unsigned>(i), options_, http[i], &metrics_,
        stores->MakeRunStore(static_cast<unsigned>(i), owned_[i])));
    coordinators_.back()->ShareHeld(held_bits_.data());
    if (history_) {
      size_t cache = history_->fed_by_commits() ? options_.history_cache : options_.history_cache / 2;
      coordinators_.back()->SetHistory(history_, cache / shards);
    }
  }
  if (history_ && !coordinators_.empty()) coordinators_[0]->RunHistoryRetention();
  std::vector<Coordinator*> peers;
  for (auto& c : coordinators_) peers.push_back(c.get());
  for (auto& c : coordinators_) c->SetPeers(peers, &owner_);
}

Engine::~Engine() = default;

void Engine::RenderStoreMetrics(std::string& out) const {
  if (!ready()) return;  // the acquire pairs with Open's release: the stores are open
  stores_->RenderMetrics(out);
  if (history_) history_->RenderMetrics(out);
}

namespace {
reactor::Task<Result<std::string>> HolderOn(uint32_t partition) {
  return Coordinator::Local().HolderOf(partition);
}
}  // namespace

reactor::Task<Result<std::string>> Engine::HolderOf(uint32_t partition) {
  if (partition >= owner_.size()) co_return Error{Errc::kInvalidArgument, "no such partition"};
  auto op = reactor::SubmitTo(OwnerOf(partition), &HolderOn, partition);
  co_return co_await op;  // suspends
}

uint32_t Engine::PartitionForStart(std::string_view workflow, std::string_view key) {
  if (!key.empty()) {
    std::string k(workflow);
    k += '\n';
    k += key;
    return PartitionOf(k);
  }
  // One this shard holds, so the start commits here; while it holds none (the
  // partitions are held by another instance, or the ring gave it none) any
  // partition: its owner shard starts it, or answers that it is held elsewhere.
  const unsigned shard = reactor::Shard::Current().id();
  if (auto p = coordinators_[shard]->PickPartition()) return *p;
  thread_local uint64_t counter = 0;
  return static_cast<uint32_t>(Mix64(++counter) % kPartitions);
}

uint32_t Engine::PartitionForStart(const Definition& def, const json::Value& input,
                                   std::string_view key) {
  if (def.flow_controlled()) return FlowPartition(def.name, FlowKey(def, input));
  return PartitionForStart(def.name, key);
}

reactor::Task<void> Engine::ReplayShardInto(Engine* self, unsigned shard,
                                            std::shared_ptr<const Registry> reg, Status* out) {
  Coordinator* c = self->coordinators_[shard].get();
  auto op = reactor::SubmitTo(
      shard, [](Coordinator* on, std::shared_ptr<const Registry> r) { return on->Replay(std::move(r)); },
      c, std::move(reg));
  *out = co_await op;  // suspends
}

reactor::Task<void> Engine::OpenHistoryInto(Engine* self, Status* out) {
  *out = co_await reactor::Offload([self] { return self->history_->Open(); });  // suspends
}

reactor::Task<void> Engine::RecoverShard(Engine* self, unsigned shard) {
  Coordinator* c = self->coordinators_[shard].get();
  auto op = reactor::SubmitTo(shard, [](Coordinator* on) { on->Recover(); }, c);
  co_await op;  // suspends
}

reactor::Task<Status> Engine::Open() {
  // The history store opens on a helper while the shards replay their journals (a replay needs
  // no history store): right after a load, RocksDB's open (its WAL back into memtables) takes
  // about as long as the replays.
  Status history_opened;
  reactor::TaskGroup history_open;
  if (history_) reactor::Spawn(OpenHistoryInto(this, &history_opened), &history_open);
  DefinitionsSink sink(master_);
  Status opened = co_await definitions_->Open(sink);  // suspends
  // The shards replay their journals at the same time: start-up takes as long
  // as the slowest shard, not the sum.
  std::vector<Status> replayed(coordinators_.size());
  if (opened) {
    auto copy = std::make_shared<Registry>(master_);
    copy->IndexTriggers();
    std::shared_ptr<const Registry> reg = std::move(copy);
    reactor::TaskGroup group;
    for (unsigned i = 0; i < coordinators_.size(); ++i)
      reactor::Spawn(ReplayShardInto(this, i, reg, &replayed[i]), &group);
    co_await group.Wait();  // suspends
  }
  co_await history_open.Wait();  // suspends
  if (!history_opened)
    co_return Error{history_opened.error().code, "history: " + history_opened.error().ToString()};
  if (!opened) co_return Error{opened.error().code, "definitions: " + opened.error().ToString()};
  for (unsigned i = 0; i < coordinators_.size(); ++i) {
    const Status& st = replayed[i];
    if (!st) co_return Error{st.error().code, "shard " + std::to_string(i) + ": " + st.error().ToString()};
  }
  {
    reactor::TaskGroup group;
    for (unsigned i = 0; i < coordinators_.size(); ++i) reactor::Spawn(RecoverShard(this, i), &group);
    co_await group.Wait();  // suspends
  }
  // A child run on another shard than its parent is an orphan only if that shard, now open too,
  // does not hold its parent live.
  for (unsigned i = 0; i < coordinators_.size(); ++i) {
    auto op = reactor::SubmitTo(i, [](Coordinator* c) { return c->CheckRemoteOrphans(); }, coordinators_[i].get());
    co_await op;  // suspends
  }
  if (relay_) {
    Status st = co_await relay_->Open([this](std::vector<store::OutboxRow>& rows) {
                                        // The other instances' streams want what this relay drains.
                                        if (bus_) bus_->Publish(rows);
                                        DeliverOutbox(rows);
                                      },
                                      [this] { return bus_ != nullptr || fanout::Subscriber::Live() > 0; },
                                      [this] { return HeldPartitions(); });  // suspends
    if (!st) co_return Error{st.error().code, "outbox relay: " + st.error().ToString()};
    if (bus_) {
      for (auto& c : coordinators_) c->EnableRemoteStreams();
      Status bus = co_await bus_->Open([this](std::vector<store::OutboxRow>& rows) { DeliverOutbox(rows); });  // suspends
      if (!bus) co_return Error{bus.error().code, "cluster events: " + bus.error().ToString()};
    }
  }
  for (const auto& c : coordinators_) moves_ |= c->moves_partitions();
  // Until the members are read, each shard wants every partition the ring of shards gives it.
  wanted_ = owned_;
  if (definitions_->shared() || moves_) reactor::Spawn(Maintain(this), &maintain_);
  // The beat row is written (the stores are open): peers may see the entry now.
  if (directory_ && moves_) directory_->Start();
  ready_.store(true, std::memory_order_release);
  co_return Status{};
}

reactor::Task<void> Engine::Maintain(Engine* self) {
  Nanos logged = 0;
  while (!self->stopping_) {
    // A second between rounds, in steps, so that Close does not wait for it; a change in the
    // directory's view ends the wait, and for a while after one, rounds come every 250 ms: a
    // member that vanished from Redis still holds its leases until they expire, and the sooner
    // a round runs after that, the sooner its partitions move.
    const Nanos round_end = MonoNow() + (MonoNow() < self->fast_until_ ? 250 * kMillis : kSeconds);
    while (!self->stopping_ && MonoNow() < round_end) {
      co_await reactor::Sleep(std::min<Nanos>(50 * kMillis, round_end - MonoNow()));  // suspends
      if (self->directory_ && self->directory_->changes() != self->directory_seen_) break;
    }
    if (self->stopping_) break;
    if (self->definitions_->shared()) {
      RefreshSink sink(self->master_);
      Status st = co_await self->definitions_->Reload(sink);  // suspends
      if (!st && MonoNow() - logged > 10 * kSeconds) {
        logged = MonoNow();
        RF_LOG(kWarn, "definitions not refreshed from the shared store", {"error", st.error().ToString()});
      }
      // Before any takeover: a run taken over may use a workflow made elsewhere.
      if (sink.changed()) co_await self->Publish();  // suspends
    }
    if (self->moves_) co_await self->Rebalance();  // suspends
  }
}

namespace {
// After the directory's view changed, rounds come every 250 ms for this long: the PostgreSQL
// lease (4 s) plus a round, so a dead member's partitions are claimed soon after its leases
// expire, without polling the database faster the rest of the time.
constexpr Nanos kFastRounds = 5 * kSeconds;
// After the members could not be read: twice PostgreSQL's 4 s lease, so every live member has
// reconnected and beaten before anyone counts it gone (KeepThroughOutage).
constexpr Nanos kOutageGrace = 8 * kSeconds;
reactor::Task<Result<std::vector<store::Member>>> MembersOn(Coordinator* c) { return c->Members(); }
reactor::Task<void> RebalanceOn(Coordinator* c, std::vector<uint32_t> wanted) {
  return c->Rebalance(std::move(wanted));
}
}  // namespace

std::vector<uint32_t> Engine::HeldPartitions() const {
  std::vector<uint32_t> out;
  for (uint32_t w = 0; w < held_bits_.size(); ++w) {
    const uint64_t bits = held_bits_[w].load(std::memory_order_relaxed);
    for (uint32_t b = 0; b < 64; ++b)
      if (bits >> b & 1) out.push_back(w * 64 + b);
  }
  return out;
}

reactor::Task<void> Engine::Rebalance() {
  auto op = reactor::SubmitTo(0, &MembersOn, coordinators_[0].get());
  auto members = co_await op;  // suspends
  if (!members) {
    members_failed_at_ = MonoNow();
  } else if (members_failed_at_ != 0 && MonoNow() - members_failed_at_ < kOutageGrace) {
    *members = KeepThroughOutage(std::move(*members), members_);
  }
  if (directory_ && moves_) {
    if (directory_->changes() != directory_seen_) {
      directory_seen_ = directory_->changes();
      fast_until_ = MonoNow() + kFastRounds;
    }
    if (members) {
      const auto fast = directory_->Live();
      *members = LiveMembers(std::move(*members), fast ? &*fast : nullptr);
    }
  }
  if (!members) {
    // The database is away: keep what each shard wants (its takeovers fail until it is back).
    if (MonoNow() - members_logged_ > 10 * kSeconds) {
      members_logged_ = MonoNow();
      RF_LOG(kWarn, "cluster members not read; partitions stay where they are",
             {"error", members.error().ToString()});
    }
  } else if (*members != members_) {
    // Not a member yet (its first beat is not written): keep what it wants until it is.
    if (std::any_of(members->begin(), members->end(), [](const store::Member& m) { return m.self; })) {
      const std::vector<bool> mine = PartitionsOfSelf(*members);
      for (auto& w : wanted_) w.clear();
      for (uint32_t p = 0; p < kPartitions; ++p)
        if (mine[p]) wanted_[owner_[p]].push_back(p);
      size_t share = 0;
      for (const auto& w : wanted_) share += w.size();
      RF_LOG(kInfo, "cluster members changed", {"members", members->size()}, {"partitions", share});
    }
    members_ = std::move(*members);
    metrics_.members.Set(static_cast<int64_t>(members_.size()));
  }
  for (unsigned i = 0; i < coordinators_.size() && !stopping_; ++i) {
    auto op = reactor::SubmitTo(i, &RebalanceOn, coordinators_[i].get(), wanted_[i]);
    co_await op;  // suspends
  }
}

reactor::Task<void> Engine::Close() {
  ready_.store(false, std::memory_order_release);
  stopping_ = true;
  co_await maintain_.Wait();  // suspends: at most 100 ms of sleep, or the round under way
  if (relay_) co_await relay_->Close();  // suspends
  if (bus_) co_await bus_->Close();      // suspends
  for (unsigned i = 0; i < coordinators_.size(); ++i) {
    auto op = reactor::SubmitTo(i, [](Coordinator* c) { return c->Close(); }, coordinators_[i].get());
    co_await op;  // suspends
  }
  // The leases are ended and the beat row deleted: the peers that see the entry go take the
  // partitions at once.
  if (directory_) co_await directory_->Leave();  // suspends
  Status st = co_await definitions_->Close();  // suspends
  if (!st) RF_LOG(kError, "definitions log close failed", {"error", st.error().ToString()});
  if (history_) co_await reactor::Offload([this] { history_->Close(); });  // suspends
}

reactor::Task<std::optional<Result<RunView>>> Engine::GetFinished(RunId id, std::string ns) {
  if (!ready() || !history_) co_return std::nullopt;
  // The owner's memory comes first: a live run, or a finished one it has not moved yet.
  const bool owner = OwnerOf(id) == reactor::Shard::Current().id();
  if (owner && Coordinator::Local().InMemory(id)) co_return std::nullopt;
  // The log alone: its creation record names the workflow and version, and a read of the
  // summary beside it was a second disk read for a GET of an old run.
  auto log = history_->LogNow(id);
  // Under load the hop to a busy owner and back was most of the time of a GET that reads the
  // disk; the owner reads history through the same pool. A history on a server (PostgreSQL) is
  // asked here only for a run old enough to be finished most likely: for a live run the query
  // is paid for nothing, and GETs of live runs are mostly of young ones (clients polling).
  const bool ask_here = history_->reads_locally() ||
                        id.unix_ms() <= (WallNow() - options_.history_read_age) / kMillis;
  if (!log && log.error().code == Errc::kRetryLater && !owner && ask_here)
    log = co_await history_->LogAfterMiss(id);  // suspends
  if (!log || !*log) co_return std::nullopt;
  bool other_namespace = false;
  const Registry& registry = Coordinator::Local().registry();
  auto run = RebuildRun(**log, [&](const Record& created) -> Result<std::shared_ptr<const Definition>> {
    // A run of another namespace does not exist for the caller: the owner's answer.
    if (!ns.empty() && !InNamespace(created.workflow, ns)) {
      other_namespace = true;
      return Error{Errc::kNotFound, "another namespace"};
    }
    const auto* def = registry.Find(created.workflow, created.version);
    if (!def) return Error{Errc::kNotFound, "no definition"};  // the owner says why
    return *def;
  });
  if (other_namespace)
    co_return Result<RunView>(Error{Errc::kNotFound, "no run with id " + id.ToString()});
  // Failed and cancelled runs go to the owner: a retry may revive them.
  if (!run || run->status != RunStatus::kSucceeded) co_return std::nullopt;
  metrics_.shards[reactor::Shard::Current().id()].history_gets_here.Add();
  co_return Result<RunView>(RunView{RunJson(*run), false, true});
}

namespace {

RunPage ListOn(Coordinator* c, RunQuery q) { return c->List(q); }

}  // namespace

reactor::Task<Result<RunPage>> Engine::List(RunQuery q) {
  // Memory first, then history: a run moved in between shows up in both and
  // is kept once; read the other way round, it could show up in neither.
  // Failed runs only (dead-letter): a shard whose memory holds none that history lacks or has
  // older is not asked. Under load that round trip to a busy shard was most of the answer's
  // time, and failed runs are few. Nor is this shard's memory scanned then: under W3 that walk
  // over every live run found nothing, 200 times a second.
  const bool failed_only = q.dead_letter || (!q.any_status && q.status == RunStatus::kFailed);
  RunPage all;
  for (unsigned i = 0; i < coordinators_.size(); ++i) {
    if (failed_only && coordinators_[i]->FailedListed() == 0) continue;
    auto op = reactor::SubmitTo(i, &ListOn, coordinators_[i].get(), q);
    RunPage page = co_await op;  // suspends
    all.more = all.more || page.more;
    for (auto& r : page.runs) all.runs.push_back(std::move(r));
  }
  if (history_) {
    store::HistoryQuery hq;
    hq.workflow = q.workflow;
    hq.ns = q.ns;
    if (q.dead_letter) hq.status = RunStatus::kFailed;
    else if (!q.any_status) hq.status = q.status;
    hq.before = q.before;
    hq.limit = q.limit;
    auto found = co_await history_->List(std::move(hq));  // suspends
    if (!found) co_return found.error();
    if (found->size() > q.limit) all.more = true;
    Coordinator::AppendSummaries(*found, q, all);
  }
  // Stable, memory's pages first: of a run in both, memory's (newer) entry stays.
  std::stable_sort(all.runs.begin(), all.runs.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  all.runs.erase(std::unique(all.runs.begin(), all.runs.end(),
                             [](const auto& a, const auto& b) { return a.first == b.first; }),
                 all.runs.end());
  if (all.runs.size() > q.limit) {
    all.runs.resize(q.limit);
    all.more = true;
  }
  co_return all;
}

namespace {

std::vector<BreakerView> BreakersOn(const Coordinator* c) { return c->Breakers(); }

}  // namespace

reactor::Task<std::vector<BreakerView>> Engine::Breakers() {
  std::vector<BreakerView> all;
  for (unsigned i = 0; i < coordinators_.size(); ++i) {
    auto op = reactor::SubmitTo(i, &BreakersOn, static_cast<const Coordinator*>(coordinators_[i].get()));
    std::vector<BreakerView> part = co_await op;  // suspends
    for (BreakerView& v : part) all.push_back(std::move(v));
  }
  co_return all;
}

namespace {

struct FlowQuery {
  const Coordinator* c;
  std::string workflow;
  size_t max;
};
std::vector<FlowKeyView> FlowKeysOn(FlowQuery q) { return q.c->FlowKeys(q.workflow, q.max); }

}  // namespace

reactor::Task<std::vector<FlowKeyView>> Engine::FlowKeys(std::string workflow, size_t max) {
  std::vector<FlowKeyView> all;
  for (unsigned i = 0; i < coordinators_.size(); ++i) {
    auto op = reactor::SubmitTo(i, &FlowKeysOn, FlowQuery{coordinators_[i].get(), workflow, max});
    std::vector<FlowKeyView> part = co_await op;  // suspends
    for (FlowKeyView& v : part) all.push_back(std::move(v));
  }
  std::sort(all.begin(), all.end(), [](const FlowKeyView& a, const FlowKeyView& b) {
    return a.queued != b.queued ? a.queued > b.queued : a.live != b.live ? a.live > b.live : a.key < b.key;
  });
  if (all.size() > max) all.resize(max);
  co_return all;
}

namespace {

struct PermitQuery {
  const Coordinator* c;
  std::vector<std::string> scopes;
  size_t max;
};
std::vector<PermitKeyView> PermitKeysOn(PermitQuery q) { return q.c->PermitKeys(q.scopes, q.max); }

}  // namespace

reactor::Task<std::vector<PermitKeyView>> Engine::PermitKeys(std::vector<std::string> scopes, size_t max) {
  std::vector<PermitKeyView> all;
  for (unsigned i = 0; i < coordinators_.size(); ++i) {
    auto op = reactor::SubmitTo(i, &PermitKeysOn, PermitQuery{coordinators_[i].get(), scopes, max});
    std::vector<PermitKeyView> part = co_await op;  // suspends
    for (PermitKeyView& v : part) all.push_back(std::move(v));
  }
  std::sort(all.begin(), all.end(), [](const PermitKeyView& a, const PermitKeyView& b) {
    if (a.waiting != b.waiting) return a.waiting > b.waiting;
    if (a.in_use != b.in_use) return a.in_use > b.in_use;
    return a.scope != b.scope ? a.scope < b.scope : a.key < b.key;
  });
  if (all.size() > max) all.resize(max);
  co_return all;
}

namespace {

struct OutboxDelivery {
  Coordinator* to;
  std::vector<store::OutboxRow> rows;
};

void DeliverThere(void* p) {
  std::unique_ptr<OutboxDelivery> d(static_cast<OutboxDelivery*>(p));
  d->to->DeliverOutbox(d->rows);
}

}  // namespace

// On the relay's shard: each row goes to the shard that owns its run (its
// subscribers are there), one message per shard and batch.
void Engine::DeliverOutbox(std::vector<store::OutboxRow>& rows) {
  std::vector<std::vector<store::OutboxRow>> by_shard(coordinators_.size());
  for (store::OutboxRow& row : rows) by_shard[OwnerOf(row.run)].push_back(std::move(row));
  reactor::Shard& here = reactor::Shard::Current();
  for (unsigned i = 0; i < by_shard.size(); ++i) {
    if (by_shard[i].empty()) continue;
    if (i == here.id()) {
      coordinators_[i]->DeliverOutbox(by_shard[i]);
      continue;
    }
    auto* d = new OutboxDelivery{coordinators_[i].get(), std::move(by_shard[i])};
    here.Post(i, reactor::Message{&DeliverThere, d});
  }
}

reactor::Task<void> Engine::Publish() {
  auto copy = std::make_shared<Registry>(master_);
  copy->IndexTriggers();
  std::shared_ptr<const Registry> reg = std::move(copy);
  for (unsigned i = 0; i < coordinators_.size(); ++i) {
    auto op = reactor::SubmitTo(
        i, [](Coordinator* c, std::shared_ptr<const Registry> r) { c->SetRegistry(std::move(r)); },
        coordinators_[i].get(), reg);
    co_await op;  // suspends
  }
}

reactor::Task<Result<Engine::PutOutcome>> Engine::Put(std::string name, std::string source) {
  // With a shared store another instance may take the version number we chose (both knew
  // the same latest): then ours is not kept, we read theirs and number again.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    PutOutcome out;
    Registry::PutResult next = master_.NextVersion(name, source);
    out.version = next.version;
    if (!next.created) co_return out;
    out.compiled = CompileDefinition(name, source, next.version);
    if (!out.compiled.def) co_return out;
    // The flag may change between restarts: checked here, not by the compiler (which replays
    // accepted definitions again).
    for (const Step& s : out.compiled.def->steps) {
      if (s.map && s.map->literal_items > options_.max_map_items) {
        out.compiled.errors.push_back(
            {"/steps/" + std::to_string(s.source_index) + "/items",
             "items has " + std::to_string(s.map->literal_items) + " entries; the limit is " +
                 std::to_string(options_.max_map_items) + " (--max-map-items)"});
      }
    }
    if (!out.compiled.errors.empty()) {
      out.compiled.def = nullptr;
      co_return out;
    }
    out.created = true;
    definitions_->Append({.kind = store::DefinitionChange::Kind::kPut,
                          .name = out.compiled.def->name,
                          .version = out.compiled.def->version,
                          .source = out.compiled.def->source});
    const bool was_deleted = master_.IsDeleted(name);
    master_.Add(out.compiled.def);
    Status st = co_await definitions_->Commit();  // suspends
    if (st || st.error().code != Errc::kConflict) {
      if (!st) FailDefinitions(st.error());
      co_await Publish();  // suspends
      co_return out;
    }
    master_.Undo(name, out.version, was_deleted);
    RefreshSink sink(master_);
    Status re = co_await definitions_->Reload(sink);  // suspends
    co_await Publish();  // suspends
    if (attempt == kAttempts || !re) {
      co_return Error{Errc::kConflict, "workflow " + DescribeName(name) + " keeps getting new versions from other "
                                       "daemons at the same time; send the PUT again"};
    }
  }
}

reactor::Task<Status> Engine::Delete(std::string name) {
  if (!master_.Delete(name)) co_return Error{Errc::kNotFound, "no workflow named " + DescribeName(name)};
  definitions_->Append({.kind = store::DefinitionChange::Kind::kDelete, .name = name, .version = 0, .source = {}});
  Status st = co_await definitions_->Commit();  // suspends
  if (!st) FailDefinitions(st.error());
  co_await Publish();  // suspends
  co_return Status{};
}

}  // namespace rf::engine
