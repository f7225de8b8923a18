#pragma once
// The embedded backend of RunStore and DefinitionLog: one journal per shard
// under <data>/shard-N (run records, snapshots), one under <data>/definitions.

#include <memory>
#include <string>

#include "engine/embedded_history.h"
#include "engine/run_store.h"
#include "store/embedded/journal.h"

namespace rf::engine {

class EmbeddedRunStore final : public RunStore {
 public:
  EmbeddedRunStore(std::string data_dir, unsigned shard, bool fsync);
  reactor::Task<Status> Open(RecordSink& sink) override;
  uint64_t Append(const Run& run, const Record& r, uint32_t seq, std::string_view payload) override;
  void NoteMoved(const std::vector<RunId>& ids) override;
  uint64_t last_ticket() const override { return journal_->last_lsn(); }
  reactor::Task<Status> Durable(uint64_t ticket) override;
  reactor::Task<Status> Close() override;
  bool takes_snapshots() const override { return true; }
  reactor::Task<Status> WriteSnapshot(uint64_t upto, std::string bytes) override;
  size_t record_overhead() const override { return store::embedded::kRecordHeaderBytes; }
  const store::embedded::JournalStats* journal_stats() const override {
    return journal_ ? &journal_->stats() : nullptr;
  }

 private:
  store::embedded::JournalOptions options_;
  std::unique_ptr<store::embedded::Journal> journal_;
};

class EmbeddedDefinitionLog final : public DefinitionLog {
 public:
  EmbeddedDefinitionLog(std::string data_dir, bool fsync);
  reactor::Task<Status> Open(store::embedded::ReplaySink& sink) override;
  void Append(uint8_t type, std::string_view payload) override { journal_->Append(type, payload); }
  reactor::Task<Status> Commit() override;
  reactor::Task<Status> Close() override;
  const store::embedded::JournalStats* journal_stats() const override {
    return journal_ ? &journal_->stats() : nullptr;
  }

 private:
  store::embedded::JournalOptions options_;
  std::unique_ptr<store::embedded::Journal> journal_;
};

class EmbeddedStoreFactory final : public StoreFactory {
 public:
  // `history_block_cache`: RocksDB's block cache for the history store.
  EmbeddedStoreFactory(std::string data_dir, bool fsync, size_t history_block_cache)
      : data_dir_(std::move(data_dir)),
        fsync_(fsync),
        history_(EmbeddedHistoryOptions{data_dir_ + "/history", fsync, history_block_cache}) {}
  std::unique_ptr<RunStore> MakeRunStore(unsigned shard, std::vector<uint32_t>) override {
    return std::make_unique<EmbeddedRunStore>(data_dir_, shard, fsync_);
  }
  std::unique_ptr<DefinitionLog> MakeDefinitionLog() override {
    return std::make_unique<EmbeddedDefinitionLog>(data_dir_, fsync_);
  }
  HistoryStore* history() override { return &history_; }

 private:
  std::string data_dir_;
  bool fsync_;
  EmbeddedHistoryStore history_;
};

}  // namespace rf::engine
