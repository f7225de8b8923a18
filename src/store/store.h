#pragma once
// The store interface: where a shard's coordinator makes its records durable
// and finds them again at start (RunStore), where the registry keeps its
// definitions (DefinitionLog), and how the engine gets both (StoreFactory).
// Adapters: store/embedded (journals on local disk), store/postgres. Finished
// runs are served by a HistoryStore (store/history_store.h).
//
// The coordinator owns the semantics (records, Apply, recovery); a store keeps
// records in order per run, makes a batch durable atomically and gives them
// back. Records are opaque bytes to a store; what a store that keeps a row per
// run needs besides them comes as plain values (RunRow, AppendedRecord), so no
// adapter depends on the engine.
//
// One RunStore per shard, used only on that shard's thread. Append never
// suspends and does no I/O: a store commits everything appended in one loop
// turn together (group commit) and resumes Durable() waiters afterwards.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "reactor/task.h"
#include "store/run_id.h"
#include "store/run_status.h"

namespace rf::store {

class HistoryStore;

// Step index of a timer that belongs to the run (its deadline), not to a step.
constexpr uint32_t kRunTimer = UINT32_MAX;

// Receives the durable state at Open, on the store's shard.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // A snapshot the coordinator wrote (stores that take_snapshots()). At most once, first.
  virtual Status OnSnapshot(std::string_view bytes) = 0;
  // One run record, every run's records in their order.
  virtual Status OnRecord(std::string_view payload) = 0;
  // A pending durable timer of an unfinished run (stores with loads_timers()),
  // after every record. `step`: kRunTimer for the run deadline.
  virtual Status OnTimer(const RunId&, uint32_t, int64_t) { return {}; }
  // Runs the history store had durably when this was written (16-byte ids,
  // concatenated): records of theirs before it need not be replayed.
  virtual Status OnMoved(std::string_view) { return {}; }
};

// What a store that keeps a row per run sees of the run at an append (stores
// with wants_rows(); others get `id` only). Views into the caller's state,
// valid during the call.
struct RunRow {
  RunId id;
  std::string_view id_text;
  std::string_view workflow;
  int64_t version = 0;
  int priority = 0;
  std::string_view idempotency_key;  // empty: none
  RunStatus status = RunStatus::kPending;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t finished_ms = 0;  // 0: not finished
  int64_t deadline_ms = 0;  // 0: none
  std::string_view input;   // JSON; set on the record that created the run
  std::string_view output;  // JSON; succeeded runs
  std::string_view error;   // JSON {"message", "step"?}; failed and cancelled runs
  int64_t log_bytes = 0;    // the run's log with this record (store/run_log.h framing)
};

// A durable timer an appended record arms or ends.
struct TimerChange {
  enum class Kind : uint8_t { kNone, kArm, kEnd };
  Kind kind = Kind::kNone;
  uint32_t step = kRunTimer;
  int64_t at_ms = 0;  // kArm: when it fires; kEnd: when it was consumed
};

struct AppendedRecord {
  uint32_t seq = 0;  // position in the run's log, from 1
  int64_t at_ms = 0;
  bool resumed = false;  // a retry made the finished run live again
  TimerChange timer;
  std::string_view payload;  // the encoded record
};

// One row of a transactional outbox: the events one commit produced for one
// run: a JSON array of event objects (`data`, empty when not read).
struct OutboxRow {
  RunId run;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::string workflow;
  std::string data;
};

