// HistoryDb's retained bytes per namespace (the quota retained_history_bytes): the `usage`
// family's totals, changed in the writers' own batches (history_db.h). Every function here
// runs under the writers' lock (detail::g_write_mu).

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <memory>

#include "base/tenancy.h"
#include "store/history/history_db.h"
#include "store/history/rocks_util.h"

namespace rf::store::history {

using detail::FromRocks;
using detail::GetU64;
using detail::PutU64;

namespace {
constexpr const char* kTotalsComplete = "";  // the usage family's marker key (empty)
}  // namespace

Result<int64_t> HistoryDb::BytesOf(const Entry& e) {
  if (e.log_bytes >= 0) return e.log_bytes;
  rocksdb::PinnableSlice log;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kLog), e.id, &log);
  if (s.IsNotFound()) return int64_t{0};
  if (!s.ok()) return FromRocks(s, "read").error();
  return static_cast<int64_t>(log.size());
}

Status HistoryDb::StageTotals(void* batch_ptr, const Deltas& deltas, Deltas& totals) {
  auto& b = *static_cast<rocksdb::WriteBatch*>(batch_ptr);
  for (const auto& [ns, delta] : deltas) {
    if (delta == 0) continue;
    auto it = totals_.find(ns);
    const int64_t now = std::max<int64_t>(0, (it == totals_.end() ? 0 : it->second) + delta);
    totals[ns] = now;
    std::string v;
    PutU64(v, static_cast<uint64_t>(now));
    rocksdb::Status s = now == 0 ? b.Delete(cf(kUsage), ns) : b.Put(cf(kUsage), ns, v);
    if (!s.ok()) return FromRocks(s, "write");
  }
  return {};
}

void HistoryDb::Publish(const Deltas& totals) {
  for (const auto& [ns, bytes] : totals) {
    if (bytes == 0) {
      totals_.erase(ns);
    } else {
      totals_[ns] = bytes;
    }
    if (on_bytes_) on_bytes_(ns, bytes);
  }
}

Status HistoryDb::LoadTotals() {
  std::string marker;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kUsage), kTotalsComplete, &marker);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "open");
  totals_.clear();
  rocksdb::WriteBatch b;
  if (s.ok()) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kUsage)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().empty()) continue;
      std::string_view v(it->value().data(), it->value().size());
      uint64_t bytes;
      if (!GetU64(v, bytes)) return Error{Errc::kCorrupt, "history: bad namespace total"};
      totals_[it->key().ToString()] = static_cast<int64_t>(bytes);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "open");
  } else {
    // A history written before the totals existed: count it once (it reads every summary,
    // and the logs of summaries that do not carry their size), then never again.
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kSummary)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      Entry e;
      e.id.assign(it->key().data(), it->key().size());
      if (Status st = DecodeSummary(std::string_view(it->value().data(), it->value().size()), e); !st)
        return st;
      auto bytes = BytesOf(e);
      if (!bytes) return bytes.error();
      totals_[std::string(SplitQualified(e.workflow).ns)] += *bytes;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "open");
    for (const auto& [ns, bytes] : totals_) {
      std::string v;
      PutU64(v, static_cast<uint64_t>(bytes));
      if (rocksdb::Status p = b.Put(cf(kUsage), ns, v); !p.ok()) return FromRocks(p, "open");
    }
    if (rocksdb::Status p = b.Put(cf(kUsage), kTotalsComplete, "1"); !p.ok()) return FromRocks(p, "open");
    rocksdb::WriteOptions w;
    w.sync = true;
    if (Status st = FromRocks(db_->Write(w, &b), "open"); !st) return st;
  }
  if (on_bytes_)
    for (const auto& [ns, bytes] : totals_) on_bytes_(ns, bytes);
  return {};
}

}  // namespace rf::store::history
