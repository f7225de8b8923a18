#include "store/embedded/schedule_file.h"

#include <doctest/doctest.h>

namespace rf::store::embedded {

TEST_SUITE("store.schedule_file") {
TEST_CASE("schedules round-trip through the file's text") {
  std::map<std::string, ScheduleRow> rows;
  ScheduleRow a;
  a.name = "team-a/nightly";
  a.partition = 17;
  a.spec = R"({"workflow":"w","input":{"x":"\"quoted\""},"cron":"@daily"})";
  a.paused = true;
  a.created_ms = 1;
  a.updated_ms = 2;
  a.cursor_ms = 3000;
  a.last_run = "0190a0b0-0000-7000-8000-000000000001";
  rows[a.name] = a;
  ScheduleRow b = a;
  b.name = "plain";
  b.paused = false;
  b.last_run.clear();
  rows[b.name] = b;
  auto back = ScheduleFile::Decode(ScheduleFile::Encode(rows));
  REQUIRE(back);
  REQUIRE(back->size() == 2);
  const ScheduleRow& x = back->at("team-a/nightly");
  CHECK(x.partition == 17);
  CHECK(x.spec == a.spec);
  CHECK(x.paused);
  CHECK(x.cursor_ms == 3000);
  CHECK(x.last_run == a.last_run);
  CHECK(back->at("plain").last_run.empty());
  CHECK_FALSE(back->at("plain").paused);
}

TEST_CASE("a damaged file is refused, naming what is wrong") {
  CHECK_FALSE(ScheduleFile::Decode("{"));
  CHECK_FALSE(ScheduleFile::Decode(R"({"version":1})"));
  auto missing = ScheduleFile::Decode(R"({"schedules":[{"name":"x"}]})");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kCorrupt);
  CHECK(missing.error().context.find("schedule 0") != std::string::npos);
}
}

}  // namespace rf::store::embedded

namespace rf::store::embedded {

TEST_SUITE("store.schedule_file") {
TEST_CASE("the journal replays puts, fires (forward only) and deletes; a torn last line is dropped") {
  std::map<std::string, ScheduleRow> rows;
  const char* journal =
      R"({"op":"put","row":{"name":"a","partition":3,"spec":"{}","paused":false,"created_ms":1,"updated_ms":1,"cursor_ms":1000,"last_run":""}})"
      "\n"
      R"({"op":"put","row":{"name":"b","partition":4,"spec":"{}","paused":true,"created_ms":1,"updated_ms":1,"cursor_ms":1000,"last_run":""}})"
      "\n"
      R"({"op":"fired","name":"a","cursor_ms":5000,"last_run":"r1"})"
      "\n"
      R"({"op":"fired","name":"a","cursor_ms":4000,"last_run":"old"})"
      "\n"
      R"({"op":"delete","name":"b"})"
      "\n"
      R"({"op":"fired","name":"a","cursor_ms":9000,"last)";
  REQUIRE(ScheduleFile::ApplyJournal(journal, rows));
  REQUIRE(rows.size() == 1);
  CHECK(rows.at("a").cursor_ms == 5000);
  CHECK(rows.at("a").last_run == "r1");
  // Replayed again over its own result (a crash after the snapshot, before the truncation).
  REQUIRE(ScheduleFile::ApplyJournal(journal, rows));
  CHECK(rows.at("a").cursor_ms == 5000);
  CHECK_FALSE(rows.contains("b"));
}

TEST_CASE("a damaged journal line before the last refuses to load") {
  std::map<std::string, ScheduleRow> rows;
  auto st = ScheduleFile::ApplyJournal("garbage\n{\"op\":\"delete\",\"name\":\"x\"}\n", rows);
  REQUIRE_FALSE(st);
  CHECK(st.error().context.find("line 1") != std::string::npos);
  CHECK_FALSE(ScheduleFile::ApplyJournal("{\"op\":\"rename\"}\n{}\n", rows));
}
}

}  // namespace rf::store::embedded