// The in-process relay of a store with a transactional outbox (PostgreSQL):
// it drains committed events in batches and hands each batch to `deliver` on
// the shard that opened it. One per instance. Delivery is at least once (a
// batch whose removal failed comes again); receivers drop what they have seen
// by event number. While `wanted()` is false (nobody subscribes to anything)
// the relay may drain without reading the events' data: rows come with empty
// `data` then.
class EventRelay {
 public:
  using Deliver = std::function<void(std::vector<OutboxRow>&)>;
  using Wanted = std::function<bool()>;
  // The partitions this instance holds now (their runs' events are this relay's to
  // deliver; another instance's relay drains the rest). Called from the relay's shard.
  using Held = std::function<std::vector<uint32_t>()>;
  virtual ~EventRelay() = default;
  virtual reactor::Task<Status> Open(Deliver deliver, Wanted wanted, Held held) = 0;
  // New events were committed: drain soon. Any shard thread.
  virtual void Nudge() = 0;
  virtual reactor::Task<void> Close() = 0;
};

// A live instance of a cluster: its id and how many shards it runs (the ring
// gives an instance a share of the partitions in proportion to its shards).
// Standbys (--standby) share the partitions only among themselves, and only
// while no other member is alive.
struct Member {
  std::string id;
  unsigned shards = 1;
  bool self = false;     // this instance
  bool standby = false;  // on the ring only while no member without it is alive
  friend bool operator==(const Member&, const Member&) = default;
};

// Events across the instances of a cluster: what one instance's outbox relay delivers,
// the others receive, for the event streams of runs they do not hold (a subscriber may
// connect to any instance). At most once and best effort: while the bus is away events of
// other instances' runs pause (the local ones do not); receivers drop what they have seen
// by event number. Shard 0 only.
class EventBus {
 public:
  virtual ~EventBus() = default;
  // Starts receiving: `deliver` gets the rows other instances published, in their order.
  virtual reactor::Task<Status> Open(EventRelay::Deliver deliver) = 0;
  // Rows this instance's relay delivered. Never waits: sent in the background, dropped
  // (and counted) while the bus is away or too far behind.
  virtual void Publish(const std::vector<OutboxRow>& rows) = 0;
  virtual reactor::Task<void> Close() = 0;
  // Appends the bus's metric families. Any thread.
  virtual void RenderMetrics(std::string&) const {}
  // Whether events of other instances arrive now (false: they pause). Any thread.
  virtual bool up() const { return true; }
};

class RunStore {
 public:
  virtual ~RunStore() = default;

