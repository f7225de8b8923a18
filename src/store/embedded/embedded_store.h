#pragma once
// The embedded adapter of the store interface: one journal per shard under
// <data>/shard-N (run records, moved marks, snapshots), one under
// <data>/definitions. Finished runs go to the HistoryStore the factory is
// given (store/history's RocksDB store in production).

#include <memory>
#include <string>
#include <vector>

#include "store/embedded/journal.h"
#include "store/history_store.h"
#include "store/store.h"

namespace rf::store::embedded {

// Journal record types of a shard's journal.
constexpr uint8_t kRunRecordType = 1;  // a run record
constexpr uint8_t kMovedType = 2;      // runs the history store has (16-byte ids)

class EmbeddedRunStore final : public RunStore {
 public:
  EmbeddedRunStore(std::string data_dir, unsigned shard, bool fsync, std::vector<uint32_t> partitions);
  reactor::Task<Status> Open(RecordSink& sink) override;
  uint64_t Append(const RunRow& run, const AppendedRecord& r) override;
  void NoteMoved(const std::vector<RunId>& ids) override;
  std::vector<uint32_t> held() const override { return partitions_; }
  uint64_t last_ticket() const override { return journal_->last_lsn(); }
  reactor::Task<Status> Durable(uint64_t ticket) override;
  reactor::Task<Status> Close() override;
  bool takes_snapshots() const override { return true; }
  reactor::Task<Status> WriteSnapshot(uint64_t upto, std::string bytes) override;
  size_t record_overhead() const override { return kRecordHeaderBytes; }
  // Null until opened.
  const JournalStats* stats() const { return journal_ ? &journal_->stats() : nullptr; }

 private:
  JournalOptions options_;
  std::vector<uint32_t> partitions_;
  std::unique_ptr<Journal> journal_;
};

// Definitions as journal records: kPut {"name","version","source"}, kDelete {"name"}.
class EmbeddedDefinitionLog final : public DefinitionLog {
 public:
  EmbeddedDefinitionLog(std::string data_dir, bool fsync);
  reactor::Task<Status> Open(DefinitionSink& sink) override;
  void Append(const DefinitionChange& change) override;
  reactor::Task<Status> Commit() override;
  reactor::Task<Status> Close() override;
  const JournalStats* stats() const { return journal_ ? &journal_->stats() : nullptr; }

 private:
  JournalOptions options_;
  std::unique_ptr<Journal> journal_;
};

class EmbeddedStoreFactory final : public StoreFactory {
 public:
  // `history`: where finished runs go (null: they stay in memory until retention).
  EmbeddedStoreFactory(std::string data_dir, bool fsync, std::unique_ptr<HistoryStore> history)
      : data_dir_(std::move(data_dir)), fsync_(fsync), history_(std::move(history)) {}
  std::unique_ptr<RunStore> MakeRunStore(unsigned shard, std::vector<uint32_t>) override;
  std::unique_ptr<DefinitionLog> MakeDefinitionLog() override;
  std::unique_ptr<KeyStore> MakeKeyStore() override;  // <data>/keys.json (key_file.h)
  std::unique_ptr<SecretStore> MakeSecretStore() override;
  // <data>/shard-N/schedules.json (schedule_file.h)
  std::unique_ptr<ScheduleStore> MakeScheduleStore(unsigned shard) override;  // <data>/secrets.json (secret_file.h)
  std::unique_ptr<AuditStore> MakeAuditStore(uint64_t max_bytes) override;  // <data>/audit/ (audit_files.h)
  HistoryStore* history() override { return history_.get(); }
  void RenderMetrics(std::string& out) const override;

 private:
  std::string data_dir_;
  bool fsync_;
  std::unique_ptr<HistoryStore> history_;
  // What it made, for RenderMetrics; they outlive the reads (the engine's stores).
  std::vector<const EmbeddedRunStore*> run_stores_;
  const EmbeddedDefinitionLog* definitions_ = nullptr;
};

}  // namespace rf::store::embedded
