#include "store/history/history_db.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "base/tenancy.h"
#include "store/history/nowait_fs.h"
#include "store/history/rocks_util.h"

namespace rf::store::history {
namespace {

using detail::FromRocks;
using detail::GetU64;
using detail::PutU64;
using detail::g_write_mu;

constexpr const char* kFamilyNames[] = {"default", "log", "workflow", "status", "wfstatus", "key", "usage"};

void PutStr(std::string& out, std::string_view s) {
  PutU64(out, s.size());
  out.append(s);
}

bool GetStr(std::string_view& in, std::string& s) {
  uint64_t n;
  if (!GetU64(in, n) || in.size() < n) return false;
  s.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

// Workflow names are at most 128 bytes (definition rules), so one length byte prefixes them.
std::string Name(std::string_view wf) {
  std::string k(1, static_cast<char>(std::min<size_t>(wf.size(), 255)));
  k.append(wf.substr(0, 255));
  return k;
}

std::string Cat(std::string a, std::string_view b) {
  a.append(b);
  return a;
}

// Tier::kMemory reads the page cache (NoWaitScope) where it can, else stops at the block cache:
// either way a read that needs the disk ends with Incomplete.
rocksdb::ReadOptions ReadAt(Tier tier, bool page_cache) {
  rocksdb::ReadOptions ro;
  if (tier == Tier::kMemory && !page_cache) ro.read_tier = rocksdb::kBlockCacheTier;
  return ro;
}

// A point read of a value that is never empty (a summary, a log, a key's run id). RocksDB before
// 9.1 (facebook/rocksdb#12443; Debian 12 ships 7.8) answers a kBlockCacheTier Get whose table file
// is not open in the table cache with OK and an empty value instead of Incomplete: after a restart,
// or once a large history has more tables than max_open_files, an inline read returned an empty
// log (the daemon crashed rendering the run) or a summary that did not decode (500). Such an
// answer is taken for what it is, a read that needed the disk.
rocksdb::Status PointRead(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, Tier tier,
                          bool page_cache, std::string_view key, std::string* out) {
  NoWaitScope scope(tier == Tier::kMemory && page_cache);
  rocksdb::Status s = db->Get(ReadAt(tier, page_cache), family, key, out);
  if (tier == Tier::kMemory && s.ok() && out->empty())
    return rocksdb::Status::Incomplete("table not open (read from memory only)");
  return s;
}

std::string StatusPrefix(uint8_t status) { return std::string(1, static_cast<char>(status)); }

std::string WfStatusPrefix(std::string_view wf, uint8_t status) {
  std::string k = Name(wf);
  k.push_back(static_cast<char>(status));
  return k;
}

}  // namespace

HistoryDb::~HistoryDb() {
  if (!db_) return;
  // A clean stop leaves no WAL to replay at the next start (a crash's WAL is replayed into
  // memtables, not flushed: avoid_flush_during_recovery).
  if (!read_only_) db_->Flush(rocksdb::FlushOptions(), cfs_).PermitUncheckedError();
  for (auto* h : cfs_)
    if (h != db_->DefaultColumnFamily()) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
}

std::string HistoryDb::EncodeSummary(const Entry& e) {
  return EncodeSummary(e, e.log_bytes >= 0 ? e.log_bytes : static_cast<int64_t>(e.log.size()));
}

std::string HistoryDb::EncodeSummary(const Entry& e, int64_t log_bytes) {
  std::string out;
  out.reserve(64 + e.workflow.size() + e.key.size() + e.error.size() + e.failed_step.size());
  out.push_back(2);  // format version (2: with the log's bytes at the end)
  PutStr(out, e.workflow);
  PutU64(out, static_cast<uint64_t>(e.version));
  out.push_back(static_cast<char>(e.status));
  PutU64(out, static_cast<uint64_t>(e.created_ms));
  PutU64(out, static_cast<uint64_t>(e.finished_ms));
  PutStr(out, e.key);
  PutStr(out, e.error);
  PutStr(out, e.failed_step);
  PutU64(out, static_cast<uint64_t>(log_bytes));
  return out;
}

Status HistoryDb::DecodeSummary(std::string_view in, Entry& e) {
  uint64_t version, created, finished, bytes = static_cast<uint64_t>(-1);
  if (in.empty() || (in[0] != 1 && in[0] != 2)) return Error{Errc::kCorrupt, "history summary: unknown format"};
  const bool with_bytes = in[0] == 2;
  in.remove_prefix(1);
  bool ok = GetStr(in, e.workflow) && GetU64(in, version) && !in.empty();
  if (ok) {
    e.status = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    ok = GetU64(in, created) && GetU64(in, finished) && GetStr(in, e.key) && GetStr(in, e.error) &&
         GetStr(in, e.failed_step) && (!with_bytes || GetU64(in, bytes)) && in.empty();
  }
  if (!ok) return Error{Errc::kCorrupt, "history summary: truncated"};
  e.version = static_cast<int64_t>(version);
  e.created_ms = static_cast<int64_t>(created);
  e.finished_ms = static_cast<int64_t>(finished);
  e.log_bytes = static_cast<int64_t>(bytes);
  return {};
}

Result<std::unique_ptr<HistoryDb>> HistoryDb::Open(const Options& o, bool read_only) {
  std::unique_ptr<HistoryDb> h(new HistoryDb());
  h->sync_ = o.sync;
  h->read_only_ = read_only;
  h->common_status_ = o.common_status;
  h->on_bytes_ = o.on_bytes;
  // Memtables of every family count against one budget, charged to the block cache so that one
  // bound covers both; the cache is sized for both. Sized for the blocks alone, memtables that
  // stay near their budget under a steady load left the cache no room: every read under load
  // fetched its filter, index and data blocks again (a GET of an old run cost 227 µs on a
  // helper during W3, 128 µs with room; reads answered inline on the shard: 0.8-1.4 -> 2.9 per
  // pool read).
  h->cache_ = rocksdb::NewLRUCache(std::max<size_t>(o.block_cache_bytes, 1 << 20) + o.write_buffer_bytes);
  h->buffers_ = std::make_shared<rocksdb::WriteBufferManager>(o.write_buffer_bytes, h->cache_);
  h->fs_ = NewNoWaitFileSystem();
  h->env_ = rocksdb::NewCompositeEnv(h->fs_);
  rocksdb::DBOptions db;
  db.env = h->env_.get();
  db.create_if_missing = !read_only;
  db.create_missing_column_families = !read_only;
  // One flush and two compactions: universal compaction runs a merge of newer sorted runs
  // beside a long one of the oldest. With one compaction thread a 40 s merge of the log family
  // (10M runs) let 64 flushed tables pile up and RocksDB stopped writes; the history writer
  // fell behind and starts were held back for up to 7 s. Three compactions took more CPU from
  // the shards (bench/history.sh: 14,598 runs/s over the load against 16,123 with two).
  db.max_background_jobs = 3;
  db.max_open_files = o.max_open_files;
  // Restart time: do not read every table's properties (or size) at open.
  db.skip_stats_update_on_db_open = true;
  db.skip_checking_sst_file_sizes_on_db_open = true;
  db.keep_log_file_num = 4;
  db.write_buffer_manager = h->buffers_;
  db.max_total_wal_size = o.write_buffer_bytes;  // bounded WAL, and so RocksDB's own restart
  // After a crash the WAL's writes go back into memtables and are flushed later, as at run
  // time: flushing them during the open took 370 of the 440 ms that opening a 1M-run history
  // took right after a load (62 ms once flushed).
  db.avoid_flush_during_recovery = true;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = h->cache_;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Index and filters count against the cache bound, partitioned so that only
  // their small top levels stay pinned: with whole-table filters a large
  // history thrashed a small cache and a point lookup read filters from disk.
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_top_level_index_and_filter = true;
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  rocksdb::ColumnFamilyOptions cfo;
  cfo.write_buffer_size = o.write_buffer_bytes / 2;
  cfo.max_write_buffer_number = 3;
  // Size-tiered (universal) compaction: runs arrive almost in id order from
  // several shards, so consecutive flushes overlap a little; leveled
  // compaction rewrote large L1 files for every flush and stalled writes at
  // tens of L0 files under sustained load, universal merges flushes together.
  cfo.compaction_style = rocksdb::kCompactionStyleUniversal;
  // Merge only once 16 sorted runs are there (RocksDB's default is 4): each merge rewrites what
  // it takes, so fewer, wider merges rewrite the history fewer times. Point reads check one
  // bloom filter per run. bench/history.sh, 10M runs, same machine and day: with 4, 76 % of the
  // short run's throughput over the load, load p99 34.1 ms, idle GET p99 4.6 ms (compactions
  // still catching up); with 8, 84 %, 26.1 ms, 4.1 ms; with 16, 90 %, 24.6 ms, 0.45 ms.
  cfo.level0_file_num_compaction_trigger = 16;
  cfo.level0_slowdown_writes_trigger = 48;
  cfo.level0_stop_writes_trigger = 64;
  // Logs are JSON: LZ4 for recent levels, ZSTD at the bottom where most data rests.
  cfo.compression = rocksdb::kLZ4Compression;
  cfo.bottommost_compression = rocksdb::kZSTD;
  cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Logs are the bulk (~100 bytes a run, compressed). With 4 KiB blocks a merge of 5.7M runs
  // wrote 22 MB of index partitions, and right after such a merge the block cache grew by
  // ~13 MiB and the daemon's RSS by ~30 MiB, taking ~40 s to come back (a new table's index
  // and filter partitions are read when it is opened): most of the RSS swing bench/history.sh
  // measured. 16 KiB blocks make that index a quarter (10M-run load, RSS over its last half:
  // 128-178 MiB anonymous before, 136-162 after).
  rocksdb::ColumnFamilyOptions log_cfo = cfo;
  table.block_size = 16 << 10;
  log_cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  std::vector<std::string> existing;
  // A secondary cannot create families: beside a daemon of an older version (no "usage" yet)
  // it opens what is there (it never reads the totals).
  if (read_only) rocksdb::DB::ListColumnFamilies(db, o.dir, &existing).PermitUncheckedError();
  for (const char* name : kFamilyNames) {
    if (read_only && std::string_view(name) == "usage" &&
        std::find(existing.begin(), existing.end(), name) == existing.end())
      continue;
    families.emplace_back(name, std::string_view(name) == "log" ? log_cfo : cfo);
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (read_only) {
    s = rocksdb::DB::OpenAsSecondary(rocksdb::Options(db, cfo), o.dir, o.secondary_dir, families,
                                     &h->cfs_, &raw);
    if (s.ok()) s = raw->TryCatchUpWithPrimary();
  } else {
    s = rocksdb::DB::Open(db, o.dir, families, &h->cfs_, &raw);
  }
  if (!s.ok()) return FromRocks(s, "open " + o.dir).error();
  h->db_.reset(raw);
  // CURRENT: a file every RocksDB directory has, read here to ask the file system.
  h->nowait_ = o.inline_page_cache && !read_only && NoWaitReadsWork(o.dir + "/CURRENT");
  if (!read_only) {
    std::lock_guard lock(g_write_mu);
    if (Status st = h->LoadTotals(); !st) return st.error();
  }
  return h;
}

int64_t HistoryDb::NamespaceBytes(std::string_view ns) {
  std::lock_guard lock(g_write_mu);
  auto it = totals_.find(ns);
  return it == totals_.end() ? 0 : it->second;
}

Status HistoryDb::DeleteRun(void* batch_ptr, const Entry& e, Deltas& deltas) {
  auto& b = *static_cast<rocksdb::WriteBatch*>(batch_ptr);
  auto bytes = BytesOf(e);
  if (!bytes) return bytes.error();
  deltas[std::string(SplitQualified(e.workflow).ns)] -= *bytes;
  rocksdb::Status s = b.Delete(cf(kSummary), e.id);
  if (s.ok()) s = b.Delete(cf(kLog), e.id);
  if (s.ok()) s = b.Delete(cf(kWorkflow), Cat(Name(e.workflow), e.id));
  if (s.ok() && e.status != common_status_) {
    s = b.Delete(cf(kStatus), Cat(StatusPrefix(e.status), e.id));
    if (s.ok()) s = b.Delete(cf(kWorkflowStatus), Cat(WfStatusPrefix(e.workflow, e.status), e.id));
  }
  if (s.ok() && !e.key.empty()) {
    // The key may name a newer run by now: drop it only while it names this one.
    std::string current;
    const std::string k = Cat(Name(e.workflow), e.key);
    rocksdb::Status g = db_->Get(rocksdb::ReadOptions(), cf(kKey), k, &current);
    if (g.ok() && current == e.id) s = b.Delete(cf(kKey), k);
  }
  return FromRocks(s, "delete");
}

Result<std::optional<Entry>> HistoryDb::Summary(std::string_view id, Tier tier) {
  std::string v;
  rocksdb::Status s = PointRead(db_.get(), cf(kSummary), tier, nowait_, id, &v);
  if (s.IsNotFound()) return std::optional<Entry>();
  if (!s.ok()) return FromRocks(s, "read").error();
  Entry e;
  e.id.assign(id);
  if (Status st = DecodeSummary(v, e); !st) return st.error();
  return std::optional<Entry>(std::move(e));
}

Status HistoryDb::Write(const std::vector<Entry>& runs) {
  std::lock_guard lock(g_write_mu);
  rocksdb::WriteBatch b;
  Deltas deltas, totals;
  for (const Entry& e : runs) {
    if (e.id.size() != kIdBytes) return Error{Errc::kInvalidArgument, "history: bad run id"};
    // A run moved again after a crash (its move done, the journal's mark of it lost) is
    // already here too: found through the bloom filters (no read for a new id, nearly always),
    // it is replaced like a retried run, so the namespace's total counts it once. A run the
    // caller knows is new skips the look: ~30 % of the bulk helper's CPU in a W3 run (perf).
    std::string ignored;
    if (e.prior == Entry::Prior::kOlder ||
        (e.prior == Entry::Prior::kMaybe &&
         db_->KeyMayExist(rocksdb::ReadOptions(), cf(kSummary), e.id, &ignored))) {
      if (e.id < expire_floor_) expire_floor_.clear();  // an old run again: retention must see it
      auto old = Summary(e.id);
      if (!old) return old.error();
      if (*old) {
        if (Status st = DeleteRun(&b, **old, deltas); !st) return st;
      }
    }
    deltas[std::string(SplitQualified(e.workflow).ns)] += static_cast<int64_t>(e.log.size());
    rocksdb::Status s = b.Put(cf(kSummary), e.id, EncodeSummary(e, static_cast<int64_t>(e.log.size())));
    if (s.ok()) s = b.Put(cf(kLog), e.id, e.log);
    if (s.ok()) s = b.Put(cf(kWorkflow), Cat(Name(e.workflow), e.id), {});
    if (s.ok() && e.status != common_status_) {
      s = b.Put(cf(kStatus), Cat(StatusPrefix(e.status), e.id), {});
      if (s.ok()) s = b.Put(cf(kWorkflowStatus), Cat(WfStatusPrefix(e.workflow, e.status), e.id), {});
    }
    if (s.ok() && !e.key.empty()) s = b.Put(cf(kKey), Cat(Name(e.workflow), e.key), e.id);
    if (!s.ok()) return FromRocks(s, "write");
  }
  if (Status st = StageTotals(&b, deltas, totals); !st) return st;
  rocksdb::WriteOptions w;
  w.sync = sync_;
  if (Status st = FromRocks(db_->Write(w, &b), "write"); !st) return st;
  Publish(totals);
  return {};
}

Result<std::optional<Entry>> HistoryDb::Get(std::string_view id, Tier tier) {
  auto e = Summary(id, tier);
  if (!e || !*e) return e;
  auto log = Log(id, tier);
  if (!log) return log.error();
  if (!*log) return Error{Errc::kCorrupt, "history: a run without its log"};
  (*e)->log = std::move(**log);
  return e;
}

Result<std::optional<std::string>> HistoryDb::Log(std::string_view id, Tier tier) {
  std::string log;
  rocksdb::Status s = PointRead(db_.get(), cf(kLog), tier, nowait_, id, &log);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read").error();
  return std::optional<std::string>(std::move(log));
}

Result<std::optional<std::string>> HistoryDb::FindKey(std::string_view workflow, std::string_view key,
                                                      Tier tier) {
  std::string id;
  rocksdb::Status s = PointRead(db_.get(), cf(kKey), tier, nowait_, Cat(Name(workflow), key), &id);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read").error();
  return std::optional<std::string>(std::move(id));
}

Result<std::vector<Entry>> HistoryDb::List(const Query& q, Tier tier) {
  // Pick the family whose keys are exactly the matches, or (succeeded runs,
  // not indexed by status) the narrowest one to filter.
  Family family = kSummary;
  std::string prefix;
  const bool indexed_status = q.status && *q.status != common_status_;
  if (!q.workflow.empty() && indexed_status) {
    family = kWorkflowStatus;
    prefix = WfStatusPrefix(q.workflow, *q.status);
  } else if (!q.workflow.empty()) {
    family = kWorkflow;
    prefix = Name(q.workflow);
  } else if (indexed_status) {
    family = kStatus;
    prefix = StatusPrefix(*q.status);
  }
  const bool filter = q.status && !indexed_status;
  // Newest first: seek to the last key below the cursor and walk back.
  std::string start = prefix;
  if (q.before.empty()) {
    start.append(kIdBytes + 1, '\xff');
  } else {
    start.append(q.before);
  }
  // Tier::kMemory: an iterator that reaches a block not in the caches stops with Incomplete.
  NoWaitScope scope(tier == Tier::kMemory && nowait_);
  rocksdb::ReadOptions ro = ReadAt(tier, nowait_);
  rocksdb::Slice lower(prefix);
  if (!prefix.empty()) ro.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(family)));
  std::vector<Entry> out;
  it->SeekForPrev(start);
  // SeekForPrev lands on `before` itself when it exists: the cursor is exclusive.
  if (it->Valid() && !q.before.empty() && it->key() == rocksdb::Slice(start)) it->Prev();
  // In memory the walk still costs the caller's shard time: a filter that skips most keys (a
  // namespace with few runs) goes to the helpers after a bounded number of keys.
  const size_t budget = tier == Tier::kMemory ? q.limit * 4 + 256 : SIZE_MAX;
  size_t walked = 0;
  for (; it->Valid() && out.size() < q.limit; it->Prev()) {
    if (++walked > budget) return Error{kNotInMemory, "history list: a long walk, for the helpers"};
    rocksdb::Slice k = it->key();
    if (!k.starts_with(prefix) || k.size() != prefix.size() + kIdBytes) break;
    std::string_view id(k.data() + prefix.size(), kIdBytes);
    Entry e;
    e.id.assign(id);
    if (family == kSummary) {
      if (Status st = DecodeSummary(std::string_view(it->value().data(), it->value().size()), e); !st)
        return st.error();
    } else {
      auto s = Summary(id, tier);
      if (!s) return s.error();
      if (!*s) continue;  // an index key whose run went meanwhile
      e = std::move(**s);
    }
    if (filter && e.status != *q.status) continue;
    // A namespace has no index of its own: its runs are filtered from the family walked.
    if (q.ns && q.workflow.empty() && !InNamespace(e.workflow, *q.ns)) continue;
    out.push_back(std::move(e));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "list").error();
  return out;
}

Status HistoryDb::Remove(std::string_view id) {
  std::lock_guard lock(g_write_mu);
  auto old = Summary(id);
  if (!old) return old.error();
  if (!*old) return {};
  rocksdb::WriteBatch b;
  Deltas deltas, totals;
  if (Status st = DeleteRun(&b, **old, deltas); !st) return st;
  if (Status st = StageTotals(&b, deltas, totals); !st) return st;
  rocksdb::WriteOptions w;
  w.sync = sync_;
  if (Status st = FromRocks(db_->Write(w, &b), "remove"); !st) return st;
  Publish(totals);
  return {};
}

Result<size_t> HistoryDb::Expire(int64_t cutoff_ms, size_t max) {
  std::lock_guard lock(g_write_mu);
  // Oldest id first. A run cannot finish before it was created, so the walk
  // ends at the first run created after the cutoff; runs created before it
  // that finished later stay (and are looked at again next time).
  rocksdb::ReadOptions ro;
  rocksdb::Slice lower(expire_floor_);
  if (!expire_floor_.empty()) ro.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kSummary)));
  rocksdb::WriteBatch b;
  Deltas deltas, totals;
  size_t n = 0;
  bool kept_one = false;
  std::string floor = expire_floor_;
  for (it->SeekToFirst(); it->Valid() && n < max; it->Next()) {
    Entry e;
    e.id.assign(it->key().data(), it->key().size());
    if (Status st = DecodeSummary(std::string_view(it->value().data(), it->value().size()), e); !st)
      return st.error();
    if (e.created_ms >= cutoff_ms) break;
    if (e.finished_ms >= cutoff_ms) {
      if (!kept_one) floor = e.id;  // the oldest survivor: later walks start here
      kept_one = true;
      continue;
    }
    if (Status st = DeleteRun(&b, e, deltas); !st) return st.error();
    if (!kept_one) floor = e.id;
    ++n;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "expire").error();
  if (b.Count() == 0) return size_t{0};
  if (Status st = StageTotals(&b, deltas, totals); !st) return st.error();
  rocksdb::WriteOptions w;
  w.sync = sync_;
  if (Status st = FromRocks(db_->Write(w, &b), "expire"); !st) return st.error();
  Publish(totals);
  expire_floor_ = floor;  // only once the deletes are in
  return n;
}