  // Replays the durable records this shard owns into `sink`. Suspends.
  virtual reactor::Task<Status> Open(RecordSink& sink) = 0;
  // Whether Append needs `run` filled beyond its id (and events as JSON).
  virtual bool wants_rows() const { return false; }
  // Buffers one record (already applied to the run). Returns a ticket;
  // tickets increase with every append.
  virtual uint64_t Append(const RunRow& run, const AppendedRecord& r) = 0;
  // One event the batch produced, as its JSON object, for stores with an
  // outbox. Only called when wants_events().
  virtual void AppendEvent(const RunRow&, uint64_t /*seq*/, int64_t /*at_ms*/, std::string_view) {}
  virtual bool wants_events() const { return false; }
  // Events reach subscribers through the store's EventRelay (after they were
  // committed), not from the coordinator; their history comes from History().
  virtual bool relays_events() const { return false; }
  // The outbox rows of `run` holding events after `after_seq`, in order. Suspends.
  virtual reactor::Task<Result<std::vector<OutboxRow>>> History(const RunId& run, uint64_t after_seq);
  // Durable timers kept apart from the records (PostgreSQL's timeouts table):
  // Open reports them through RecordSink::OnTimer and the coordinator arms
  // those instead of deriving them from the records.
  virtual bool loads_timers() const { return false; }
  // The run was removed by retention: stores that would replay it drop it too.
  virtual void Forget(const RunId&) {}
  // These finished runs are durable in the history store: a replay may skip
  // their records up to here (RecordSink::OnMoved). Stores that replay only
  // live runs ignore it.
  virtual void NoteMoved(const std::vector<RunId>&) {}
  // Partitions that move between instances (PostgreSQL): a shard holds a
  // partition only while no other instance does. The engine tells each shard,
  // every second, which of its partitions this instance should hold now (the
  // ring over the live instances, Members): the shard takes those it can
  // (TakeOver: free ones, or ones whose holder died and whose lease expired)
  // and hands over those another live instance should hold (Release).
  // Other stores hold every partition they were given, from Open on.
  virtual bool moves_partitions() const { return false; }
  // The partitions whose runs this shard has now (after Open or a TakeOver).
  virtual std::vector<uint32_t> held() const = 0;
  // Takes what it can of `wanted` that it does not hold, replays their live
  // runs into `sink` as Open does, and returns them. Suspends.
  virtual reactor::Task<Result<std::vector<uint32_t>>> TakeOver(std::vector<uint32_t> wanted,
                                                                RecordSink& sink);
  // Hands `partitions` over now (their leases end, so another instance can take
  // them). Everything appended for their runs must be durable already: the
  // coordinator stops their work and waits for that first. Suspends.
  virtual reactor::Task<Status> Release(std::vector<uint32_t> partitions);
  // The live instances sharing this store (shard 0's store; any shard's answers
  // the same), this one included once its beat is written. Suspends.
  // Errors: kInvalidArgument for a store whose partitions never move, the store's.
  virtual reactor::Task<Result<std::vector<Member>>> Members();
  // Where another live instance that holds `partition` answers (its --advertise host:port), for
  // forwarding a request this instance cannot serve. Errors: kNotFound (no other instance holds
  // it now: free, expired, moving, or a store whose partitions never move), the store's.
  // Suspends; may answer from a cache about a second old.
  virtual reactor::Task<Result<std::string>> HolderOf(uint32_t partition);
  virtual uint64_t last_ticket() const = 0;
  // False while the store cannot make anything durable (its database is down):
  // new commands are refused with kUnavailable instead of waiting. Any thread.
  virtual bool healthy() const { return true; }
  // Suspends until every append up to `ticket` is durable. Errors: the store failed.
  virtual reactor::Task<Status> Durable(uint64_t ticket) = 0;
  // Flushes and releases resources. Suspends.
  virtual reactor::Task<Status> Close() = 0;

  // Snapshots (stores whose log grows forever): the coordinator writes one
  // covering every ticket <= upto.
  virtual bool takes_snapshots() const { return false; }
  virtual reactor::Task<Status> WriteSnapshot(uint64_t upto, std::string bytes);
  // Bytes of framing a record costs in the log, for the snapshot trigger.
  virtual size_t record_overhead() const { return 0; }
};

// One change to the registry's definitions.
struct DefinitionChange {
  enum class Kind : uint8_t { kPut = 1, kDelete = 2 };
  Kind kind = Kind::kPut;
  std::string name;
  int64_t version = 0;  // kPut
  std::string source;   // kPut: the definition's JSON text as registered
};

// Receives the durable definitions at Open, in the order they were made.
class DefinitionSink {
 public:
  virtual ~DefinitionSink() = default;
  virtual Status OnDefinition(const DefinitionChange& change) = 0;
};

// The definitions' durable log (shard 0).
class DefinitionLog {
 public:
  virtual ~DefinitionLog() = default;
  virtual reactor::Task<Status> Open(DefinitionSink& sink) = 0;
  // Whether other instances change these definitions too (a shared database):
  // then Reload gives every definition again, as Open did, with theirs.
  virtual bool shared() const { return false; }
  virtual reactor::Task<Status> Reload(DefinitionSink& sink);
  virtual void Append(const DefinitionChange& change) = 0;
  // Everything appended so far is durable. kConflict (a shared store): another
  // instance made a put's version first; that version is theirs, ours was not kept.
  virtual reactor::Task<Status> Commit() = 0;
  virtual reactor::Task<Status> Close() = 0;
};

// One API key as stored: never its secret, only the SHA-256 of the whole token (hex).
// `ns` and `role` are names (auth/ decides what they mean); `ns` "*" is every namespace.
struct ApiKeyRow {
  std::string id;    // public: listed, revoked by; part of the token
  std::string name;  // the creator's label
  std::string ns;
  std::string role;
  std::string hash;  // hex SHA-256 of the token
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0: never
};

