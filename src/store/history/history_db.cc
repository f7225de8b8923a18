#include "store/history/history_db.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace rf::store::history {
namespace {

// Writers (Write, Remove, Expire) read a run's old summary to drop its old
// index keys; serialising them keeps two writers of one run from interleaving.
std::mutex g_write_mu;

void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

bool GetU64(std::string_view& in, uint64_t& v) {
  if (in.size() < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  in.remove_prefix(8);
  return true;
}

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
void PutName(std::string& out, std::string_view wf) {
  out.push_back(static_cast<char>(std::min<size_t>(wf.size(), 255)));
  out.append(wf.substr(0, 255));
}

std::string Key(char tag, std::string_view id) {
  std::string k(1, tag);
  k.append(id);
  return k;
}

std::string WorkflowKey(std::string_view wf, std::string_view id) {
  std::string k(1, 'w');
  PutName(k, wf);
  k.append(id);
  return k;
}

std::string StatusKey(uint8_t status, std::string_view id) {
  std::string k(1, 't');
  k.push_back(static_cast<char>(status));
  k.append(id);
  return k;
}

std::string WorkflowStatusKey(std::string_view wf, uint8_t status, std::string_view id) {
  std::string k(1, 'x');
  PutName(k, wf);
  k.push_back(static_cast<char>(status));
  k.append(id);
  return k;
}

std::string IdemKey(std::string_view wf, std::string_view key) {
  std::string k(1, 'k');
  PutName(k, wf);
  k.append(key);
  return k;
}

std::string FinishedKey(int64_t finished_ms, std::string_view id) {
  std::string k(1, 'f');
  PutU64(k, static_cast<uint64_t>(finished_ms));
  k.append(id);
  return k;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return {};
  Errc code = s.IsCorruption() ? Errc::kCorrupt : s.IsBusy() || s.IsTryAgain() ? Errc::kUnavailable
                                                                               : Errc::kIo;
  return Error{code, "history " + std::string(what) + ": " + s.ToString()};
}

}  // namespace

HistoryDb::~HistoryDb() {
  if (db_) db_->Close().PermitUncheckedError();
}

std::string HistoryDb::EncodeSummary(const Entry& e) {
  std::string out;
  out.reserve(64 + e.workflow.size() + e.key.size() + e.error.size() + e.failed_step.size());
  out.push_back(1);  // format version
  PutStr(out, e.workflow);
  PutU64(out, static_cast<uint64_t>(e.version));
  out.push_back(static_cast<char>(e.status));
  PutU64(out, static_cast<uint64_t>(e.created_ms));
  PutU64(out, static_cast<uint64_t>(e.finished_ms));
  PutStr(out, e.key);
  PutStr(out, e.error);
  PutStr(out, e.failed_step);
  return out;
}

Status HistoryDb::DecodeSummary(std::string_view in, Entry& e) {
  uint64_t version, created, finished;
  if (in.empty() || in[0] != 1) return Error{Errc::kCorrupt, "history summary: unknown format"};
  in.remove_prefix(1);
  bool ok = GetStr(in, e.workflow) && GetU64(in, version) && !in.empty();
  if (ok) {
    e.status = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    ok = GetU64(in, created) && GetU64(in, finished) && GetStr(in, e.key) && GetStr(in, e.error) &&
         GetStr(in, e.failed_step) && in.empty();
  }
  if (!ok) return Error{Errc::kCorrupt, "history summary: truncated"};
  e.version = static_cast<int64_t>(version);
  e.created_ms = static_cast<int64_t>(created);
  e.finished_ms = static_cast<int64_t>(finished);
  return {};
}

Result<std::unique_ptr<HistoryDb>> HistoryDb::Open(const Options& o, bool read_only) {
  std::unique_ptr<HistoryDb> h(new HistoryDb());
  h->sync_ = o.sync;
  h->read_only_ = read_only;
  rocksdb::Options opts;
  opts.create_if_missing = !read_only;
  opts.write_buffer_size = o.write_buffer_bytes;
  opts.max_write_buffer_number = 3;
  opts.max_background_jobs = 2;
  opts.max_open_files = 512;
  opts.keep_log_file_num = 4;
  opts.max_total_wal_size = 4 * o.write_buffer_bytes;  // bounded WAL (and restart replay)
  // Logs are JSON: LZ4 for recent levels, ZSTD at the bottom where most data rests.
  opts.compression = rocksdb::kLZ4Compression;
  opts.bottommost_compression = rocksdb::kZSTD;
  rocksdb::BlockBasedTableOptions table;
  h->cache_ = rocksdb::NewLRUCache(std::max<size_t>(o.block_cache_bytes, 1 << 20));
  table.block_cache = h->cache_;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;  // index and filters count against the cache bound
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  if (read_only) {
    s = rocksdb::DB::OpenAsSecondary(opts, o.dir, o.secondary_dir, &db);
    if (s.ok()) s = db->TryCatchUpWithPrimary();
  } else {
    s = rocksdb::DB::Open(opts, o.dir, &db);
  }
  if (!s.ok()) return FromRocks(s, "open " + o.dir).error();
  h->db_.reset(db);
  return h;
}

Status HistoryDb::DeleteRun(void* batch_ptr, const Entry& e) {
  auto& b = *static_cast<rocksdb::WriteBatch*>(batch_ptr);
  rocksdb::Status s;
  s = b.Delete(Key('s', e.id));
  if (s.ok()) s = b.Delete(Key('l', e.id));
  if (s.ok()) s = b.Delete(WorkflowKey(e.workflow, e.id));
  if (s.ok()) s = b.Delete(StatusKey(e.status, e.id));
  if (s.ok()) s = b.Delete(WorkflowStatusKey(e.workflow, e.status, e.id));
  if (s.ok()) s = b.Delete(FinishedKey(e.finished_ms, e.id));
  if (s.ok() && !e.key.empty()) {
    // The key may name a newer run by now: drop it only while it names this one.
    std::string current;
    rocksdb::Status g = db_->Get(rocksdb::ReadOptions(), IdemKey(e.workflow, e.key), &current);
    if (g.ok() && current == e.id) s = b.Delete(IdemKey(e.workflow, e.key));
  }
  return FromRocks(s, "delete");
}

Result<std::optional<Entry>> HistoryDb::Summary(std::string_view id) {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key('s', id), &v);
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
  for (const Entry& e : runs) {
    if (e.id.size() != kIdBytes) return Error{Errc::kInvalidArgument, "history: bad run id"};
    auto old = Summary(e.id);
    if (!old) return old.error();
    if (*old) {
      if (Status st = DeleteRun(&b, **old); !st) return st;
    }
    rocksdb::Status s = b.Put(Key('s', e.id), EncodeSummary(e));
    if (s.ok()) s = b.Put(Key('l', e.id), e.log);
    if (s.ok()) s = b.Put(WorkflowKey(e.workflow, e.id), {});
    if (s.ok()) s = b.Put(StatusKey(e.status, e.id), {});
    if (s.ok()) s = b.Put(WorkflowStatusKey(e.workflow, e.status, e.id), {});
    if (s.ok()) s = b.Put(FinishedKey(e.finished_ms, e.id), {});
    if (s.ok() && !e.key.empty()) s = b.Put(IdemKey(e.workflow, e.key), e.id);
    if (!s.ok()) return FromRocks(s, "write");
  }
  rocksdb::WriteOptions w;
  w.sync = sync_;
  return FromRocks(db_->Write(w, &b), "write");
}

