#include "store/embedded/embedded_store.h"

#include "store/embedded/audit_files.h"
#include "store/embedded/key_file.h"
#include "store/embedded/schedule_file.h"
#include "store/embedded/secret_file.h"

#include "json/parse.h"
#include "json/value_limits.h"
#include "json/writer.h"
#include "obs/log.h"
#include "store/embedded/format.h"

namespace rf::store::embedded {

// The journal refuses (RF_CHECK) a payload above its bound: no record the engine
// makes (json/value_limits.h bounds them) may reach it.
static_assert(json::kMaxRecordBytes <= kMaxRecordPayload);

namespace {

// Journal replay -> RecordSink: run records only.
class JournalToSink : public ReplaySink {
 public:
  explicit JournalToSink(RecordSink& s) : sink_(s) {}
  Status OnSnapshot(uint64_t, std::string_view bytes) override { return sink_.OnSnapshot(bytes); }
  Status OnRecord(uint64_t lsn, uint8_t type, std::string_view payload) override {
    if (type == kMovedType) return sink_.OnMoved(payload);
    if (type != kRunRecordType) {
      return Error{Errc::kCorrupt, "journal record " + std::to_string(lsn) + " has unknown type " +
                                       std::to_string(type)};
    }
    return sink_.OnRecord(payload);
  }

 private:
  RecordSink& sink_;
};

// Journal replay -> DefinitionSink, with the limits every replay applies
// (json/value_limits.h): a put holds the source as an escaped string.
class JournalToDefinitions : public ReplaySink {
 public:
  explicit JournalToDefinitions(DefinitionSink& s) : sink_(s) {}
  Status OnSnapshot(uint64_t, std::string_view) override {
    return Error{Errc::kCorrupt, "definitions log: unexpected snapshot"};
  }
  Status OnRecord(uint64_t lsn, uint8_t type, std::string_view payload) override {
    auto bad = [&](std::string what) {
      return Error{Errc::kCorrupt, "definitions log record " + std::to_string(lsn) + ": " + what};
    };
    auto v = json::Parse(payload,
                         {.max_bytes = json::kReplayMaxBytes, .max_depth = json::kReplayMaxDepth});
    if (!v) return bad("undecodable");
    const json::Value* name = v->Find("name");
    if (!name || !name->is_string()) return bad("no name");
    DefinitionChange c;
    c.name = name->as_string();
    if (type == static_cast<uint8_t>(DefinitionChange::Kind::kDelete)) {
      c.kind = DefinitionChange::Kind::kDelete;
      return sink_.OnDefinition(c);
    }
    if (type != static_cast<uint8_t>(DefinitionChange::Kind::kPut))
      return bad("unknown type " + std::to_string(type));
    const json::Value* version = v->Find("version");
    const json::Value* source = v->Find("source");
    if (!version || !version->is_int() || !source || !source->is_string())
      return bad("put without version or source");
    c.version = version->as_int();
    c.source = source->as_string();
    return sink_.OnDefinition(c);
  }

 private:
  DefinitionSink& sink_;
};

}  // namespace

EmbeddedRunStore::EmbeddedRunStore(std::string data_dir, unsigned shard, bool fsync,
                                   std::vector<uint32_t> partitions)
    : partitions_(std::move(partitions)) {
  options_.dir = JournalDir(data_dir, shard);
  options_.fsync = fsync;
  // A restart scans every segment the last snapshot did not let go of, from
  // its start: small segments keep that scan near the journal written since
  // the snapshot (finished runs take most of it, and they are only skipped).
  options_.segment_bytes = 8 << 20;
}

reactor::Task<Status> EmbeddedRunStore::Open(RecordSink& sink) {
  JournalToSink adapter(sink);
  auto j = co_await Journal::Open(options_, adapter);  // suspends
  if (!j) co_return j.error();
  journal_ = std::move(*j);
  const auto& rep = journal_->recovery();
  RF_LOG(kInfo, "store opened", {"dir", options_.dir}, {"snapshot_lsn", rep.snapshot_lsn},
         {"records_replayed", rep.records}, {"torn_bytes", rep.torn_bytes});
  co_return Status{};
}

uint64_t EmbeddedRunStore::Append(const RunRow&, const AppendedRecord& r) {
  return journal_->Append(kRunRecordType, r.payload);
}

void EmbeddedRunStore::NoteMoved(const std::vector<RunId>& ids) {
  std::string bytes;
  bytes.reserve(ids.size() * 16);
  for (const RunId& id : ids) bytes.append(reinterpret_cast<const char*>(id.bytes.data()), 16);
  journal_->Append(kMovedType, bytes);
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

reactor::Task<Status> EmbeddedDefinitionLog::Open(DefinitionSink& sink) {
  JournalToDefinitions adapter(sink);
  auto j = co_await Journal::Open(options_, adapter);  // suspends
  if (!j) co_return j.error();
  journal_ = std::move(*j);
  co_return Status{};
}

void EmbeddedDefinitionLog::Append(const DefinitionChange& change) {
  json::Object o{{"name", change.name}};
  if (change.kind == DefinitionChange::Kind::kPut) {
    o.emplace_back("version", change.version);
    o.emplace_back("source", change.source);
  }
  journal_->Append(static_cast<uint8_t>(change.kind), json::ToString(json::Value(std::move(o))));
}

reactor::Task<Status> EmbeddedDefinitionLog::Commit() {
  co_return co_await journal_->Commit();  // suspends
}

reactor::Task<Status> EmbeddedDefinitionLog::Close() {
  if (!journal_) co_return Status{};
  co_return co_await journal_->Close();  // suspends
}

std::unique_ptr<RunStore> EmbeddedStoreFactory::MakeRunStore(unsigned shard,
                                                             std::vector<uint32_t> partitions) {
  auto s = std::make_unique<EmbeddedRunStore>(data_dir_, shard, fsync_, std::move(partitions));
  run_stores_.push_back(s.get());
  return s;
}

std::unique_ptr<DefinitionLog> EmbeddedStoreFactory::MakeDefinitionLog() {
  auto d = std::make_unique<EmbeddedDefinitionLog>(data_dir_, fsync_);
  definitions_ = d.get();
  return d;
}

void EmbeddedStoreFactory::RenderMetrics(std::string& out) const {
  std::vector<const JournalStats*> parts;
  for (const EmbeddedRunStore* s : run_stores_)
    if (const JournalStats* st = s->stats()) parts.push_back(st);
  if (definitions_ && definitions_->stats()) parts.push_back(definitions_->stats());
  if (!parts.empty()) RenderJournalMetrics(parts, out);
}

std::unique_ptr<KeyStore> EmbeddedStoreFactory::MakeKeyStore() {
  return std::make_unique<KeyFile>(data_dir_);
}

std::unique_ptr<ScheduleStore> EmbeddedStoreFactory::MakeScheduleStore(unsigned shard) {
  return std::make_unique<ScheduleFile>(data_dir_, shard);
}

std::unique_ptr<SecretStore> EmbeddedStoreFactory::MakeSecretStore() {
  return std::make_unique<SecretFile>(data_dir_);
}

std::unique_ptr<AuditStore> EmbeddedStoreFactory::MakeAuditStore(uint64_t max_bytes) {
  return std::make_unique<AuditFiles>(data_dir_ + "/audit", max_bytes, fsync_);
}

}  // namespace rf::store::embedded
