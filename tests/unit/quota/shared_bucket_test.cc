#include "quota/shared_bucket.h"

#include <doctest/doctest.h>

namespace rf::quota {

TEST_SUITE("quota.shared_bucket") {
  TEST_CASE(
      "a batch is about a tenth of a second of the rate per shard of the cluster, >= 1, <= "
      "capacity") {
    CHECK(BatchSize(1000, 1000, 4) == 25);  // 1000/s over 4 shards: 100 per 0.1 s, 25 each
    CHECK(BatchSize(1000, 1000, 1) == 100);
    CHECK(BatchSize(20, 20, 4) == 1);  // 0.5 rounds down, but a batch holds one at least
    CHECK(BatchSize(0.5, 1, 1) == 1);
    CHECK(BatchSize(10000, 50, 1) == 50);    // never more than the bucket can hold
    CHECK(BatchSize(1000, 1000, 0) == 100);  // no member count yet: one way
    CHECK(BatchSize(0, 1, 1) == 1);
  }

  TEST_CASE("first use falls back to the instance's split and asks Redis for a batch") {
    SharedBucket b;
    Nanos wait = -1;
    CHECK(b.Take(0, wait) == SharedBucket::Decision::kFallback);
    CHECK(b.NeedFetch(0, 4));
    b.Fetching();
    CHECK_FALSE(b.NeedFetch(0, 4));  // one request in flight per bucket
    CHECK(b.in_flight());
  }

  TEST_CASE(
      "granted tokens are spent locally, the next batch is asked for at half, refused meanwhile") {
    SharedBucket b;
    b.Fetching();
    b.Granted(4, 0, 100);
    Nanos wait = -1;
    CHECK(b.Take(110, wait) == SharedBucket::Decision::kAdmit);
    CHECK_FALSE(b.NeedFetch(110, 4));  // 3 left of 4
    CHECK(b.Take(120, wait) == SharedBucket::Decision::kAdmit);
    CHECK(b.NeedFetch(120, 4));  // 2 left: ask now
    b.Fetching();
    CHECK(b.Take(130, wait) == SharedBucket::Decision::kAdmit);
    CHECK(b.Take(140, wait) == SharedBucket::Decision::kAdmit);
    // Gone, the next batch not back: the cluster's word stands (refused), not the split.
    CHECK(b.Take(150, wait) == SharedBucket::Decision::kRefuse);
    CHECK(wait == 0);
    b.Granted(4, 0, 160);
    CHECK(b.tokens() == 4);
    CHECK(b.Take(170, wait) == SharedBucket::Decision::kAdmit);
  }

  TEST_CASE("an empty answer refuses until Redis's wait, then asks again") {
    SharedBucket b;
    b.Fetching();
    b.Granted(0, 50 * kMillis, 0);
    Nanos wait = -1;
    CHECK(b.Take(10 * kMillis, wait) == SharedBucket::Decision::kRefuse);
    CHECK(wait == 40 * kMillis);
    CHECK_FALSE(b.NeedFetch(10 * kMillis, 1));  // not before the wait is over
    CHECK(b.NeedFetch(50 * kMillis, 1));
    b.Fetching();
    // Past the wait, the new answer not back yet: still refused (no fall back under load).
    CHECK(b.Take(60 * kMillis, wait) == SharedBucket::Decision::kRefuse);
    CHECK(wait == 0);
  }

  TEST_CASE("unused tokens expire with their window; an idle bucket falls back again") {
    SharedBucket b;
    b.Fetching();
    b.Granted(5, 0, 0);
    Nanos wait = -1;
    CHECK(b.Take(SharedBucket::kWindow - 1, wait) == SharedBucket::Decision::kAdmit);
    CHECK(b.Take(SharedBucket::kWindow, wait) == SharedBucket::Decision::kFallback);
    CHECK(b.tokens() == 0);
    CHECK(b.NeedFetch(SharedBucket::kWindow, 5));
    CHECK(b.Idle(SharedBucket::kWindow));
  }

  TEST_CASE("a failed fetch falls back at once and lets the next request try again") {
    SharedBucket b;
    b.Fetching();
    b.Granted(0, kSeconds, 0);
    b.Fetching();
    b.Failed();
    Nanos wait = -1;
    CHECK(b.Take(kMillis, wait) == SharedBucket::Decision::kFallback);
    CHECK(b.NeedFetch(kMillis, 1));
    CHECK_FALSE(b.in_flight());
  }
}

}  // namespace rf::quota