Result<std::optional<Entry>> HistoryDb::Get(std::string_view id) {
  auto e = Summary(id);
  if (!e || !*e) return e;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key('l', id), &(*e)->log);
  if (s.IsNotFound()) return Error{Errc::kCorrupt, "history: a run without its log"};
  if (!s.ok()) return FromRocks(s, "read").error();
  return e;
}

Result<std::optional<std::string>> HistoryDb::FindKey(std::string_view workflow, std::string_view key) {
  std::string id;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), IdemKey(workflow, key), &id);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read").error();
  return std::optional<std::string>(std::move(id));
}

Result<std::vector<Entry>> HistoryDb::List(const Query& q) {
  std::string prefix;
  if (!q.workflow.empty() && q.status) {
    prefix = "x";
    PutName(prefix, q.workflow);
    prefix.push_back(static_cast<char>(*q.status));
  } else if (!q.workflow.empty()) {
    prefix = "w";
    PutName(prefix, q.workflow);
  } else if (q.status) {
    prefix = "t";
    prefix.push_back(static_cast<char>(*q.status));
  } else {
    prefix = "s";
  }
  // Newest first: seek to the last key below the cursor and walk back.
  std::string start = prefix;
  if (q.before.empty()) {
    start.append(kIdBytes, '\xff');
    start.push_back('\xff');
  } else {
    start.append(q.before);
  }
  rocksdb::ReadOptions ro;
  std::string lower = prefix;
  rocksdb::Slice lower_slice(lower);
  ro.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  std::vector<Entry> out;
  it->SeekForPrev(start);
  // SeekForPrev lands on `before` itself when it exists: the cursor is exclusive.
  if (it->Valid() && !q.before.empty() && it->key() == rocksdb::Slice(start)) it->Prev();
  for (; it->Valid() && out.size() < q.limit; it->Prev()) {
    rocksdb::Slice k = it->key();
    if (!k.starts_with(prefix) || k.size() != prefix.size() + kIdBytes) break;
    std::string_view id(k.data() + prefix.size(), kIdBytes);
    Entry e;
    e.id.assign(id);
    if (prefix[0] == 's') {
      if (Status st = DecodeSummary(std::string_view(it->value().data(), it->value().size()), e); !st)
        return st.error();
    } else {
      auto s = Summary(id);
      if (!s) return s.error();
      if (!*s) continue;  // an index key whose run went meanwhile
      e = std::move(**s);
    }
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
  if (Status st = DeleteRun(&b, **old); !st) return st;
  rocksdb::WriteOptions w;
  w.sync = sync_;
  return FromRocks(db_->Write(w, &b), "remove");
}

Result<size_t> HistoryDb::Expire(int64_t cutoff_ms, size_t max) {
  std::lock_guard lock(g_write_mu);
  std::string upper = "f";
  PutU64(upper, static_cast<uint64_t>(std::max<int64_t>(cutoff_ms, 0)));
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  rocksdb::WriteBatch b;
  size_t n = 0;
  for (it->Seek("f"); it->Valid() && n < max; it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 1 + 8 + kIdBytes) continue;
    std::string_view id(k.data() + 9, kIdBytes);
    auto e = Summary(id);
    if (!e) return e.error();
    if (!*e) {
      if (auto s = b.Delete(k); !s.ok()) return FromRocks(s, "expire").error();
      continue;
    }
    if (Status st = DeleteRun(&b, **e); !st) return st.error();
    ++n;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "expire").error();
  if (b.Count() == 0) return size_t{0};
  rocksdb::WriteOptions w;
  w.sync = sync_;
  if (Status st = FromRocks(db_->Write(w, &b), "expire"); !st) return st.error();
  return n;
}

Status HistoryDb::Scan(int64_t before_ms, const std::function<Status(const Entry&)>& fn) {
  std::string upper = "f";
  PutU64(upper, static_cast<uint64_t>(std::max<int64_t>(before_ms, 0)));
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  ro.fill_cache = false;  // a bulk read must not evict what requests use
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek("f"); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 1 + 8 + kIdBytes) continue;
    auto e = Get(std::string_view(k.data() + 9, kIdBytes));
    if (!e) return e.error();
    if (!*e) continue;
    if (Status st = fn(**e); !st) return st;
  }
  return FromRocks(it->status(), "scan");
}

uint64_t HistoryDb::DiskBytes() {
  uint64_t sst = 0;
  db_->GetIntProperty("rocksdb.total-sst-files-size", &sst);
  return sst;
}

}  // namespace rf::store::history
