#include <doctest/doctest.h>

#include "store/run_id.h"

using namespace rf::store;

TEST_SUITE("store.run_id") {
TEST_CASE("a run id round-trips through its text and keeps its partition and time") {
  RunId id = NewRunId(200, 1'700'000'000'123);
  std::string s = id.ToString();
  CHECK(s.size() == 36);
  CHECK(s[14] == '7');  // version 7
  auto back = ParseRunId(s);
  REQUIRE(back.has_value());
  CHECK(*back == id);
  CHECK(back->partition() == 200);
  CHECK(back->unix_ms() == 1'700'000'000'123);
}

TEST_CASE("ids made by one thread increase even within one millisecond") {
  RunId prev = NewRunId(1, 5000);
  for (int i = 0; i < 100; ++i) {
    RunId next = NewRunId(1, 5000);
    CHECK(prev < next);
    prev = next;
  }
}

TEST_CASE("malformed run ids are rejected") {
  CHECK_FALSE(ParseRunId("").has_value());
  CHECK_FALSE(ParseRunId("0190b7a2-1c3d-7e4f-8a9b").has_value());
  CHECK_FALSE(ParseRunId("0190b7a2x1c3d-7e4f-8a9b-0c1d2e3f4a5b").has_value());
  CHECK_FALSE(ParseRunId("0190b7a2-1c3d-7e4f-8a9b-0c1d2e3f4a5g").has_value());
  CHECK(ParseRunId("0190B7A2-1C3D-7E4F-8A9B-0C1D2E3F4A5B").has_value());
}
}
