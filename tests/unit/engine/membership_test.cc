#include "engine/membership.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/hash_ring.h"

namespace rf::engine {
namespace {

using store::Member;

// How many partitions each member of `members` gets, as that member computes it.
std::vector<size_t> Shares(std::vector<Member> members) {
  std::vector<size_t> out;
  for (size_t i = 0; i < members.size(); ++i) {
    for (size_t j = 0; j < members.size(); ++j) members[j].self = i == j;
    const std::vector<bool> mine = PartitionsOfSelf(members);
    size_t n = 0;
    for (bool b : mine) n += b;
    out.push_back(n);
  }
  return out;
}

}  // namespace

TEST_CASE("membership: members split every partition between them, each exactly once") {
  std::vector<Member> members{{"a:1", 2}, {"b:1", 2}, {"c:1", 2}};
  std::vector<int> owners(kPartitions, 0);
  for (size_t i = 0; i < members.size(); ++i) {
    for (size_t j = 0; j < members.size(); ++j) members[j].self = i == j;
    const std::vector<bool> mine = PartitionsOfSelf(members);
    REQUIRE(mine.size() == kPartitions);
    for (uint32_t p = 0; p < kPartitions; ++p) owners[p] += mine[p];
  }
  for (uint32_t p = 0; p < kPartitions; ++p) CHECK(owners[p] == 1);
  // 64 points per shard: each of three equal members gets a third, within a wide margin.
  for (size_t n : Shares(members)) {
    CHECK(n > kPartitions / 3 / 2);
    CHECK(n < kPartitions / 3 * 2);
  }
}

TEST_CASE("membership: a member alone holds everything; without itself in the list, nothing") {
  CHECK(Shares({{"solo", 1}}) == std::vector<size_t>{kPartitions});
  const std::vector<bool> none = PartitionsOfSelf({{"other", 2}});
  for (bool b : none) CHECK_FALSE(b);
}

TEST_CASE("membership: a share grows with the member's shards") {
  const std::vector<size_t> s = Shares({{"big", 8}, {"small", 1}});
  CHECK(s[0] + s[1] == kPartitions);
  CHECK(s[0] > 3 * s[1]);
}

TEST_CASE("membership: a member joining takes partitions only from the others, none move between them") {
  std::vector<Member> two{{"a", 2, true}, {"b", 2}};
  std::vector<Member> three{{"a", 2, true}, {"b", 2}, {"c", 2}};
  const std::vector<bool> a_before = PartitionsOfSelf(two);
  const std::vector<bool> a_after = PartitionsOfSelf(three);
  two[0].self = false;
  two[1].self = true;
  three[0].self = false;
  three[1].self = true;
  const std::vector<bool> b_before = PartitionsOfSelf(two);
  const std::vector<bool> b_after = PartitionsOfSelf(three);
  size_t moved_to_c = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    CHECK_FALSE((a_after[p] && !a_before[p]));  // a gains nothing
    CHECK_FALSE((b_after[p] && !b_before[p]));  // b gains nothing
    moved_to_c += !a_after[p] && !b_after[p];
  }
  CHECK(moved_to_c > 0);
}

TEST_CASE("membership: standbys hold nothing while an active member lives, and share everything otherwise") {
  const std::vector<Member> with_active{{"active", 2}, {"standby-1", 2, true, true}, {"standby-2", 2, false, true}};
  for (bool b : PartitionsOfSelf(with_active)) CHECK_FALSE(b);
  CHECK(Shares(with_active)[0] == kPartitions);
  const std::vector<size_t> only_standbys = Shares({{"standby-1", 2, false, true}, {"standby-2", 2, false, true}});
  CHECK(only_standbys[0] + only_standbys[1] == kPartitions);
  CHECK(only_standbys[0] > 0);
  CHECK(only_standbys[1] > 0);
}

TEST_CASE("membership: the answer does not depend on anything but the list") {
  const std::vector<Member> m{{"x", 3, true}, {"y", 1}};
  CHECK(PartitionsOfSelf(m) == PartitionsOfSelf(m));
}

TEST_CASE("membership: with a Redis view, a member must be in both; without one, the beats alone") {
  const std::vector<Member> beats{{"a", 1, true}, {"b", 1}, {"c", 1}};
  // No view (no Redis, or it cannot be trusted now): PostgreSQL's beats as they are.
  CHECK(LiveMembers(beats, nullptr) == beats);
  // c's entry expired or was deleted: it is off the ring, though its beat row is still fresh.
  const std::vector<std::string> view{"a", "b"};
  CHECK(LiveMembers(beats, &view) == std::vector<Member>{{"a", 1, true}, {"b", 1}});
  // An entry without a beat row (not joined yet, or its row deleted at a clean stop) adds nobody.
  const std::vector<std::string> more{"a", "b", "c", "d"};
  CHECK(LiveMembers(beats, &more) == beats);
  // This instance counts even when its own entry is missing (its beat failed): it knows it lives.
  const std::vector<std::string> without_self{"b", "c"};
  CHECK(LiveMembers(beats, &without_self) == beats);
  // So removing c from the view moves only c's partitions: a and b keep theirs.
  std::vector<Member> two = LiveMembers(beats, &view), three = beats;
  const std::vector<bool> mine2 = PartitionsOfSelf(two), mine3 = PartitionsOfSelf(three);
  for (uint32_t p = 0; p < kPartitions; ++p)
    if (mine3[p]) CHECK(mine2[p]);
}

TEST_CASE("membership: right after an outage the members read before stay beside those read now") {
  // Only a (this instance) has beaten since the database came back: b and c look gone.
  const std::vector<Member> before{{"a", 1, true}, {"b", 2}, {"c", 1}};
  const std::vector<Member> now{{"a", 1, true}};
  const std::vector<Member> kept = KeepThroughOutage(now, before);
  CHECK(kept == before);
  // So a wants no partition of b's or c's: its share is the one it had.
  CHECK(PartitionsOfSelf(kept) == PartitionsOfSelf(before));
  // A member read now wins over its old entry (its shards changed), a new one joins, sorted by id.
  const std::vector<Member> changed{{"a", 1, true}, {"b", 4}, {"d", 1}};
  CHECK(KeepThroughOutage(changed, before) ==
        std::vector<Member>{{"a", 1, true}, {"b", 4}, {"c", 1}, {"d", 1}});
  // This instance is kept as a plain member when its own beat is not written yet.
  CHECK(KeepThroughOutage({}, before) == std::vector<Member>{{"a", 1}, {"b", 2}, {"c", 1}});
}

}  // namespace rf::engine
