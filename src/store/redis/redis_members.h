#pragma once
// RedisMemberDirectory: membership heartbeats with a TTL in Redis (store/member_directory.h).
//
// Each instance beats every `beat` (250 ms) with one Lua script (EVAL, atomic), which
//   - SETs `ringflow:member:<instance id>` = {"advertise":"host:port","started_ms":N} PX ttl
//     (2 s: half the PostgreSQL lease, so a dead instance leaves the Redis view before its
//     leases expire and the others already want its partitions when they can take them),
//   - ZADDs the id to the index `ringflow:members` with score = Redis's clock (TIME) + ttl,
//     ZREMRANGEBYSCOREs the expired ids and PEXPIREs the index (it vanishes with the last
//     member), and
//   - returns the ids whose score is still ahead of Redis's clock: the live view.
// Why a sorted set by expiry: listing the members is ZRANGEBYSCORE over the members alone,
// O(log N + M), where SCAN ringflow:member:* walks the whole keyspace (the event stream, leader
// leases and whatever else shares the database) on every beat of every instance. Scores are
// Redis's own clock, so the instances' clocks need not agree. The key per member is what an
// operator reads (`GET`, `PTTL`); the index is what the instances read.
//
// Leave: the beat loop ends, then one script ZREMs the id and DELs the key.
//
// Trust (MemberView): the view counts only after beats have succeeded for a whole TTL without a
// failure, so a Redis that restarted empty is not read as "everyone else left" before the other
// instances beat again; and not once a beat fails or the last good one is older than
// `stale` (1 s). Then the engine falls back to the database's beats (rf_cluster_membership_up 0,
// rf_cluster_membership_fallback_total + 1).
//
// Shard-local (shard 0), with a connection of its own (RedisClient); metrics any thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "reactor/task.h"
#include "store/member_directory.h"
#include "store/redis/redis_client.h"

namespace rf::store::redis {

// Whether a directory's view may be used, from the outcomes of its beats. Pure: no I/O.
class MemberView {
 public:
  MemberView(Nanos ttl, Nanos stale) : ttl_(ttl), stale_(stale) {}
  // A beat succeeded at `now` and read these live ids (sorted).
  void Ok(Nanos now, std::vector<std::string> ids);
  // A beat failed at `now`: distrusted until beats have succeeded for a TTL again.
  void Failed(Nanos now);
  // The ids if the view is trusted at `now`, else nullopt.
  std::optional<std::vector<std::string>> Live(Nanos now) const;
  // Grows when the answer of Live changes through Ok/Failed (not through staleness alone).
  uint64_t changes() const { return changes_; }
  // How often a trusted view stopped being trusted.
  uint64_t fallbacks() const { return fallbacks_; }
  bool trusted() const { return trusted_; }
  size_t size() const { return ids_.size(); }

 private:
  void SetTrusted(bool t);
  Nanos ttl_, stale_;
  Nanos ok_since_ = -1;  // first success of the current run of successes; -1: none
  Nanos last_ok_ = -1;
  bool trusted_ = false;
  std::vector<std::string> ids_;
  uint64_t changes_ = 0;
  uint64_t fallbacks_ = 0;
};

struct RedisMembersOptions {
  RedisUrl url;
  RedisConn::Options conn = {};
  std::string instance;               // --instance-id
  std::string advertise;              // --advertise (may be empty: not advertised)
  Nanos ttl = 2 * kSeconds;           // of an entry; below the PostgreSQL lease (4 s)
  Nanos beat = 250 * kMillis;         // between beats
  Nanos timeout = 1 * kSeconds;       // deadline of each command
  Nanos stale = 1 * kSeconds;         // a view older than this is not used
};

class RedisMemberDirectory final : public MemberDirectory {
 public:
  explicit RedisMemberDirectory(RedisMembersOptions options);
  ~RedisMemberDirectory() override;

  void Start() override;
  std::optional<std::vector<std::string>> Live() const override { return view_.Live(MonoNow()); }
  uint64_t changes() const override { return view_.changes(); }
  reactor::Task<void> Leave() override;
  bool up() const override { return up_.load(std::memory_order_relaxed); }
  void RenderMetrics(std::string& out) const override;

  static std::string EntryKey(std::string_view instance) {
    return "ringflow:member:" + std::string(instance);
  }
  static constexpr std::string_view kIndex = "ringflow:members";
  // The entry's value: {"advertise":"...","started_ms":N}.
  static std::string EntryValue(std::string_view advertise, int64_t started_ms);

 private:
  static reactor::Task<void> Beat(RedisMemberDirectory* self);

  RedisMembersOptions options_;
  std::string key_, value_;
  std::unique_ptr<RedisClient> client_;
  MemberView view_;
  bool leaving_ = false;
  bool left_ = false;
  reactor::TaskGroup tasks_;
  std::atomic<bool> up_{true};  // beats succeed (true until the first one fails)
  std::atomic<bool> trusted_{false};
  std::atomic<uint64_t> beats_ok_{0}, beats_failed_{0}, fallbacks_{0}, members_{0};
};

}  // namespace rf::store::redis
