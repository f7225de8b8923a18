#pragma once
// The embedded HistoryStore: finished runs in RocksDB under <data>/history
// (store/history/history_db.h), its blocking calls on a small helper pool
// whose lookup lane goes ahead of bulk moves and retention. Reads (Get,
// FindKey, List) first try memory on the calling shard (HistoryDb's
// Tier::kMemory: memtables, block cache and page cache, never waiting for the
// disk) and go to the pool only when that needs the disk: a hit costs no
// thread hop and no extra loop turn of the shard, which under load is most of
// a read's latency.

#include <memory>
#include <mutex>
#include <string>

#include "store/history/history_db.h"
#include "store/history/history_pool.h"
#include "store/history_store.h"

namespace rf::store::history {

struct EmbeddedHistoryOptions {
  std::string dir;
  bool fsync = true;
  size_t block_cache_bytes = 32 << 20;
  bool inline_page_cache = true;  // HistoryDb's Options::inline_page_cache
};

class EmbeddedHistoryStore final : public HistoryStore {
 public:
  explicit EmbeddedHistoryStore(EmbeddedHistoryOptions options);
  ~EmbeddedHistoryStore() override;

  Status Open() override;
  void Close() override;
  reactor::Task<Status> Put(std::vector<HistoryRun> runs) override;
  reactor::Task<Result<std::optional<HistoryRun>>> Get(RunId id) override;
  Result<std::optional<HistoryRun>> GetNow(RunId id) override;
  Result<std::optional<std::string>> LogNow(RunId id) override;
  reactor::Task<Result<std::optional<std::string>>> LogAfterMiss(RunId id) override;
  bool reads_locally() const override { return true; }
  reactor::Task<Result<std::optional<RunId>>> FindKey(std::string workflow, std::string key) override;
  reactor::Task<Result<std::vector<HistoryRun>>> List(HistoryQuery q) override;
  reactor::Task<Status> Remove(RunId id) override;
  reactor::Task<Result<size_t>> Expire(int64_t cutoff_ms, size_t max, int64_t term) override;
  Status Export(int64_t before_ms, const std::function<Status(const HistoryRun&)>& out) override;
  const HistoryStats& stats() const override { return stats_; }
  void RenderMetrics(std::string& out) const override;

  // Opens an existing history read-only beside a running daemon (archive).
  static Result<std::unique_ptr<EmbeddedHistoryStore>> OpenSecondary(const std::string& dir,
                                                                     const std::string& scratch);

 private:
  // Runs on a helper: counts and times one call. Helpers are the only writers
  // of stats_, serialised by stats_mu_ (no shard thread ever takes it).
  void Account(bool read, Nanos queued_at, size_t written);
  // An awaitable that runs fn on the helpers' lookup lane and accounts it as a read.
  template <class F>
  auto Lookup(F fn);
  // Counts an inline read on the calling shard's slot: a hit unless it needed the disk.
  template <class R>
  bool Inline(const R& r);

  EmbeddedHistoryOptions options_;
  std::unique_ptr<HistoryDb> db_;
  std::unique_ptr<HistoryPool> pool_;
  HistoryStats stats_;
  std::mutex stats_mu_;
};

// Conversions between the interface's HistoryRun and the byte-level store entry.
Entry ToEntry(HistoryRun run);
HistoryRun FromEntry(Entry e);

}  // namespace rf::store::history
