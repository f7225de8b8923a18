#include "store/history/history_db.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "test_support.h"

using rf::store::history::Entry;
using rf::store::history::HistoryDb;
using rf::store::history::Options;
using rf::store::history::Query;
using rf::store::history::Tier;

namespace {

// Ids sort like run ids: the first bytes are the creation time.
std::string Id(int n) {
  std::string id(16, '\0');
  id[4] = static_cast<char>(n >> 8);
  id[5] = static_cast<char>(n & 0xff);
  id[15] = 'x';
  return id;
}

Entry Run(int n, std::string wf, uint8_t status, int64_t finished_ms, std::string key = "") {
  Entry e;
  e.id = Id(n);
  e.workflow = std::move(wf);
  e.version = 1;
  e.status = status;
  e.created_ms = finished_ms - 5;
  e.finished_ms = finished_ms;
  e.key = std::move(key);
  e.error = status == 4 ? "step 'x' failed" : "";
  e.failed_step = status == 4 ? "x" : "";
  e.log = "log of " + std::to_string(n);
  return e;
}

std::unique_ptr<HistoryDb> OpenIn(const rf::test::TempDir& dir, bool page_cache = true) {
  Options o;
  o.dir = dir.path() + "/h";
  o.sync = false;
  o.inline_page_cache = page_cache;
  auto db = HistoryDb::Open(o);
  REQUIRE(db.has_value());
  return std::move(*db);
}

std::vector<int> Ids(const std::vector<Entry>& es) {
  std::vector<int> out;
  for (const Entry& e : es) out.push_back(static_cast<uint8_t>(e.id[4]) << 8 | static_cast<uint8_t>(e.id[5]));
  return out;
}

// Bytes LZ4 cannot shrink: a log this long fills a table block of its own.
std::string Incompressible(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  for (char& c : out) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<char>('!' + (seed >> 24) % 90);
  }
  return out;
}

// Drops the table files of `dir` from the page cache; false when the kernel kept a page.
bool DropPageCache(const std::string& dir) {
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() != ".sst") continue;
    int fd = ::open(f.path().c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    const size_t size = std::filesystem::file_size(f.path());
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(map != MAP_FAILED);
    std::vector<unsigned char> resident((size + 4095) / 4096);
    const bool looked = ::mincore(map, size, resident.data()) == 0;
    ::munmap(map, size);
    ::close(fd);
    if (!looked || std::any_of(resident.begin(), resident.end(), [](unsigned char p) { return p & 1; }))
      return false;
  }
  return true;
}

}  // namespace

