#include "store/embedded/journal.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "reactor/task.h"
#include "reactor/test_reactor.h"
#include "test_support.h"
#include "store/embedded/format.h"

namespace fs = std::filesystem;
using rf::Status;
using rf::reactor::Reactor;
using rf::reactor::Task;
using namespace rf::store::embedded;

namespace {

struct TempDir : rf::test::TempDir {
  TempDir() : rf::test::TempDir("rf-journal") {}
};

struct Rec {
  uint64_t lsn;
  uint8_t type;
  std::string payload;
};

struct Collect : ReplaySink {
  std::optional<std::pair<uint64_t, std::string>> snapshot;
  std::vector<Rec> records;
  Status OnSnapshot(uint64_t lsn, std::string_view bytes) override {
    snapshot.emplace(lsn, std::string(bytes));
    return {};
  }
  Status OnRecord(uint64_t lsn, uint8_t type, std::string_view payload) override {
    records.push_back({lsn, type, std::string(payload)});
    return {};
  }
};

// What every record with a given LSN holds, so replay can be checked against it.
std::string PayloadFor(uint64_t lsn) {
  return "record-" + std::to_string(lsn) + std::string(lsn % 13, '.');
}
uint8_t TypeFor(uint64_t lsn) { return static_cast<uint8_t>(lsn % 200); }

// State shared with the reactor bodies, which cannot capture.
struct Ctx {
  JournalOptions opts;
  Collect sink;
  Status open_status;
  RecoveryReport report;
  JournalStats* stats_out = nullptr;
  uint64_t batches = 0;
  uint64_t fsyncs = 0;
  uint64_t rotations = 0;
  uint64_t deleted = 0;
  size_t max_segments = 0;
  size_t max_files = 0;
  uint64_t last_snapshot = 0;
  uint64_t last_lsn = 0;
};
Ctx* g = nullptr;

JournalOptions Options(const std::string& dir) {
  JournalOptions o;
  o.dir = dir + "/shard-0";
  return o;
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename();
    if (ParseSegmentFileName(n)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

size_t FileCount(const std::string& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c ^= 0x20;
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

// Opens, appends `batches` batches of `per_batch` records each committed, closes.
Task<void> WriteBatches(JournalOptions opts, int batches, int per_batch) {
  Collect ignore;
  auto j = co_await Journal::Open(opts, ignore);
  REQUIRE(j.has_value());
  for (int b = 0; b < batches; ++b) {
    for (int r = 0; r < per_batch; ++r) {
      uint64_t lsn = (*j)->last_lsn() + 1;
      CHECK((*j)->Append(TypeFor(lsn), PayloadFor(lsn)) == lsn);
    }
    Status st = co_await (*j)->Commit();
    CHECK(st.has_value());
  }
  g->batches = (*j)->stats().batches.Get();
  g->fsyncs = (*j)->stats().fsync_latency.Count();
  g->rotations = (*j)->stats().rotations.Get();
  g->last_lsn = (*j)->last_lsn();
  CHECK((*j)->durable_lsn() == (*j)->last_lsn());
  CHECK((co_await (*j)->Close()).has_value());
}

// Opens into g->sink, keeps the outcome in g, closes.
Task<void> Reopen(JournalOptions opts) {
  g->sink = Collect{};
  auto j = co_await Journal::Open(opts, g->sink);
  if (!j) {
    g->open_status = j.error();
    co_return;
  }
  g->open_status = Status{};
  g->report = (*j)->recovery();
  CHECK((co_await (*j)->Close()).has_value());
}

void CheckRecords(const std::vector<Rec>& recs, uint64_t first, uint64_t last) {
  REQUIRE(recs.size() == last - first + 1);
  for (uint64_t lsn = first; lsn <= last; ++lsn) {
    const Rec& r = recs[lsn - first];
    CHECK(r.lsn == lsn);
    CHECK(r.type == TypeFor(lsn));
    CHECK(r.payload == PayloadFor(lsn));
  }
}

Task<void> AppendAndCommit(Journal* j, int i, int* ok) {
  uint64_t lsn = j->Append(1, "concurrent-" + std::to_string(i));
  Status st = co_await j->Commit();  // suspends
  if (st && j->durable_lsn() >= lsn) ++*ok;
}

}  // namespace

TEST_SUITE("store.journal") {
  TEST_CASE("committed records replay in LSN order and later appends continue the sequence" *
            doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 3, 5); });
    CHECK(ctx.batches == 3);
    CHECK(ctx.fsyncs == 3);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    CHECK_FALSE(ctx.sink.snapshot.has_value());
    CheckRecords(ctx.sink.records, 1, 15);
    CHECK(ctx.report.next_lsn == 16);
    CHECK(ctx.report.torn_bytes == 0);

    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 2, 2); });
    CHECK(ctx.last_lsn == 19);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    CheckRecords(ctx.sink.records, 1, 19);
    CHECK(SegmentFiles(ctx.opts.dir).size() == 1);  // the last segment is reused
  }

  TEST_CASE("appenders committing in the same tick share one write and one fdatasync" *
            doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      Collect ignore;
      auto j = co_await Journal::Open(g->opts, ignore);
      REQUIRE(j.has_value());
      int ok = 0;
      rf::reactor::TaskGroup group;
      for (int i = 0; i < 100; ++i) rf::reactor::Spawn(AppendAndCommit(j->get(), i, &ok), &group);
      co_await group.Wait();
      CHECK(ok == 100);
      const JournalStats& s = (*j)->stats();
      CHECK(s.batches.Get() == 1);
      CHECK(s.records.Get() == 100);
      CHECK(s.fsync_latency.Count() == 1);
      CHECK(s.batch_records.Sum() == 100);
      // Nothing new appended: Commit returns without another batch.
      CHECK((co_await (*j)->Commit()).has_value());
      CHECK(s.batches.Get() == 1);
      CHECK((co_await (*j)->Close()).has_value());
    });
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    REQUIRE(ctx.sink.records.size() == 100);
    CHECK(ctx.sink.records.back().lsn == 100);
  }

  TEST_CASE("appenders arriving while a batch is on disk share the next batch" *
            doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      Collect ignore;
      auto j = co_await Journal::Open(g->opts, ignore);
      REQUIRE(j.has_value());
      int ok = 0;
      rf::reactor::TaskGroup group;
      for (int i = 0; i < 10; ++i) rf::reactor::Spawn(AppendAndCommit(j->get(), i, &ok), &group);
      co_await rf::reactor::Yield{};  // the first ten append and commit
      co_await rf::reactor::Yield{};  // the committer takes their batch to the kernel
      CHECK((*j)->buffered_bytes() == 0);
      for (int i = 10; i < 60; ++i) rf::reactor::Spawn(AppendAndCommit(j->get(), i, &ok), &group);
      co_await group.Wait();
      CHECK(ok == 60);
      const JournalStats& s = (*j)->stats();
      CHECK(s.batches.Get() == 2);
      CHECK(s.batch_records.BucketCount(4) == 1);  // 10 records: le 16
      CHECK(s.batch_records.BucketCount(6) == 1);  // 50 records: le 64
      CHECK((co_await (*j)->Close()).has_value());
    });
  }

  TEST_CASE("an idle journal may be dropped without Close" * doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      Collect ignore;
      auto j = co_await Journal::Open(g->opts, ignore);
      REQUIRE(j.has_value());
      (*j)->Append(1, "kept");
      CHECK((co_await (*j)->Commit()).has_value());
      j->reset();  // right after the last commit: the committer is parked, not queued
    });
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    REQUIRE(ctx.sink.records.size() == 1);
    CHECK(ctx.sink.records[0].payload == "kept");
  }

  TEST_CASE("a record cut short at the end of the last segment is a torn tail and is cut away" *
            doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 3, 2); });
    const std::string seg = SegmentFiles(ctx.opts.dir).at(0);
    const auto good_size = fs::file_size(seg);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 1, 3); });
    fs::resize_file(seg, fs::file_size(seg) - 5);  // mid-way through the last record

    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    CheckRecords(ctx.sink.records, 1, 6);  // the torn batch is gone whole
    CHECK(ctx.report.torn_bytes > 0);
    CHECK(ctx.report.torn_records == 2);
    CHECK(fs::file_size(seg) == good_size);

    // Writing resumes at the cut with the next LSN, and the result replays cleanly.
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 1, 1); });
    CHECK(ctx.last_lsn == 7);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    CheckRecords(ctx.sink.records, 1, 7);
    CHECK(ctx.report.torn_bytes == 0);
  }

  TEST_CASE("a flipped byte in the last record is a torn tail and is cut away" *
            doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 4, 1); });
    const std::string seg = SegmentFiles(ctx.opts.dir).at(0);
    const auto size = fs::file_size(seg);
    FlipByte(seg, size - 2);

    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    CheckRecords(ctx.sink.records, 1, 3);
    CHECK(ctx.report.next_lsn == 4);
    CHECK(fs::file_size(seg) == size - (kFrameBytes + kRecordHeaderBytes + PayloadFor(4).size()));
  }

  TEST_CASE("a flipped byte in an early record with valid records after it stops Open" *
            doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 4, 1); });
    const std::string seg = SegmentFiles(ctx.opts.dir).at(0);
    const auto size = fs::file_size(seg);
    const uint64_t second_record = 2 * kFrameBytes + kRecordHeaderBytes + PayloadFor(1).size();
    FlipByte(seg, second_record + kRecordHeaderBytes + 1);

    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE_FALSE(ctx.open_status.has_value());
    CHECK(ctx.open_status.error().code == rf::Errc::kCorrupt);
    const std::string& why = ctx.open_status.error().context;
    INFO(why);
    CHECK(why.find(seg + ": offset " + std::to_string(second_record)) != std::string::npos);
    CHECK(fs::file_size(seg) == size);  // nothing was cut
  }

  TEST_CASE("batches roll over to new segments and replay spans them" * doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    ctx.opts.segment_bytes = 256;
    rf::test::RunOnReactor(1,
                           [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 20, 3); });
    auto segs = SegmentFiles(ctx.opts.dir);
    CHECK(segs.size() >= 5);
    CHECK(ctx.rotations == segs.size() - 1);
    // Each file is named after its first record, and a batch never spans two files.
    uint64_t expect = 1;
    for (const std::string& s : segs) {
      CHECK(ParseSegmentFileName(fs::path(s).filename().string()) == expect);
      std::ifstream in(s, std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      RecordView first;
      REQUIRE(ReadRecord(data, 0, first) == RecordCheck::kOk);
      auto frame = ReadFrame(first);
      REQUIRE(frame.has_value());
      CHECK(frame->first_lsn == expect);
      size_t off = 0;
      uint64_t count = 0;
      while (off < data.size()) {
        RecordView rec;
        REQUIRE(ReadRecord(data, off, rec) == RecordCheck::kOk);
        if (rec.type == kBatchFrameType) count += ReadFrame(rec)->record_count;
        off += rec.size;
      }
      expect += count;
    }
    CHECK(expect == 61);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    CheckRecords(ctx.sink.records, 1, 60);
    CHECK(ctx.report.segments_read == segs.size());
  }

  TEST_CASE("damage in a segment that is not the newest stops Open" * doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    ctx.opts.segment_bytes = 128;
    rf::test::RunOnReactor(1,
                           [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 10, 1); });
    auto segs = SegmentFiles(ctx.opts.dir);
    REQUIRE(segs.size() >= 3);
    FlipByte(segs[0], fs::file_size(segs[0]) - 1);  // its tail, but it is not the last file
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE_FALSE(ctx.open_status.has_value());
    CHECK(ctx.open_status.error().code == rf::Errc::kCorrupt);
    CHECK(ctx.open_status.error().context.find(segs[0]) != std::string::npos);
  }

  TEST_CASE("a missing segment in the middle stops Open naming the missing LSNs" *
            doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    ctx.opts.segment_bytes = 128;
    rf::test::RunOnReactor(1,
                           [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 10, 1); });
    auto segs = SegmentFiles(ctx.opts.dir);
    REQUIRE(segs.size() >= 3);
    const uint64_t gone_first = *ParseSegmentFileName(fs::path(segs[1]).filename().string());
    const uint64_t next_first = *ParseSegmentFileName(fs::path(segs[2]).filename().string());
    fs::remove(segs[1]);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE_FALSE(ctx.open_status.has_value());
    CHECK(ctx.open_status.error().code == rf::Errc::kCorrupt);
    const std::string& why = ctx.open_status.error().context;
    INFO(why);
    CHECK(why.find("records " + std::to_string(gone_first) + ".." + std::to_string(next_first - 1) +
                   " are missing") != std::string::npos);
  }

  TEST_CASE("snapshots replace the records they cover and keep disk use bounded" *
            doctest::timeout(60)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    ctx.opts.segment_bytes = 1024;
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      Collect ignore;
      auto j = co_await Journal::Open(g->opts, ignore);
      REQUIRE(j.has_value());
      for (int b = 0; b < 400; ++b) {
        for (int r = 0; r < 3; ++r) {
          uint64_t lsn = (*j)->last_lsn() + 1;
          (*j)->Append(TypeFor(lsn), PayloadFor(lsn));
        }
        REQUIRE((co_await (*j)->Commit()).has_value());
        if (b % 40 == 39) {
          uint64_t upto = (*j)->last_lsn();
          REQUIRE(
              (co_await (*j)->WriteSnapshot(upto, "state@" + std::to_string(upto))).has_value());
          g->last_snapshot = upto;
        }
        g->max_segments = std::max(g->max_segments, (*j)->segment_count());
        g->max_files = std::max(g->max_files, FileCount(g->opts.dir));
      }
      // A few records after the last snapshot, for replay to deliver.
      for (int r = 0; r < 4; ++r) {
        uint64_t lsn = (*j)->last_lsn() + 1;
        (*j)->Append(TypeFor(lsn), PayloadFor(lsn));
      }
      g->last_lsn = (*j)->last_lsn();
      g->rotations = (*j)->stats().rotations.Get();
      g->deleted = (*j)->stats().segments_deleted.Get();
      CHECK((*j)->snapshot_lsn() == g->last_snapshot);
      CHECK((co_await (*j)->Close()).has_value());
    });
    CHECK(ctx.rotations > 20);
    CHECK(ctx.deleted >= ctx.rotations - 1);
    CHECK(ctx.max_segments <= 6);
    CHECK(ctx.max_files <= 7);  // segments + one snapshot
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    REQUIRE(ctx.sink.snapshot.has_value());
    CHECK(ctx.sink.snapshot->first == ctx.last_snapshot);
    CHECK(ctx.sink.snapshot->second == "state@" + std::to_string(ctx.last_snapshot));
    CheckRecords(ctx.sink.records, ctx.last_snapshot + 1, ctx.last_lsn);
    CHECK(ctx.report.snapshot_lsn == ctx.last_snapshot);
  }

  TEST_CASE("a corrupt snapshot whose records were deleted stops Open" * doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    ctx.opts.segment_bytes = 128;
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      Collect ignore;
      auto j = co_await Journal::Open(g->opts, ignore);
      REQUIRE(j.has_value());
      for (int b = 0; b < 10; ++b) {
        (*j)->Append(1, PayloadFor(b));
        REQUIRE((co_await (*j)->Commit()).has_value());
      }
      REQUIRE((co_await (*j)->WriteSnapshot(8, "state")).has_value());
      CHECK((co_await (*j)->Close()).has_value());
    });
    const std::string snap = ctx.opts.dir + "/" + SnapshotFileName(8);
    REQUIRE(fs::exists(snap));
    FlipByte(snap, fs::file_size(snap) - 1);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE_FALSE(ctx.open_status.has_value());
    CHECK(ctx.open_status.error().code == rf::Errc::kCorrupt);
    const std::string& why = ctx.open_status.error().context;
    INFO(why);
    CHECK(why.find("are missing") != std::string::npos);
    CHECK(why.find(SnapshotFileName(8) + " is invalid") != std::string::npos);
  }

  TEST_CASE("WriteSnapshot refuses LSNs it cannot cover" * doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      Collect ignore;
      auto j = co_await Journal::Open(g->opts, ignore);
      REQUIRE(j.has_value());
      (*j)->Append(1, "a");
      (*j)->Append(1, "b");
      auto beyond = co_await (*j)->WriteSnapshot(3, "x");
      CHECK(beyond.error().code == rf::Errc::kInvalidArgument);
      // Not yet committed: the snapshot waits for LSN 2 to be durable first.
      CHECK((co_await (*j)->WriteSnapshot(2, "x")).has_value());
      CHECK((*j)->durable_lsn() == 2);
      auto again = co_await (*j)->WriteSnapshot(2, "y");
      CHECK(again.error().code == rf::Errc::kInvalidArgument);
      CHECK((co_await (*j)->Close()).has_value());
    });
  }

  TEST_CASE("with fsync off every record is still written" * doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    ctx.opts.fsync = false;
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 5, 4); });
    CHECK(ctx.batches == 5);
    CHECK(ctx.fsyncs == 0);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    CheckRecords(ctx.sink.records, 1, 20);
  }

  TEST_CASE("records beyond max_batch_bytes go out in several batches" * doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    ctx.opts.max_batch_bytes = 100;
    rf::test::RunOnReactor(1,
                           [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 1, 12); });
    CHECK(ctx.batches > 2);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    CheckRecords(ctx.sink.records, 1, 12);
  }

  TEST_CASE("a failed write poisons the journal and replay keeps what was acknowledged" *
            doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      Collect ignore;
      auto j = co_await Journal::Open(g->opts, ignore);
      REQUIRE(j.has_value());
      // Writes past RLIMIT_FSIZE fail with EFBIG (after a partial write) instead of a signal.
      rlimit old_limit;
      REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
      auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
      rlimit small = {2000, old_limit.rlim_max};
      REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
      Status st;
      uint64_t acked = 0;
      for (int i = 0; i < 100 && st; ++i) {
        uint64_t lsn = (*j)->Append(TypeFor(i + 1), std::string(100, 'f'));
        st = co_await (*j)->Commit();
        if (st) acked = lsn;
      }
      ::setrlimit(RLIMIT_FSIZE, &old_limit);
      ::signal(SIGXFSZ, old_handler);
      REQUIRE_FALSE(st.has_value());
      CHECK(st.error().code == rf::Errc::kIo);
      CHECK((*j)->failed());
      CHECK((*j)->durable_lsn() == acked);
      // Poisoned for good: later records are dropped and every wait reports the error.
      (*j)->Append(1, "after");
      CHECK((*j)->buffered_bytes() == 0);
      CHECK_FALSE((co_await (*j)->Commit()).has_value());
      CHECK_FALSE((co_await (*j)->WriteSnapshot(acked, "s")).has_value());
      CHECK_FALSE((co_await (*j)->Close()).has_value());
      g->last_lsn = acked;
    });
    REQUIRE(ctx.last_lsn > 0);
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await Reopen(g->opts); });
    REQUIRE(ctx.open_status.has_value());
    CHECK(ctx.sink.records.size() == ctx.last_lsn);
    CHECK(ctx.report.torn_bytes > 0);  // the partial batch is cut
  }

  TEST_CASE("an error from the sink stops Open with that error" * doctest::timeout(30)) {
    TempDir tmp;
    Ctx ctx;
    g = &ctx;
    ctx.opts = Options(tmp.path());
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteBatches(g->opts, 1, 2); });
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      struct Refuse : ReplaySink {
        Status OnSnapshot(uint64_t, std::string_view) override { return {}; }
        Status OnRecord(uint64_t, uint8_t, std::string_view) override {
          return rf::Error{rf::Errc::kInvalidArgument, "unknown record"};
        }
      } sink;
      auto j = co_await Journal::Open(g->opts, sink);
      REQUIRE_FALSE(j.has_value());
      CHECK(j.error().context == "unknown record");
    });
  }
}
