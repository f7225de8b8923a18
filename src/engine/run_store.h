#pragma once
// RunStore: where a shard's coordinator makes its records durable, and where
// it finds them again at start. Two implementations: the embedded journal
// (embedded_store.h) and PostgreSQL (store/postgres). The coordinator owns the
// semantics (records, Apply, recovery); a store only has to keep records in
// order per run, make a batch durable atomically, and give them back.
//
// One instance per shard, used only on that shard's thread. Append never
// suspends and does no I/O: a store commits everything appended in one loop
// turn together (group commit) and resumes Durable() waiters afterwards.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "engine/record.h"
#include "obs/metrics.h"
#include "obs/pool_stats.h"
#include "reactor/task.h"
#include "store/embedded/journal_stats.h"
#include "store/embedded/replay.h"

namespace rf::engine {

class HistoryStore;

// Receives the durable state at Open, on the store's shard.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // A snapshot the coordinator wrote (embedded store only). At most once, first.
  virtual Status OnSnapshot(std::string_view bytes) = 0;
  // One run record, every run's records in their order.
  virtual Status OnRecord(std::string_view payload) = 0;
  // A pending durable timer of an unfinished run (stores with loads_timers()),
  // after every record. `step`: kNoStep for the run deadline.
  virtual Status OnTimer(const RunId&, uint32_t, int64_t) { return {}; }
  // Runs the history store had durably when this was written (16-byte ids,
  // concatenated): records of theirs before it need not be replayed.
  virtual Status OnMoved(std::string_view) { return {}; }
};

// One row of a transactional outbox: the events one commit produced for one
// run: a JSON array of EventToJsonInRun objects (`data`, empty when not read).
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
  virtual ~EventRelay() = default;
  virtual reactor::Task<Status> Open(Deliver deliver, Wanted wanted) = 0;
  // New events were committed: drain soon. Any shard thread.
  virtual void Nudge() = 0;
  virtual reactor::Task<void> Close() = 0;
};


// Commit metrics of a database-backed store (the journal has its own, JournalStats).
// Single writer (the store's shard), read by /metrics anywhere.
struct StoreStats {
  obs::Counter commits;          // transactions committed
  obs::Counter commit_failures;  // attempts that failed (each is retried)
  obs::Counter records;          // records made durable
  store::embedded::CountHistogram batch_records;  // records per transaction
  obs::Histogram commit_latency;                  // one transaction, acquire to COMMIT's answer
  obs::Gauge in_flight;                           // transactions under way
  obs::Gauge connections_up;                      // the shard's pool
  const obs::PoolStats* pool = nullptr;                // set once the store opened
};

// Appends rf_store_* families summed over shards (nothing when `parts` is empty).
void RenderStoreMetrics(const std::vector<const StoreStats*>& parts, std::string& out);

class RunStore {
 public:
  virtual ~RunStore() = default;

  // Replays the durable records this shard owns into `sink`. Suspends.
  virtual reactor::Task<Status> Open(RecordSink& sink) = 0;
  // Buffers one record (already applied to `run`; `seq` is its position in the
  // run's log, from 1; `payload` is EncodeRecord's text). Returns a ticket;
  // tickets increase with every append.
  virtual uint64_t Append(const Run& run, const Record& r, uint32_t seq, std::string_view payload) = 0;
  // The events a batch produced, for stores with an outbox. Only called when
  // wants_events().
  virtual void AppendEvents(const Run&, const std::vector<Event>&) {}
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
  // Whether Open replays finished runs too (true) or only unfinished ones (false:
  // finished runs are read through the factory's HistoryStore instead; the
  // records of a live run still carry its idempotency key).
  virtual bool loads_finished() const { return true; }
  // The run was removed by retention: stores that would replay it drop it too.
  virtual void Forget(const RunId&) {}
  // These finished runs are durable in the history store: a replay may skip
  // their records up to here (RecordSink::OnMoved). Stores that replay only
  // live runs ignore it.
  virtual void NoteMoved(const std::vector<RunId>&) {}
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

  virtual const store::embedded::JournalStats* journal_stats() const { return nullptr; }
  virtual const StoreStats* store_stats() const { return nullptr; }
};

// The definitions' durable log (shard 0): opaque (type, payload) records in order.
class DefinitionLog {
 public:
  virtual ~DefinitionLog() = default;
  virtual reactor::Task<Status> Open(store::embedded::ReplaySink& sink) = 0;
  virtual void Append(uint8_t type, std::string_view payload) = 0;
  virtual reactor::Task<Status> Commit() = 0;  // everything appended so far is durable
  virtual reactor::Task<Status> Close() = 0;
  virtual const store::embedded::JournalStats* journal_stats() const { return nullptr; }
};

// How the engine gets its stores (app/ picks the backend).
class StoreFactory {
 public:
  virtual ~StoreFactory() = default;
  // `partitions`: the ones the ring gives this shard (the runs it must recover).
  virtual std::unique_ptr<RunStore> MakeRunStore(unsigned shard, std::vector<uint32_t> partitions) = 0;
  virtual std::unique_ptr<DefinitionLog> MakeDefinitionLog() = 0;
  // The instance's outbox relay, owned by the factory; null: the store has none.
  virtual EventRelay* relay() { return nullptr; }
  // The instance's history of finished runs, owned by the factory; null: the
  // store has none and finished runs stay in memory until retention.
  virtual HistoryStore* history() { return nullptr; }
};

}  // namespace rf::engine