TEST_SUITE("store.history_db") {
  TEST_CASE("a summary survives encoding and a truncated one is refused") {
    Entry e = Run(7, "wf", 4, 1000, "key-7");
    Entry back;
    REQUIRE(HistoryDb::DecodeSummary(HistoryDb::EncodeSummary(e), back).has_value());
    CHECK(back.workflow == "wf");
    CHECK(back.status == 4);
    CHECK(back.finished_ms == 1000);
    CHECK(back.key == "key-7");
    CHECK(back.failed_step == "x");
    std::string bytes = HistoryDb::EncodeSummary(e);
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      Entry part;
      CHECK_FALSE(HistoryDb::DecodeSummary(std::string_view(bytes).substr(0, cut), part).has_value());
    }
  }

  TEST_CASE("runs read back with their log, keys find them, listings page newest first") {
    rf::test::TempDir dir;
    auto db = OpenIn(dir);
    std::vector<Entry> runs;
    for (int i = 1; i <= 30; ++i)
      runs.push_back(Run(i, i % 3 ? "a" : "b", i % 5 ? 3 : 4, 1000 + i, "k" + std::to_string(i)));
    REQUIRE(db->Write(runs).has_value());
    auto got = db->Get(Id(17));
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->log == "log of 17");
    CHECK((*got)->workflow == "a");
    auto missing = db->Get(Id(99));
    REQUIRE(missing.has_value());
    CHECK_FALSE(missing->has_value());
    auto key = db->FindKey("a", "k17");
    REQUIRE(key.has_value());
    CHECK(**key == Id(17));
    CHECK_FALSE(db->FindKey("b", "k17")->has_value());  // keys are per workflow

    // Every run, in pages of 7, without repeats: the cursor is exclusive.
    std::vector<int> seen;
    Query q;
    q.limit = 7;
    while (true) {
      auto page = db->List(q);
      REQUIRE(page.has_value());
      for (int id : Ids(*page)) seen.push_back(id);
      if (page->size() < q.limit) break;
      q.before = page->back().id;
    }
    std::vector<int> want;
    for (int i = 30; i >= 1; --i) want.push_back(i);
    CHECK(seen == want);
    CHECK(seen.size() == 30);

    Query by_wf;
    by_wf.workflow = "b";
    CHECK(Ids(*db->List(by_wf)) == std::vector<int>{30, 27, 24, 21, 18, 15, 12, 9, 6, 3});
    Query failed;
    failed.status = 4;
    CHECK(Ids(*db->List(failed)) == std::vector<int>{30, 25, 20, 15, 10, 5});
    Query both;
    both.workflow = "b";
    both.status = 4;
    CHECK(Ids(*db->List(both)) == std::vector<int>{30, 15});
    both.before = Id(30);
    CHECK(Ids(*db->List(both)) == std::vector<int>{15});
  }

  TEST_CASE("a run written again replaces its old indexes and Remove drops it everywhere") {
    rf::test::TempDir dir;
    auto db = OpenIn(dir);
    REQUIRE(db->Write({Run(1, "a", 4, 1000, "k")}).has_value());
    Query failed;
    failed.status = 4;
    CHECK(db->List(failed)->size() == 1);
    // Retried and finished again: succeeded now.
    REQUIRE(db->Write({Run(1, "a", 3, 2000, "k")}).has_value());
    CHECK(db->List(failed)->empty());
    Query ok;
    ok.status = 3;
    CHECK(db->List(ok)->size() == 1);
    CHECK(*db->Expire(1500, 100) == 0);  // its old finish time is gone from the retention index
    REQUIRE(db->Remove(Id(1)).has_value());
    CHECK_FALSE(db->Get(Id(1))->has_value());
    CHECK_FALSE(db->FindKey("a", "k")->has_value());
    CHECK(db->List(Query{})->empty());
  }

  TEST_CASE("a run created before the cutoff that finished after it survives retention") {
    rf::test::TempDir dir;
    auto db = OpenIn(dir);
    Entry late = Run(1, "a", 3, 5000);
    late.created_ms = 100;  // ran long
    REQUIRE(db->Write({late, Run(2, "a", 3, 200), Run(3, "a", 3, 300)}).has_value());
    CHECK(*db->Expire(1000, 100) == 2);
    CHECK(Ids(*db->List(Query{})) == std::vector<int>{1});
    CHECK(*db->Expire(6000, 100) == 1);
    CHECK(db->List(Query{})->empty());
  }

  TEST_CASE("retention removes runs that finished before the cutoff, oldest first, in batches") {
    rf::test::TempDir dir;
    auto db = OpenIn(dir);
    std::vector<Entry> runs;
    for (int i = 1; i <= 25; ++i) runs.push_back(Run(i, "a", 3, 1000 + i * 10, "k" + std::to_string(i)));
    REQUIRE(db->Write(runs).has_value());
    // Finished before 1000 + 205: runs 1..20.
    CHECK(*db->Expire(1205, 8) == 8);
    CHECK(*db->Expire(1205, 8) == 8);
    CHECK(*db->Expire(1205, 8) == 4);
    CHECK(*db->Expire(1205, 8) == 0);
    CHECK(Ids(*db->List(Query{})) == std::vector<int>{25, 24, 23, 22, 21});
    CHECK_FALSE(db->FindKey("a", "k3")->has_value());
    CHECK(db->FindKey("a", "k22")->has_value());
  }

  TEST_CASE("export scans runs with their logs oldest first and a reopen keeps everything") {
    rf::test::TempDir dir;
    {
      auto db = OpenIn(dir);
      REQUIRE(db->Write({Run(3, "a", 3, 1300), Run(1, "a", 3, 1100), Run(2, "b", 5, 1200)}).has_value());
    }
    auto db = OpenIn(dir);
    std::vector<std::string> logs;
    REQUIRE(db->Scan(1250, [&](const Entry& e) {
                  logs.push_back(e.log);
                  return rf::Status{};
                }).has_value());
    CHECK(logs == std::vector<std::string>{"log of 1", "log of 2"});
    CHECK(db->List(Query{})->size() == 3);
  }

  TEST_CASE("namespace totals follow writes, rewrites, removals and retention, and survive a reopen") {
    rf::test::TempDir dir;
    std::vector<std::pair<std::string, int64_t>> reported;
    Options o;
    o.dir = dir.path() + "/h";
    o.sync = false;
    o.on_bytes = [&](std::string_view ns, int64_t b) { reported.emplace_back(std::string(ns), b); };
    const int64_t log1 = static_cast<int64_t>(Run(1, "a", 3, 1000).log.size());
    {
      auto db = HistoryDb::Open(o);
      REQUIRE(db.has_value());
      CHECK(reported.empty());  // a new history: nothing to report
      REQUIRE((*db)->Write({Run(1, "a", 3, 1010), Run(2, "team/b", 3, 1020), Run(3, "team/c", 4, 1030)}).has_value());
      CHECK((*db)->NamespaceBytes("default") == log1);
      CHECK((*db)->NamespaceBytes("team") == 2 * log1);
      CHECK((*db)->NamespaceBytes("other") == 0);
      CHECK(reported.size() == 2);
      // The same run moved again after a crash (not marked as a replacement) counts once.
      Entry repeat = Run(1, "a", 3, 1010);
      repeat.prior = Entry::Prior::kMaybe;
      REQUIRE((*db)->Write({repeat}).has_value());
      CHECK((*db)->NamespaceBytes("default") == log1);
      // A run the caller knows is new is written without a look for an older copy.
      Entry fresh = Run(5, "team/e", 3, 1040);
      fresh.prior = Entry::Prior::kNone;
      REQUIRE((*db)->Write({fresh}).has_value());
      CHECK((*db)->NamespaceBytes("team") == 3 * log1);
      auto got = (*db)->Get(Id(5));
      REQUIRE(got.has_value());
      REQUIRE(got->has_value());
      CHECK((*got)->workflow == "team/e");
      REQUIRE((*db)->Remove(Id(5)).has_value());
      CHECK((*db)->NamespaceBytes("team") == 2 * log1);
      // A run written again (a retried run) counts once, with its new log.
      Entry again = Run(2, "team/b", 3, 1020);
      again.log = std::string(500, 'x');
      REQUIRE((*db)->Write({again}).has_value());
      CHECK((*db)->NamespaceBytes("team") == 500 + log1);
      CHECK(reported.back() == std::make_pair(std::string("team"), 500 + log1));
      REQUIRE((*db)->Remove(Id(3)).has_value());
      CHECK((*db)->NamespaceBytes("team") == 500);
      REQUIRE((*db)->Write({Run(4, "team/d", 3, 5000)}).has_value());
    }
    reported.clear();
    {
      auto db = HistoryDb::Open(o);  // read back, not counted again
      REQUIRE(db.has_value());
      CHECK((*db)->NamespaceBytes("default") == log1);
      CHECK((*db)->NamespaceBytes("team") == 500 + log1);
      CHECK(reported.size() == 2);
      // Retention: runs 1 and 2 finished before 2000.
      CHECK(*(*db)->Expire(2000, 100) == 2);
      CHECK((*db)->NamespaceBytes("default") == 0);
      CHECK((*db)->NamespaceBytes("team") == log1);
      CHECK(reported.back().second == log1);
      CHECK(std::find(reported.begin(), reported.end(), std::make_pair(std::string("default"), int64_t{0})) !=
            reported.end());  // a namespace emptied is reported as 0
    }
    auto db = HistoryDb::Open(o);
    REQUIRE(db.has_value());
    CHECK((*db)->NamespaceBytes("default") == 0);
    CHECK((*db)->NamespaceBytes("team") == log1);
  }

  TEST_CASE("a summary keeps its log's size, and one of the first format reads as unknown") {
    Entry e = Run(7, "wf", 3, 1000);
    Entry back;
    REQUIRE(HistoryDb::DecodeSummary(HistoryDb::EncodeSummary(e, 1234), back).has_value());
    CHECK(back.log_bytes == 1234);
    // Format 1 had no size: the same bytes without the last 8 and with version 1.
    std::string v1 = HistoryDb::EncodeSummary(e, 0);
    v1.resize(v1.size() - 8);
    v1[0] = 1;
    Entry old;
    REQUIRE(HistoryDb::DecodeSummary(v1, old).has_value());
    CHECK(old.log_bytes == -1);
    CHECK(old.workflow == "wf");
  }

  TEST_CASE("a block-cache-only read of a run on disk only says so; a full read caches it for the next") {
    // The tier where the file system cannot read without waiting (no RWF_NOWAIT).
    rf::test::TempDir dir;
    {
      auto db = OpenIn(dir, false);
      std::vector<Entry> runs;
      for (int i = 1; i <= 20; ++i) runs.push_back(Run(i, "a", i == 7 ? 4 : 3, 1000 + i, "k" + std::to_string(i)));
      REQUIRE(db->Write(runs).has_value());
    }
    // Reopened: the runs are in table files, the new block cache holds none of their data.
    auto db = OpenIn(dir, false);
    CHECK_FALSE(db->reads_page_cache());
    auto miss = db->Get(Id(5), Tier::kMemory);
    REQUIRE_FALSE(miss.has_value());
    CHECK(miss.error().code == rf::store::history::kNotInMemory);
    auto full = db->Get(Id(5));
    REQUIRE(full.has_value());
    REQUIRE(full->has_value());
    CHECK((*full)->log == "log of 5");
    auto hit = db->Get(Id(5), Tier::kMemory);  // the blocks the full read brought in
    REQUIRE(hit.has_value());
    REQUIRE(hit->has_value());
    CHECK((*hit)->log == "log of 5");
    CHECK((*hit)->workflow == "a");

    Query q;
    q.workflow = "a";
    q.limit = 5;
    auto walked = db->List(q);
    REQUIRE(walked.has_value());
    auto again = db->List(q, Tier::kMemory);
    REQUIRE(again.has_value());
    CHECK(Ids(*again) == Ids(*walked));
    CHECK(Ids(*again) == std::vector<int>{20, 19, 18, 17, 16});

    auto key = db->FindKey("a", "k9");
    REQUIRE(key.has_value());
    REQUIRE(key->has_value());
    CHECK(**key == Id(9));
    auto key_hit = db->FindKey("a", "k9", Tier::kMemory);
    REQUIRE(key_hit.has_value());
    CHECK(*key_hit == *key);

    // A run written now is in the memtable: found in memory without any read before.
    REQUIRE(db->Write({Run(40, "b", 3, 2000)}).has_value());
    auto fresh = db->Get(Id(40), Tier::kMemory);
    REQUIRE(fresh.has_value());
    REQUIRE(fresh->has_value());
    CHECK((*fresh)->log == "log of 40");
  }

  TEST_CASE("a memory-only read of a table that is not open says so instead of answering empty") {
    // More table files than the table cache holds: RocksDB 7.8 answered a kBlockCacheTier Get of
    // a table it had not opened with OK and an empty value (a run with an empty log crashed the
    // daemon after a restart of a large history).
    rf::test::TempDir dir;
    Options o;
    o.dir = dir.path() + "/h";
    o.sync = false;
    o.max_open_files = 20;  // RocksDB's minimum: 10 tables open at most
    constexpr int kRuns = 40;
    for (int i = 1; i <= kRuns; ++i) {  // each open flushes the last one's write: a table per run
      auto db = HistoryDb::Open(o);
      REQUIRE(db.has_value());
      REQUIRE((*db)->Write({Run(i, "a", i % 5 == 0 ? 4 : 3, 1000 + i, "k" + std::to_string(i))}).has_value());
    }
    auto opened = HistoryDb::Open(o);
    REQUIRE(opened.has_value());
    auto& db = *opened;
    int misses = 0;
    for (int round = 0; round < 2; ++round) {  // the second round after full reads opened tables
      for (int i = 1; i <= kRuns; ++i) {
        CAPTURE(i);
        auto r = db->Get(Id(i), Tier::kMemory);
        if (!r) {
          CHECK(r.error().code == rf::store::history::kNotInMemory);
          ++misses;
          REQUIRE(db->Get(Id(i)).has_value());
          continue;
        }
        REQUIRE(r->has_value());
        CHECK((*r)->log == "log of " + std::to_string(i));
        auto k = db->FindKey("a", "k" + std::to_string(i), Tier::kMemory);
        if (k) {
          REQUIRE(k->has_value());
          CHECK(**k == Id(i));
        } else {
          CHECK(k.error().code == rf::store::history::kNotInMemory);
        }
      }
    }
    CHECK(misses > 0);
    Query q;
    q.workflow = "a";
    q.limit = kRuns;
    auto listed = db->List(q, Tier::kMemory);
    if (listed) {
      CHECK(listed->size() == static_cast<size_t>(kRuns));
    } else {
      CHECK(listed.error().code == rf::store::history::kNotInMemory);
    }
  }

  TEST_CASE("a memory-only listing that would walk far gives the walk to a full read") {
    rf::test::TempDir dir;
    auto db = OpenIn(dir);
    std::vector<Entry> runs;
    for (int i = 1; i <= 400; ++i) runs.push_back(Run(i, "other/w", 3, 1000 + i));
    REQUIRE(db->Write(runs).has_value());
    Query q;
    q.ns = "nobody";  // no run matches: the whole history would be walked
    q.limit = 10;
    auto inline_list = db->List(q, Tier::kMemory);  // everything is in the memtable, yet bounded
    REQUIRE_FALSE(inline_list.has_value());
    CHECK(inline_list.error().code == rf::store::history::kNotInMemory);
    auto full = db->List(q);
    REQUIRE(full.has_value());
    CHECK(full->empty());
  }
  TEST_CASE("an inline read answers from the page cache and says so when it needs the disk") {
    rf::test::TempDir dir;
    {
      auto db = OpenIn(dir);
      std::vector<Entry> runs;
      for (int i = 1; i <= 20; ++i) {
        runs.push_back(Run(i, "a", 3, 1000 + i, "k" + std::to_string(i)));
        runs.back().log = Incompressible(6000, static_cast<uint32_t>(i));
      }
      REQUIRE(db->Write(runs).has_value());
    }
    auto db = OpenIn(dir);  // a new block cache: none of the logs' blocks are in it
    if (!db->reads_page_cache()) {
      MESSAGE("skipped: the file system under the test's directory does not answer RWF_NOWAIT");
      return;
    }
    // Written a moment ago: the tables' pages are in the page cache, read without a helper.
    auto cached = db->Get(Id(5), Tier::kMemory);
    REQUIRE(cached.has_value());
    REQUIRE(cached->has_value());
    CHECK((*cached)->log == Incompressible(6000, 5));
    auto key = db->FindKey("a", "k6", Tier::kMemory);
    REQUIRE(key.has_value());
    REQUIRE(key->has_value());
    CHECK(**key == Id(6));

    if (!DropPageCache(dir.path() + "/h")) {
      MESSAGE("skipped the rest: the kernel kept table pages in the page cache");
      return;
    }
    // In neither cache: the inline read says it needs the disk instead of waiting for it.
    auto miss = db->Get(Id(12), Tier::kMemory);
    REQUIRE_FALSE(miss.has_value());
    CHECK(miss.error().code == rf::store::history::kNotInMemory);
    auto full = db->Get(Id(12));
    REQUIRE(full.has_value());
    REQUIRE(full->has_value());
    CHECK((*full)->log == Incompressible(6000, 12));
    auto again = db->Get(Id(12), Tier::kMemory);  // the pages and blocks the full read brought in
    REQUIRE(again.has_value());
    REQUIRE(again->has_value());
    CHECK((*again)->log == (*full)->log);
    // Reads outside a scope are untouched: a helper's read of a dropped page still waits for it.
    DropPageCache(dir.path() + "/h");
    auto helper = db->Get(Id(17));
    REQUIRE(helper.has_value());
    REQUIRE(helper->has_value());
    CHECK((*helper)->log == Incompressible(6000, 17));
  }
}
