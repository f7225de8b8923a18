#include "engine/embedded_store.h"

#include "engine/detail/run_log.h"
#include "obs/log.h"

namespace rf::engine {

reactor::Task<Status> RunStore::WriteSnapshot(uint64_t, std::string) {
  co_return Error{Errc::kInvalidArgument, "this store takes no snapshots"};
}

namespace {

// Journal replay -> RecordSink: run records only.
class JournalToSink : public store::embedded::ReplaySink {
 public:
  explicit JournalToSink(RecordSink& s) : sink_(s) {}
  Status OnSnapshot(uint64_t, std::string_view bytes) override { return sink_.OnSnapshot(bytes); }
  Status OnRecord(uint64_t lsn, uint8_t type, std::string_view payload) override {
    if (type != detail::kRunRecordType) {
      return Error{Errc::kCorrupt, "journal record " + std::to_string(lsn) + " has unknown type " +
                                       std::to_string(type)};
    }
    return sink_.OnRecord(payload);
  }

 private:
  RecordSink& sink_;
};

}  // namespace

EmbeddedRunStore::EmbeddedRunStore(std::string data_dir, unsigned shard, bool fsync) {
  options_.dir = store::embedded::JournalDir(data_dir, shard);
  options_.fsync = fsync;
}

reactor::Task<Status> EmbeddedRunStore::Open(RecordSink& sink) {
  JournalToSink adapter(sink);
  auto j = co_await store::embedded::Journal::Open(options_, adapter);  // suspends
  if (!j) co_return j.error();
  journal_ = std::move(*j);
  const auto& rep = journal_->recovery();
  RF_LOG(kInfo, "store opened", {"dir", options_.dir}, {"snapshot_lsn", rep.snapshot_lsn},
         {"records_replayed", rep.records}, {"torn_bytes", rep.torn_bytes});
  co_return Status{};
}

uint64_t EmbeddedRunStore::Append(const Run&, const Record&, uint32_t, std::string_view payload) {
  return journal_->Append(detail::kRunRecordType, payload);
}

reactor::Task<Status> EmbeddedRunStore::Durable(uint64_t ticket) {
  co_return co_await journal_->WaitDurable(ticket);  // suspends
}

reactor::Task<Status> EmbeddedRunStore::Close() {
  if (!journal_) co_return Status{};
  co_return co_await journal_->Close();  // suspends
}

reactor::Task<Status> EmbeddedRunStore::WriteSnapshot(uint64_t upto, std::string bytes) {
  co_return co_await journal_->WriteSnapshot(upto, std::move(bytes));  // suspends
}

EmbeddedDefinitionLog::EmbeddedDefinitionLog(std::string data_dir, bool fsync) {
  options_.dir = data_dir + "/definitions";
  options_.fsync = fsync;
  options_.segment_bytes = 16 << 20;
}

reactor::Task<Status> EmbeddedDefinitionLog::Open(store::embedded::ReplaySink& sink) {
  auto j = co_await store::embedded::Journal::Open(options_, sink);  // suspends
  if (!j) co_return j.error();
  journal_ = std::move(*j);
  co_return Status{};
}

reactor::Task<Status> EmbeddedDefinitionLog::Commit() {
  co_return co_await journal_->Commit();  // suspends
}

reactor::Task<Status> EmbeddedDefinitionLog::Close() {
  if (!journal_) co_return Status{};
  co_return co_await journal_->Close();  // suspends
}

}  // namespace rf::engine
