// Leader election of the singleton jobs (store/leader_election.h) against the unit tests'
// private PostgreSQL cluster and Redis server: the lease rows of migration 0011
// (PgLeaderElection), the Redis lease (RedisLeaderElection), and the fence every singleton
// write runs in its own transaction (PgHistoryStore::Expire, PgAuditStore::Trim).

#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <unistd.h>

#include <atomic>
#include <string>

#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "store/pg_cluster.h"
#include "store/postgres/migrate.h"
#include "store/postgres/pg_audit.h"
#include "store/postgres/pg_history.h"
#include "store/postgres/pg_leader.h"
#include "store/redis/redis_leader.h"
#include "store/redis/redis_url.h"
#include "store/redis_server.h"
#include "test_support.h"

namespace rf::store {
namespace {

using reactor::Reactor;
using reactor::Task;

// Blocking libpq, only outside the reactor.
std::string Value(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  REQUIRE_MESSAGE(PQstatus(c) == CONNECTION_OK, PQerrorMessage(c));
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string v = ok && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
  const std::string err = PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  REQUIRE_MESSAGE(ok, err << sql);
  return v;
}

std::string FreshDatabase() {
  const test::Cluster& c = test::Cluster::Get();
  REQUIRE_MESSAGE(c.ok(), "no PostgreSQL for the store.leader_election suite: " << c.error());
  static std::atomic<int> n{0};
  const std::string name = "rf_leader_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
  Value(c.url(), "CREATE DATABASE " + name);
  const std::string url = c.url().substr(0, c.url().rfind('/') + 1) + name;
  auto m = pg::MigrateUp(url);
  REQUIRE_MESSAGE(m.has_value(), m.error().ToString());
  return url;
}

pg::PgOptions Options(const std::string& url, std::string instance) {
  pg::PgOptions o;
  o.url = url;
  o.pool = 1;
  o.instance = std::move(instance);
  return o;
}

constexpr Nanos kLong = 60 * kSeconds;
const std::string kJob(kJobHistoryRetention);

// ---- PostgreSQL: leases with terms, expiry by the database's clock -------------------------

Task<void> PgLeasesBody(std::string url) {
  pg::PgLeaderElection a(Options(url, "a"), 5 * kSeconds), b(Options(url, "b"), 5 * kSeconds),
      c(Options(url, "c"), 5 * kSeconds);
  a.Start();
  b.Start();
  c.Start();
  auto won = co_await a.Acquire(kJob, 0, kLong);  // suspends
  CO_REQUIRE_MESSAGE(won.has_value(), won.error().ToString());
  CHECK(won->won);
  CHECK(won->term == 1);
  auto lost = co_await b.Acquire(kJob, 0, kLong);  // suspends: a's lease is live
  CO_REQUIRE(lost.has_value());
  CHECK_FALSE(lost->won);
  CHECK(lost->term == 1);
  auto proposed = co_await b.Acquire(kJob, 5, kLong);  // suspends: a term from Redis changes nothing
  CO_REQUIRE(proposed.has_value());
  CHECK_FALSE(proposed->won);
  auto renewed = co_await a.Renew(kJob, 1, kLong);  // suspends
  CHECK((renewed.has_value() && *renewed));
  auto not_b = co_await b.Renew(kJob, 1, kLong);  // suspends: the term is a's, not b's
  CHECK((not_b.has_value() && !*not_b));

  // A clean stop hands over at once, with a new term; the old term can no longer renew.
  CHECK((co_await a.Release(kJob, 1)).has_value());  // suspends
  auto next = co_await b.Acquire(kJob, 0, kLong);  // suspends
  CO_REQUIRE(next.has_value());
  CHECK(next->won);
  CHECK(next->term == 2);
  auto stale = co_await a.Renew(kJob, 1, kLong);  // suspends
  CHECK((stale.has_value() && !*stale));

  // A term proposed by Redis is taken only when it is above the current one.
  CHECK((co_await b.Release(kJob, 2)).has_value());  // suspends
  auto low = co_await c.Acquire(kJob, 2, kLong);  // suspends
  CO_REQUIRE(low.has_value());
  CHECK_FALSE(low->won);
  CHECK(low->term == 2);
  auto high = co_await c.Acquire(kJob, 7, 300 * kMillis);  // suspends
  CO_REQUIRE(high.has_value());
  CHECK(high->won);
  CHECK(high->term == 7);

  // A lease that was not renewed expires by the database's clock: another daemon takes it.
  auto early = co_await a.Acquire(kJob, 0, kLong);  // suspends
  CHECK((early.has_value() && !early->won));
  co_await reactor::Sleep(600 * kMillis);  // suspends
  auto late = co_await c.Renew(kJob, 7, kLong);  // suspends
  CHECK((late.has_value() && !*late));
  auto taken = co_await a.Acquire(kJob, 0, kLong);  // suspends
  CO_REQUIRE(taken.has_value());
  CHECK(taken->won);
  CHECK(taken->term == 8);
  co_await a.Close();  // suspends
  co_await b.Close();  // suspends
  co_await c.Close();  // suspends
}

// ---- The fence of singleton writes ---------------------------------------------------------

struct FenceCase {
  std::string url;
  int64_t term = 0;
  Result<size_t> expired = size_t{0};
  Result<uint64_t> trimmed = uint64_t{0};
};

Task<void> FenceBody(FenceCase* c) {
  pg::PgPool pool({.url = c->url, .size = 1});
  pool.Start();
  pg::PgHistoryStore history(Options(c->url, "a"), [&pool] { return pg::PgHistoryStore::ShardPools{.writes = &pool}; });
  c->expired = co_await history.Expire(WallNow() / kMillis, 1000, c->term);  // suspends
  co_await pool.Close();  // suspends
  pg::PgAuditStore audit(c->url);
  CHECK((co_await audit.Open()).has_value());  // suspends
  c->trimmed = co_await audit.Trim(WallNow() / kMillis, c->term);  // suspends
  co_await audit.Close();  // suspends
}

FenceCase RunFence(const std::string& url, int64_t term) {
  FenceCase c{.url = url, .term = term};
  test::RunOnReactor(1, [&c](Reactor&) { return FenceBody(&c); });
  return c;
}

TEST_SUITE("store.leader_election") {

TEST_CASE("PostgreSQL leases: one holder at a time, a new term for each, expiry by the database clock" *
          doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  test::RunOnReactor(1, [url](Reactor&) { return PgLeasesBody(url); });
  CHECK(Value(url, "SELECT term FROM leader_leases WHERE job = '" + kJob + "'") == "8");
}

TEST_CASE("a singleton write with a stale or expired term is refused and removes nothing" *
          doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  const std::string audit_job(kJobAuditRetention);
  Value(url, "INSERT INTO audit_log (at_ms, subject, namespace, method, route, target, status) "
             "VALUES (1, 's', 'default', 'PUT', '/v1/x', '{}', 200)");
  // Terms 1 then 2 of both jobs: 1 is a deposed leader's.
  for (const std::string& job : {kJob, audit_job}) {
    Value(url, "SELECT won FROM rf_leader_acquire('" + job + "', 'a', 0, 60000)");
    Value(url, "SELECT rf_leader_release('" + job + "', 'a', 1)");
    CHECK(Value(url, "SELECT term FROM rf_leader_acquire('" + job + "', 'b', 0, 60000)") == "2");
  }
  FenceCase stale = RunFence(url, 1);
  REQUIRE_FALSE(stale.expired.has_value());
  CHECK(stale.expired.error().code == Errc::kConflict);
  CHECK(stale.expired.error().context.find("is not the current leader") != std::string::npos);
  REQUIRE_FALSE(stale.trimmed.has_value());
  CHECK(stale.trimmed.error().code == Errc::kConflict);
  CHECK(Value(url, "SELECT count(*) FROM audit_log") == "1");

  FenceCase current = RunFence(url, 2);
  REQUIRE_MESSAGE(current.expired.has_value(), current.expired.error().ToString());
  REQUIRE_MESSAGE(current.trimmed.has_value(), current.trimmed.error().ToString());
  CHECK(*current.trimmed == 1);
  CHECK(Value(url, "SELECT count(*) FROM audit_log") == "0");

  // The current term, but its lease expired (by the database's clock): refused too.
  Value(url, "UPDATE leader_leases SET expires_at = now() - interval '1 second'");
  FenceCase expired = RunFence(url, 2);
  REQUIRE_FALSE(expired.expired.has_value());
  CHECK(expired.expired.error().code == Errc::kConflict);
  REQUIRE_FALSE(expired.trimmed.has_value());
  CHECK(expired.trimmed.error().code == Errc::kConflict);
}

// ---- Redis: SET NX PX lease, INCR term ------------------------------------------------------

Task<void> RedisBody(std::string url_text) {
  auto url = redis::ParseRedisUrl(url_text);
  CO_REQUIRE(url.has_value());
  const std::string job = "test-job-" + std::to_string(::getpid());
  redis::RedisLeaderElection a(*url, "a", 2 * kSeconds), b(*url, "b", 2 * kSeconds);
  a.Start();
  b.Start();
  auto first = co_await a.Acquire(job, 0, kLong);  // suspends
  CO_REQUIRE_MESSAGE(first.has_value(), first.error().ToString());
  CHECK(first->won);
  const int64_t t1 = first->term;
  CHECK(t1 >= 1);
  auto second = co_await b.Acquire(job, 0, kLong);  // suspends
  CO_REQUIRE(second.has_value());
  CHECK_FALSE(second->won);
  auto renew_b = co_await b.Renew(job, t1, kLong);  // suspends: not b's lease
  CHECK((renew_b.has_value() && !*renew_b));
  auto renew_a = co_await a.Renew(job, t1, kLong);  // suspends
  CHECK((renew_a.has_value() && *renew_a));
  CHECK((co_await b.Release(job, t1)).has_value());  // suspends: not b's: stays
  auto still = co_await b.Acquire(job, 0, kLong);  // suspends
  CHECK((still.has_value() && !still->won));
  CHECK((co_await a.Release(job, t1)).has_value());  // suspends
  // Released: b gets it with a higher term, above the floor it asks for.
  auto taken = co_await b.Acquire(job, t1 + 10, 300 * kMillis);  // suspends
  CO_REQUIRE(taken.has_value());
  CHECK(taken->won);
  CHECK(taken->term == t1 + 11);
  // Not renewed: it expires by itself and a takes it, numbered on from there.
  co_await reactor::Sleep(600 * kMillis);  // suspends
  auto again = co_await a.Acquire(job, 0, kLong);  // suspends
  CO_REQUIRE(again.has_value());
  CHECK(again->won);
  CHECK(again->term == t1 + 12);
  // A renewal of a lease whose key vanished (Redis restarted empty) sets it again.
  CHECK((co_await a.Release(job, again->term)).has_value());  // suspends
  auto back = co_await a.Renew(job, again->term, kLong);  // suspends
  CHECK((back.has_value() && *back));
  auto blocked = co_await b.Acquire(job, 0, kLong);  // suspends
  CHECK((blocked.has_value() && !blocked->won));
  co_await a.Close();  // suspends
  co_await b.Close();  // suspends
}

TEST_CASE("Redis leases: SET NX PX with a holder, INCR terms above a floor, renew and release only by the holder" *
          doctest::timeout(60)) {
  const test::RedisServer& s = test::RedisServer::Shared();
  if (!s.ok()) FAIL("no Redis for the store.leader_election suite: " << s.error());
  const std::string url = s.url();
  test::RunOnReactor(1, [url](Reactor&) { return RedisBody(url); });
}

}  // TEST_SUITE
}  // namespace
}  // namespace rf::store