// The API keys' durable table. Owned and used by one shard (the key service's, shard 0); the
// other shards see keys only through what that shard hands them. Every call suspends and is
// durable when it returns.
class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // Every key not revoked (expired ones too: the caller filters), in creation order.
  virtual reactor::Task<Result<std::vector<ApiKeyRow>>> Load() = 0;
  // Errors: kConflict (the id exists), the store's.
  virtual reactor::Task<Status> Insert(const ApiKeyRow& key) = 0;
  // Errors: kNotFound (no such key, or revoked already), the store's.
  virtual reactor::Task<Status> Revoke(std::string_view id, int64_t at_ms) = 0;
  // Whether other instances change this table too (a shared database): then the owner calls
  // Load again now and then to pick their changes up.
  virtual bool shared() const { return false; }
};

// One secret as stored: its value sealed (auth/secret_box.h: AES-256-GCM bound to `ns` and
// `name`), never in clear. `sealed` holds bytes; `key_id` names the key that sealed it.
struct SecretRow {
  std::string ns;
  std::string name;
  std::string sealed;
  std::string key_id;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// The secrets' durable table. Owned and used by one shard (the secret service's, shard 0), as
// KeyStore. Every call suspends and is durable when it returns.
class SecretStore {
 public:
  virtual ~SecretStore() = default;
  // Every secret, ordered by namespace, then name.
  virtual reactor::Task<Result<std::vector<SecretRow>>> Load() = 0;
  // Inserts (ns, name) or replaces its sealed value, key id and updated_ms (created_ms stays).
  virtual reactor::Task<Status> Put(const SecretRow& row) = 0;
  // Errors: kNotFound, the store's.
  virtual reactor::Task<Status> Delete(std::string_view ns, std::string_view name) = 0;
  // Whether other instances change this table too: then the owner reloads it now and then.
  virtual bool shared() const { return false; }
};

// One schedule as stored (schedule/ reads `spec`; the store keeps it as text). A schedule
// belongs to the partition of its qualified name, so the shard holding that partition keeps and
// fires it; `cursor_ms` only moves forward.
struct ScheduleRow {
  std::string name;        // qualified: base/tenancy.h
  uint32_t partition = 0;  // PartitionOf(name)
  std::string spec;        // the schedule's JSON (workflow, input, cron, ...)
  bool paused = false;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t cursor_ms = 0;  // the last fire time dealt with (started, skipped or dropped), Unix ms
  std::string last_run;   // the run of the last started fire; empty: none
};

// A schedule's fire state after a fire was dealt with.
struct ScheduleFire {
  std::string name;
  int64_t cursor_ms = 0;
  std::string last_run;
};

// The schedules of one shard's partitions. Owned and used by that shard (its scheduler); every
// call suspends and is durable when it returns. Embedded: <data>/shard-N/schedules.json and a
// journal of the changes since; PostgreSQL: the schedules table (migration 0010).
class ScheduleStore {
 public:
  virtual ~ScheduleStore() = default;
  // Every schedule of `partitions`, by name.
  virtual reactor::Task<Result<std::vector<ScheduleRow>>> Load(std::vector<uint32_t> partitions) = 0;
  // Inserts or replaces the whole row.
  virtual reactor::Task<Status> Put(ScheduleRow row) = 0;
  // Errors: kNotFound, the store's.
  virtual reactor::Task<Status> Delete(std::string name) = 0;
  // Moves the cursors forward (a fire older than what is stored changes nothing); schedules
  // deleted meanwhile are skipped.
  virtual reactor::Task<Status> Fired(std::vector<ScheduleFire> fires) = 0;
  // Whether other instances change this table too: then the owner reloads it now and then.
  virtual bool shared() const { return false; }
};

// One audited request (a mutation that reached a /v1 route, denied ones included).
struct AuditEntry {
  int64_t id = 0;  // assigned by the store when appended, increasing: the listing's order
  int64_t at_ms = 0;
  std::string subject;  // "key:<id>", "jwt:<sub>", "anonymous" (auth off), "unauthenticated"
  std::string ns;
  std::string method;
  std::string route;   // the route's pattern, e.g. "/v1/workflows/{name}"
  std::string target;  // the path parameters as a JSON object, e.g. {"name":"orders"}
  int status = 0;
  std::string request_id;  // the request's X-Request-Id; empty: none
  uint64_t seq = 0;  // not stored: commit order across shards, which id follows (auth/audit_log)
};

// A page of one namespace's entries, newest first: since_ms <= at_ms < until_ms (0: unbounded),
// id < before_id (0: from the newest), at most `limit`.
struct AuditQuery {
  std::string ns;
  int64_t since_ms = 0;
  int64_t until_ms = 0;
  int64_t before_id = 0;
  size_t limit = 100;
};

struct AuditPage {
  std::vector<AuditEntry> entries;
  int64_t next_before = 0;  // the cursor of the next page; 0: this was the last
};

// The audit log's durable store. Used by one shard (the audit log's writer, shard 0); every
// call suspends. Embedded: append-only files under <data>/audit, rotated by size and bounded
// in total; PostgreSQL: the audit_log table (migration 0009).
class AuditStore {
 public:
  virtual ~AuditStore() = default;
  virtual reactor::Task<Status> Open() = 0;
  // Makes `entries` durable in order, setting their ids.
  virtual reactor::Task<Status> Append(std::vector<AuditEntry>& entries) = 0;
  virtual reactor::Task<Result<AuditPage>> Query(AuditQuery q) = 0;
  // Removes entries older than `before_ms` (stores with a size bound drop their oldest beyond
  // it as they append). Returns how many went, where the store can tell (else 0). A singleton
  // job (store/leader_election.h): a store shared by several daemons refuses (kConflict, nothing
  // removed) unless `term` is the audit retention's current term; one of one daemon ignores it.
  virtual reactor::Task<Result<uint64_t>> Trim(int64_t before_ms, int64_t term) = 0;
  virtual reactor::Task<Status> Close() = 0;
};

// How the engine gets its stores (app/ picks the adapter).
class StoreFactory {
 public:
  virtual ~StoreFactory() = default;
  // `partitions`: the ones the ring gives this shard (the runs it must recover).
  virtual std::unique_ptr<RunStore> MakeRunStore(unsigned shard, std::vector<uint32_t> partitions) = 0;
  virtual std::unique_ptr<DefinitionLog> MakeDefinitionLog() = 0;
  // The API keys' table (auth); null: the store keeps none (keys then live in memory only).
  virtual std::unique_ptr<KeyStore> MakeKeyStore() { return nullptr; }
  // The secrets' table; null: the store keeps none (secrets then live in memory only).
  virtual std::unique_ptr<SecretStore> MakeSecretStore() { return nullptr; }
  // The schedules of `shard`'s partitions; null: the store keeps none (schedules answer 503).
  virtual std::unique_ptr<ScheduleStore> MakeScheduleStore(unsigned /*shard*/) { return nullptr; }
  // The audit log's store; `max_bytes` bounds what a store on local disk keeps. Null: none.
  virtual std::unique_ptr<AuditStore> MakeAuditStore(uint64_t /*max_bytes*/) { return nullptr; }
  // The instance's outbox relay, owned by the factory; null: the store has none.
  virtual EventRelay* relay() { return nullptr; }
  // The instance's history of finished runs, owned by the factory; null: the
  // store has none and finished runs stay in memory until retention.
  virtual HistoryStore* history() { return nullptr; }
  // Appends the store's own metric families (rf_journal_*, rf_store_*) summed
  // over the stores it made. Any thread, while the stores it made are open.
  virtual void RenderMetrics(std::string&) const {}
};

}  // namespace rf::store
