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

}  // TEST_SUITE

}  // namespace
}  // namespace rf::store::pg