Status HistoryDb::Scan(int64_t before_ms, const std::function<Status(const Entry&)>& fn) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // a bulk read must not evict what requests use
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kSummary)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Entry e;
    e.id.assign(it->key().data(), it->key().size());
    if (Status st = DecodeSummary(std::string_view(it->value().data(), it->value().size()), e); !st)
      return st;
    if (e.created_ms >= before_ms) break;
    if (e.finished_ms >= before_ms) continue;
    rocksdb::Status s = db_->Get(ro, cf(kLog), e.id, &e.log);
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "scan");
    if (Status st = fn(e); !st) return st;
  }
  return FromRocks(it->status(), "scan");
}

uint64_t HistoryDb::DiskBytes() {
  uint64_t total = 0;
  for (auto* h : cfs_) {
    uint64_t v = 0;
    db_->GetIntProperty(h, "rocksdb.total-sst-files-size", &v);
    total += v;
  }
  return total;
}

HistoryDb::Memory HistoryDb::MemoryUse() {
  Memory m;
  auto sum = [&](const char* property) {
    uint64_t total = 0;
    for (auto* h : cfs_) {
      uint64_t v = 0;
      if (db_->GetIntProperty(h, property, &v)) total += v;
    }
    return total;
  };
  m.memtables = sum("rocksdb.size-all-mem-tables");
  m.table_readers = sum("rocksdb.estimate-table-readers-mem");
  db_->GetIntProperty("rocksdb.num-running-compactions", &m.compactions);
  db_->GetIntProperty("rocksdb.num-running-flushes", &m.flushes);
  m.cache = cache_->GetUsage();
  m.cache_capacity = cache_->GetCapacity();
  return m;
}

}  // namespace rf::store::history
