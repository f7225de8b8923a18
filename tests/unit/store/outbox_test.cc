// The outbox row text the PostgreSQL store writes and its relay reads back.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "store/postgres/pg_relay.h"

namespace rf::store::pg {
namespace {

constexpr const char* kRun = "018bd021-adb0-7000-8452-e560b2834d0f";
constexpr const char* kOther = "018bd021-adb0-7001-8452-e560b2834d0f";

TEST_SUITE("store.outbox") {

TEST_CASE("outbox lines round-trip") {
  std::string text;
  AppendOutboxLine(text, kRun, 1, 3, "w3");
  AppendOutboxLine(text, kOther, 7, 7, "pay-v2");
  std::vector<OutboxRow> rows;
  REQUIRE(ParseOutbox(text, rows));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].run.ToString() == kRun);
  CHECK(rows[0].first_seq == 1);
  CHECK(rows[0].last_seq == 3);
  CHECK(rows[0].workflow == "w3");
  CHECK(rows[0].data.empty());
  CHECK(rows[1].run.ToString() == kOther);
  CHECK(rows[1].first_seq == 7);
  CHECK(rows[1].last_seq == 7);
  CHECK(rows[1].workflow == "pay-v2");
  rows.clear();
  CHECK(ParseOutbox("", rows));
  CHECK(rows.empty());
}

TEST_CASE("malformed outbox lines are refused") {
  const std::string run = kRun;
  for (const std::string& bad : {
           run,                                  // no fields
           run + "\t1\t2",                       // no workflow
           run + "\t1\t2\t",                     // empty workflow
           run + "\t1\t2\tw\textra",             // a fifth field
           std::string("not-a-run\t1\t2\tw"),    // bad run id
           run + "\t0\t2\tw",                    // event numbers start at 1
           run + "\t3\t2\tw",                    // last before first
           run + "\tx\t2\tw",                    // not a number
           run + "\t1x\t2\tw",                   // trailing garbage in a number
           run + "\t-1\t2\tw",                   // negative
           run + "\t1\t99999999999999999999\tw"  // out of range
       }) {
    std::vector<OutboxRow> rows;
    CHECK_MESSAGE(!ParseOutbox(bad, rows), bad);
  }
  // Rows before a bad line are kept; the caller logs the rest.
  std::vector<OutboxRow> rows;
  CHECK(!ParseOutbox(run + "\t1\t1\tw\n" + "garbage", rows));
  CHECK(rows.size() == 1);
}

TEST_CASE("lines of partitions held elsewhere are split off, a row per partition") {
  // Partitions are a run id's byte 7: kRun is in 0, kOther in 1, kThird in 2.
  constexpr const char* kThird = "018bd021-adb0-7002-8452-e560b2834d0f";
  std::string text;
  AppendOutboxLine(text, kRun, 1, 3, "w3");
  AppendOutboxLine(text, kOther, 4, 4, "w3");
  AppendOutboxLine(text, kThird, 2, 2, "pay");
  AppendOutboxLine(text, kRun, 4, 5, "w3");
  AppendOutboxLine(text, kThird, 3, 3, "pay");
  std::vector<OutboxRow> rows;
  REQUIRE(ParseOutbox(kOther + std::string("\t9\t9\tearlier\n"), rows));  // an earlier row: kept
  const size_t from = rows.size();
  REQUIRE(ParseOutbox(text, rows));
  std::vector<std::pair<uint32_t, std::string>> elsewhere;

  SUBCASE("this instance holds 1 only") {
    SplitHeld(rows, from, {false, true}, elsewhere);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].workflow == "earlier");
    CHECK(rows[1].run.ToString() == kOther);
    CHECK(rows[1].first_seq == 4);
    REQUIRE(elsewhere.size() == 2);
    CHECK(elsewhere[0].first == 0);
    CHECK(elsewhere[1].first == 2);
    // Each partition's lines, in order, read back as they were.
    std::vector<OutboxRow> back;
    REQUIRE(ParseOutbox(elsewhere[0].second, back));
    REQUIRE(back.size() == 2);
    CHECK(back[0].run.ToString() == kRun);
    CHECK(back[0].first_seq == 1);
    CHECK(back[0].last_seq == 3);
    CHECK(back[1].first_seq == 4);
    CHECK(back[1].last_seq == 5);
    back.clear();
    REQUIRE(ParseOutbox(elsewhere[1].second, back));
    REQUIRE(back.size() == 2);
    CHECK(back[0].workflow == "pay");
    CHECK(back[0].first_seq == 2);
    CHECK(back[1].first_seq == 3);
  }
  SUBCASE("this instance holds them all: nothing moves") {
    SplitHeld(rows, from, {true, true, true}, elsewhere);
    CHECK(rows.size() == 6);
    CHECK(elsewhere.empty());
    CHECK(rows[4].run.ToString() == kRun);
    CHECK(rows[4].first_seq == 4);
  }
  SUBCASE("this instance holds none of them") {
    SplitHeld(rows, from, {}, elsewhere);
    CHECK(rows.size() == 1);
    CHECK(elsewhere.size() == 3);
  }
}

}  // TEST_SUITE

}  // namespace
}  // namespace rf::store::pg
