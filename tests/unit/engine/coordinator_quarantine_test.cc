// Journals damaged on disk behind the journal layer's back (the CRCs are fixed up): a run that
// cannot be replayed is quarantined as failed at start, and the other runs read back unchanged.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator_fixture.h"
#include "json/value.h"
#include "reactor/shard.h"
#include "store/embedded/crc32c.h"
#include "store/embedded/format.h"
#include "store/embedded/journal.h"
#include "test_support.h"

namespace rf::engine::test {

namespace fs = std::filesystem;

namespace {

// Rewrites the `nth` (from 0) record in shard `shard`'s journal whose payload contains `find`:
// its first `find` becomes `replace` (the same length), and the record's CRC is fixed, so the
// journal layer accepts it and only the engine's decoder sees the damage.
bool RewriteRecord(const std::string& data_dir, unsigned shard, std::string_view find, size_t nth,
                   std::string_view replace) {
  namespace emb = rf::store::embedded;
  REQUIRE(find.size() == replace.size());
  std::vector<std::string> segments;
  for (const auto& f : fs::directory_iterator(emb::JournalDir(data_dir, shard)))
    if (emb::ParseSegmentFileName(f.path().filename().string())) segments.push_back(f.path());
  std::sort(segments.begin(), segments.end());
  size_t seen = 0;
  for (const std::string& path : segments) {
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    emb::RecordView rec;
    for (size_t off = 0; emb::ReadRecord(data, off, rec) == emb::RecordCheck::kOk;
         off += rec.size) {
      const size_t at = rec.payload.find(find);
      if (rec.type == emb::kBatchFrameType || at == std::string_view::npos || seen++ < nth)
        continue;
      char* payload = data.data() + off + emb::kRecordHeaderBytes;
      std::memcpy(payload + at, replace.data(), replace.size());
      const char type = static_cast<char>(rec.type);
      emb::PutU32(data.data() + off + 4,
                  emb::Crc32cExtend(emb::Crc32c(std::string_view(&type, 1)), rec.payload));
      std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
      return true;
    }
  }
  return false;
}

RunQuery DeadLetterQuery() {
  RunQuery q;
  q.dead_letter = true;
  return q;
}
const RunQuery kDeadLetter = DeadLetterQuery();

Task<Value> DeadLetter(Engine* e) {
  std::vector<Value> runs = co_await List(e, &kDeadLetter);  // suspends
  co_return Value(rf::json::Array(runs.begin(), runs.end()));
}

// Two chain runs, one carrying the marker POISON through every record that holds its input.
Task<void> TwoRunsBody(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  for (const char* input : {R"({"m":"POISON"})", R"({"m":"fine"})"}) {
    Value run = co_await MustStart(e, "chain", J(input), kWait);
    CHECK(Str(run, "/status") == "succeeded");
    g->ids.push_back(Str(run, "/id"));
    g->jsons.push_back(co_await GetText(e, IdOf(run)));
  }
}

// After the poisoned run's 3rd record (step a's output) was made undecodable.
Task<void> QuarantinedBody(Engine* e) {
  CO_REQUIRE(g->ids.size() == 2);
  RunId bad = *rf::engine::ParseRunId(g->ids[0]);
  Value run = J(co_await GetText(e, bad));
  INFO(S(run));
  CHECK(Str(run, "/status") == "failed");
  CHECK(Str(run, "/error/message").starts_with("quarantined: record 3 cannot be decoded: "));
  CHECK(Str(run, "/workflow") == "chain");
  CHECK(At(run, "/input") == J(R"({"m":"POISON"})"));  // what replay applied before the damage
  CHECK(Str(StepOf(run, "a"), "/status") == "cancelled");
  // The other run reads back exactly as before.
  CHECK(co_await GetText(e, *rf::engine::ParseRunId(g->ids[1])) == g->jsons[1]);
  Value dead = co_await DeadLetter(e);
  CO_REQUIRE(Size(dead, "") == 1);
  CHECK(Str(dead, "/0/id") == g->ids[0]);
  CHECK(Str(dead, "/0/error") == Str(run, "/error/message"));
  CHECK(Stats0(e).runs_quarantined.Get() == 1);
  CHECK(Stats0(e).records_ignored.Get() == 5);  // records 4..8 of the run
  CHECK(Stats0(e).records_unreadable.Get() == 0);
  // A quarantined run does not change.
  CheckError(co_await Retry(e, bad), Errc::kConflict);
  CheckError(co_await Cancel(e, bad), Errc::kConflict);
  // Its event stream is what replay applied, then the failure.
  auto sub = std::make_shared<Subscriber>(rf::reactor::Shard::Current().id(), 1 << 20);
  Status st = co_await Subscribe(e, bad, 0, sub);
  CO_REQUIRE(st.has_value());
  std::vector<Frame> frames = Frames(co_await Collect(sub, 3, true));
  CHECK(sub->ended());
  CHECK(Types(frames) == std::vector<std::string>{"run.created", "step.started", "run.failed"});
  if (frames.size() == 3) CHECK(Str(frames[2].data, "/data/error") == Str(run, "/error/message"));
  g->jsons.push_back(S(run));
}

// A later start reaches the same verdict, also from a snapshot written after the quarantine.
Task<void> QuarantinedAgainBody(Engine* e) {
  CO_REQUIRE(g->jsons.size() == 3);
  CHECK(co_await GetText(e, *rf::engine::ParseRunId(g->ids[0])) == g->jsons[2]);
  CHECK(co_await GetText(e, *rf::engine::ParseRunId(g->ids[1])) == g->jsons[1]);
  CHECK(Stats0(e).runs_quarantined.Get() == 1);
  // More work, so that a snapshot (tiny threshold) rewrites every log, the damaged one included.
  Value more = co_await MustStart(e, "chain", J(R"({"m":"later"})"), kWait);
  CHECK(Str(more, "/status") == "succeeded");
  g->ids.push_back(Str(more, "/id"));
  g->jsons.push_back(co_await GetText(e, IdOf(more)));
  const Nanos until = MonoNow() + kWait;
  while (!HasSnapshot(rf::store::embedded::JournalDir(g->dir.path(), 0)) && MonoNow() < until)
    co_await Sleep(2 * kMillis);  // suspends
}

Task<void> MissingVersionBody(Engine* e) {
  CO_REQUIRE(g->ids.size() == 2);
  for (const std::string& id : g->ids) {
    Value run = J(co_await GetText(e, *rf::engine::ParseRunId(id)));
    INFO(S(run));
    CHECK(Str(run, "/status") == "failed");
    CHECK(Str(run, "/workflow") == "chain");
    CHECK(Str(run, "/error/message") ==
          "quarantined: workflow 'chain' version 1 is not in the definitions log");
  }
  CHECK(Stats0(e).runs_quarantined.Get() == 2);
  Value dead = co_await DeadLetter(e);
  CHECK(Size(dead, "") == 2);
}

Task<void> NoRunIdBody(Engine* e) {
  CO_REQUIRE(g->ids.size() == 2);
  Value run = J(co_await GetText(e, *rf::engine::ParseRunId(g->ids[0])));
  INFO(S(run));
  CHECK(Str(run, "/status") == "failed");
  CHECK(Str(run, "/workflow") == "(unknown)");
  CHECK(Str(run, "/error/message") == "quarantined: record 1 comes before the run's creation");
  CHECK(Stats0(e).records_unreadable.Get() == 1);  // the creation, whose run id is unreadable
  CHECK(Stats0(e).runs_quarantined.Get() == 1);
  CHECK(Stats0(e).records_ignored.Get() == 6);
  CHECK(co_await GetText(e, *rf::engine::ParseRunId(g->ids[1])) == g->jsons[1]);
}

}  // namespace

TEST_SUITE("engine.coordinator") {
  TEST_CASE("a run with an undecodable record is quarantined at start, the others read back" *
            doctest::timeout(30)) {
    Ctx c(1);
    // Finished runs whose records are still in the journal: a crash came before their move
    // into history (here: no history store at all).
    c.options.history = false;
    Phase(c, &TwoRunsBody);
    // The 2nd record holding the marker is the run's 3rd (step a succeeded): invalid UTF-8.
    REQUIRE(RewriteRecord(c.dir.path(), 0, "POISON", 1, "POIS\xff\xfe"));
    Phase(c, &QuarantinedBody);
    c.options.snapshot_bytes = 1;
    Phase(c, &QuarantinedAgainBody);
    REQUIRE(HasSnapshot(rf::store::embedded::JournalDir(c.dir.path(), 0)));
    // From the snapshot: the same verdict, the same runs.
    c.jsons.resize(3);
    c.ids.resize(2);
    Phase(c, &QuarantinedAgainBody);
  }

  TEST_CASE("runs whose workflow version is missing from the definitions log are quarantined" *
            doctest::timeout(30)) {
    Ctx c(1);
    // Finished runs whose records are still in the journal: a crash came before their move
    // into history (here: no history store at all).
    c.options.history = false;
    Phase(c, &TwoRunsBody);
    fs::remove_all(c.dir.path() + "/definitions");
    Phase(c, &MissingVersionBody);
  }

  TEST_CASE("an undecodable record that names no run is counted and skipped" *
            doctest::timeout(30)) {
    Ctx c(1);
    // Finished runs whose records are still in the journal: a crash came before their move
    // into history (here: no history store at all).
    c.options.history = false;
    Phase(c, &TwoRunsBody);
    // The poisoned run's creation loses its run id; its later records quarantine it.
    REQUIRE(RewriteRecord(c.dir.path(), 0, "\"run\":\"", 0, "\"rux\":\""));
    Phase(c, &NoRunIdBody);
  }
}

}  // namespace rf::engine::test
