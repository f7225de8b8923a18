// PgHistoryStore and the day partitions of migration 0003, against the unit
// tests' private PostgreSQL cluster (store/pg_cluster.h): each case migrates a
// database of its own, writes runs with SQL (run ids of chosen days), then reads
// them through the store on a one-shard reactor. Recovery of live runs only
// (PgRunStore::Open) is checked here too.

#include "store/postgres/pg_history.h"

#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "store/pg_cluster.h"
#include "store/postgres/migrate.h"
#include "store/postgres/pg_store.h"
#include "store/run_log.h"
#include "test_support.h"

namespace rf::store::pg {
namespace {

using reactor::Reactor;
using reactor::Task;

constexpr int64_t kDayMs = 86'400'000;

// Blocking libpq, only outside the reactor.
class Db {
 public:
  explicit Db(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    REQUIRE_MESSAGE(PQstatus(c_) == CONNECTION_OK, PQerrorMessage(c_));
  }
  ~Db() { PQfinish(c_); }
  void Exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    const std::string err = PQerrorMessage(c_);
    PQclear(r);
    REQUIRE_MESSAGE((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK), err << sql);
  }
  // The single value of a query ("" for NULL).
  std::string Value(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    const std::string v = ok ? PQgetvalue(r, 0, 0) : "";
    const std::string err = PQerrorMessage(c_);
    PQclear(r);
    REQUIRE_MESSAGE(ok, err << sql);
    return v;
  }

 private:
  PGconn* c_;
};

// A migrated database of its own for the calling case; test helpers in SQL:
//   rf_test_id(day, n)   the n-th run id of a UTC day (partition 0)
//   rf_test_run(...)     a runs row and two run_records rows (3 records)
std::string FreshDatabase() {
  const test::Cluster& c = test::Cluster::Get();
  REQUIRE_MESSAGE(c.ok(), "no PostgreSQL for the store.pg_history suite: " << c.error());
  static std::atomic<int> n{0};
  const std::string name = "rf_hist_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
  Db(c.url()).Exec("CREATE DATABASE " + name);
  const std::string url = c.url().substr(0, c.url().rfind('/') + 1) + name;
  auto m = store::pg::MigrateUp(url);
  REQUIRE_MESSAGE(m.has_value(), m.error().ToString());
  Db(url).Exec(R"sql(
    CREATE FUNCTION rf_test_id(d date, n int) RETURNS uuid LANGUAGE sql AS $$
      SELECT (substr(rf_day_bound(d)::text, 1, 24) || lpad(to_hex(n), 12, '0'))::uuid $$;
    CREATE FUNCTION rf_test_run(id uuid, wf text, st text, finished timestamptz,
                                k text DEFAULT NULL, err json DEFAULT NULL) RETURNS void
    LANGUAGE sql AS $$
      INSERT INTO runs (run_id, partition, workflow, version, status, idempotency_key, error,
                        created_at, updated_at, finished_at, epoch, last_seq)
        VALUES (id, 0, wf, 2, st, k, err, to_timestamp(12345.678), coalesce(finished, now()),
                finished, 1, 3);
      INSERT INTO run_records (run_id, seq, last_seq, payload, at) VALUES
        (id, 3, 3, '{"r":3,"run":"' || id || '"}', now()),
        (id, 1, 2, '{"r":1,"run":"' || id || '"}' || E'\n' || '{"r":2,"run":"' || id || '"}', now());
      INSERT INTO timeouts (run_id, step_index, expire_at, completed) VALUES (id, -1, now(), true);
    $$;)sql");
  // Retention is a singleton job: this test leads it at term 1 (store/leader_election.h).
  Db(url).Exec("SELECT rf_leader_acquire('history-retention', 'test', 0, 3600000)");
  return url;
}

std::string Today() { return "(now() AT TIME ZONE 'UTC')::date"; }

// The log Get must return for a run made by rf_test_run.
std::string ExpectedLog(const std::string& id) {
  std::string log;
  for (int r = 1; r <= 3; ++r)
    AppendToLog(log, "{\"r\":" + std::to_string(r) + ",\"run\":\"" + id + "\"}");
  return log;
}

PgOptions Options(const std::string& url) {
  PgOptions o;
  o.url = url;
  o.pool = 1;
  o.instance = "test";
  return o;
}

HistoryQuery Query(std::string workflow, std::optional<RunStatus> status,
                   std::optional<RunId> before, size_t limit) {
  HistoryQuery q;
  q.workflow = std::move(workflow);
  q.status = status;
  q.before = before;
  q.limit = limit;
  return q;
}

// A history store on a one-shard reactor with a pool of its own (for reads and writes alike).
struct Fixture {
  std::string url;
  store::pg::PgPool* pool = nullptr;
  PgHistoryStore store{Options(url), [this] { return PgHistoryStore::ShardPools{pool, pool}; }};
  explicit Fixture(std::string u) : url(std::move(u)) {}
};

using Body = Task<void> (*)(Fixture*);

Task<void> WithPool(Fixture* f, Body body) {
  store::pg::PgPool pool({.url = f->url, .size = 2, .statements = PgHistoryStore::ReadStatements()});
  pool.Start();
  f->pool = &pool;
  co_await body(f);  // suspends
  f->pool = nullptr;
  co_await pool.Close();  // suspends
}

void Run(Fixture& f, Body body) {
  test::RunOnReactor(1, [&f, body](Reactor&) { return WithPool(&f, body); });
}

RunId Id(const std::string& text) {
  auto id = ParseRunId(text);
  REQUIRE(id.has_value());
  return *id;
}

// ---- Get and FindKey ------------------------------------------------------------------------

struct GetCase {
  std::string done, live, failed;
};
GetCase* get_case = nullptr;

Task<void> GetBody(Fixture* f) {
  const GetCase& c = *get_case;
  auto got = co_await f->store.Get(Id(c.done));  // suspends
  CO_REQUIRE(got.has_value());
  CO_REQUIRE(got->has_value());
  const HistoryRun& run = **got;
  CHECK(run.id.ToString() == c.done);
  CHECK(run.workflow == "wf");
  CHECK(run.version == 2);
  CHECK(run.status == RunStatus::kSucceeded);
  CHECK(run.created_ms == 12345678);
  CHECK(run.finished_ms > run.created_ms);
  CHECK(run.idempotency_key == "k1");
  CHECK(run.error.empty());
  CHECK(run.log == ExpectedLog(c.done));  // records in seq order, framed
  // The log alone: never at once from a server, then through Get.
  auto log_now = f->store.LogNow(Id(c.done));
  CHECK_FALSE(log_now.has_value());
  auto log = co_await f->store.LogAfterMiss(Id(c.done));  // suspends
  CO_REQUIRE((log.has_value() && log->has_value()));
  CHECK(**log == ExpectedLog(c.done));

  auto failed = co_await f->store.Get(Id(c.failed));  // suspends
  CO_REQUIRE((failed.has_value() && failed->has_value()));
  CHECK((*failed)->status == RunStatus::kFailed);
  CHECK((*failed)->error == "boom");
  CHECK((*failed)->failed_step == "s2");

  auto live = co_await f->store.Get(Id(c.live));  // suspends: a live run is not history
  CO_REQUIRE(live.has_value());
  CHECK_FALSE(live->has_value());
  auto live_log = co_await f->store.LogAfterMiss(Id(c.live));  // suspends
  CO_REQUIRE(live_log.has_value());
  CHECK_FALSE(live_log->has_value());
  auto unknown = co_await f->store.Get(Id("018bd021-adb0-7000-8452-e560b2834d0f"));
  CO_REQUIRE(unknown.has_value());
  CHECK_FALSE(unknown->has_value());

  auto key = co_await f->store.FindKey("wf", "k1");  // suspends
  CO_REQUIRE((key.has_value() && key->has_value()));
  CHECK((*key)->ToString() == c.done);
  auto live_key = co_await f->store.FindKey("wf", "k2");  // suspends
  CO_REQUIRE(live_key.has_value());
  CHECK_FALSE(live_key->has_value());
  auto other_wf = co_await f->store.FindKey("other", "k1");  // suspends
  CO_REQUIRE(other_wf.has_value());
  CHECK_FALSE(other_wf->has_value());
  CHECK(f->store.stats().reads.Get() == 9);  // 4 Gets, 2 logs alone (through Get), 3 keys
}

// ---- List -----------------------------------------------------------------------------------

struct ListCase {
  std::vector<std::string> a_done;  // workflow a, succeeded, oldest first
  std::vector<std::string> b_failed;
  std::string a_live;
};
ListCase* list_case = nullptr;

std::vector<std::string> Ids(const std::vector<HistoryRun>& runs) {
  std::vector<std::string> out;
  for (const HistoryRun& r : runs) out.push_back(r.id.ToString());
  return out;
}

Task<void> ListBody(Fixture* f) {
  const ListCase& c = *list_case;
  std::vector<std::string> all(c.a_done);
  all.insert(all.end(), c.b_failed.begin(), c.b_failed.end());
  std::sort(all.rbegin(), all.rend());  // newest id first; the live run is not there

  auto page = co_await f->store.List(Query("", std::nullopt, std::nullopt, 3));  // suspends
  CO_REQUIRE(page.has_value());
  CHECK(Ids(*page) == std::vector<std::string>(all.begin(), all.begin() + 4));  // limit + 1
  CHECK((*page)[0].log.empty());

  // The cursor: ids strictly below the last one shown.
  auto next = co_await f->store.List(Query("", std::nullopt, (*page)[2].id, 3));
  CO_REQUIRE(next.has_value());
  CHECK(Ids(*next) == std::vector<std::string>(all.begin() + 3, all.begin() + 7));
  auto last = co_await f->store.List(Query("", std::nullopt, (*next)[2].id, 3));
  CO_REQUIRE(last.has_value());
  CHECK(Ids(*last) == std::vector<std::string>(all.begin() + 6, all.end()));

  auto a = co_await f->store.List(Query("a", std::nullopt, std::nullopt, 10));  // suspends
  CO_REQUIRE(a.has_value());
  CHECK(Ids(*a) == std::vector<std::string>(c.a_done.rbegin(), c.a_done.rend()));

  // Dead letters: status failed, with the error and the failing step.
  auto dead = co_await f->store.List(Query("", RunStatus::kFailed, std::nullopt, 10));
  CO_REQUIRE(dead.has_value());
  CHECK(Ids(*dead) == std::vector<std::string>(c.b_failed.rbegin(), c.b_failed.rend()));
  for (const HistoryRun& r : *dead) {
    CHECK(r.error == "no luck");
    CHECK(r.failed_step == "pay");
  }
  auto both = co_await f->store.List(
      Query("a", RunStatus::kFailed, std::nullopt, 10));  // suspends
  CO_REQUIRE(both.has_value());
  CHECK(both->empty());
  auto live = co_await f->store.List(Query("", RunStatus::kRunning, std::nullopt, 10));
  CO_REQUIRE(live.has_value());
  CHECK(live->empty());
}

// ---- Expire ---------------------------------------------------------------------------------

struct ExpireCase {
  int64_t cutoff_ms = 0;
  std::string survivor;  // created on an expired day, finished after the cutoff
  Result<size_t> removed = size_t{0};
  Result<std::optional<HistoryRun>> survivor_after = std::optional<HistoryRun>();
};
ExpireCase* expire_case = nullptr;

Task<void> ExpireBody(Fixture* f) {
  ExpireCase& c = *expire_case;
  c.removed = co_await f->store.Expire(c.cutoff_ms, 1000, 1);  // suspends: term 1, FreshDatabase's
  c.survivor_after = co_await f->store.Get(Id(c.survivor));  // suspends
}

// ---- Retained bytes per namespace ---------------------------------------------------------

struct BytesCase {
  std::map<std::string, int64_t> seen;  // the sink's last value per namespace
  std::map<std::string, int64_t> before;  // ... after the first refresh
  Status first, after_expire;
  int64_t cutoff_ms = 0;
};
BytesCase* bytes_case = nullptr;

Task<void> BytesBody(Fixture* f) {
  BytesCase& c = *bytes_case;
  f->store.SetBytesSink([&c](std::string_view ns, int64_t b) { c.seen[std::string(ns)] = b; });
  c.first = co_await f->store.RefreshBytes();  // suspends
  c.before = std::exchange(c.seen, {});
  auto n = co_await f->store.Expire(c.cutoff_ms, 1000, 1);  // suspends
  CHECK(n.has_value());
  c.after_expire = co_await f->store.RefreshBytes();  // suspends
}

// ---- Unavailable ----------------------------------------------------------------------------

Task<void> NoPoolBody(Fixture* f) {
  store::pg::PgPool* saved = std::exchange(f->pool, nullptr);
  auto got = co_await f->store.Get(Id("018bd021-adb0-7000-8452-e560b2834d0f"));  // suspends
  CHECK((!got && got.error().code == Errc::kUnavailable));
  auto list = co_await f->store.List(Query("", std::nullopt, std::nullopt, 1));  // suspends
  CHECK((!list && list.error().code == Errc::kUnavailable));
  f->pool = saved;
}

// ---- Recovery of live runs only -------------------------------------------------------------

class Collect : public RecordSink {
 public:
  Status OnSnapshot(std::string_view) override { return {}; }
  Status OnRecord(std::string_view payload) override {
    records.emplace_back(payload);
    return {};
  }
  std::vector<std::string> records;
};

struct RecoveryCase {
  std::string url;
  std::vector<std::string> records;
};

Task<void> RecoveryBody(RecoveryCase* c) {
  PgRunStore store(Options(c->url), 1, {0}, nullptr);
  Collect sink;
  Status st = co_await store.Open(sink);  // suspends
  CHECK_MESSAGE(st.has_value(), (st ? "" : st.error().ToString()));
  c->records = std::move(sink.records);
  co_await store.Close();  // suspends
}

TEST_SUITE("store.pg_history") {

TEST_CASE("Get returns a finished run with its log in order; FindKey finds finished runs only" *
          doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  Db db(url);
  GetCase c;
  c.done = db.Value("SELECT rf_test_id(" + Today() + ", 1)");
  c.live = db.Value("SELECT rf_test_id(" + Today() + ", 2)");
  c.failed = db.Value("SELECT rf_test_id(" + Today() + ", 3)");
  db.Exec("SELECT rf_test_run('" + c.done + "', 'wf', 'succeeded', now(), 'k1')");
  db.Exec("SELECT rf_test_run('" + c.live + "', 'wf', 'running', NULL, 'k2')");
  db.Exec("SELECT rf_test_run('" + c.failed +
          "', 'wf', 'failed', now(), NULL, '{\"message\":\"boom\",\"step\":\"s2\"}')");
  get_case = &c;
  Fixture f(url);
  Run(f, &GetBody);
}

TEST_CASE("List is newest first by workflow and status, pages by cursor, returns limit + 1" *
          doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  Db db(url);
  ListCase c;
  // Spread over two days (two partitions) so the listing crosses them.
  int n = 0;
  for (const char* day : {"1", "0"}) {
    for (int i = 0; i < 3; ++i) {
      const std::string id =
          db.Value("SELECT rf_test_id(" + Today() + " - " + day + ", " + std::to_string(++n) + ")");
      db.Exec("SELECT rf_test_run('" + id + "', 'a', 'succeeded', now())");
      c.a_done.push_back(id);
    }
    const std::string id =
        db.Value("SELECT rf_test_id(" + Today() + " - " + day + ", " + std::to_string(++n) + ")");
    db.Exec("SELECT rf_test_run('" + id +
            "', 'b', 'failed', now(), NULL, '{\"message\":\"no luck\",\"step\":\"pay\"}')");
    c.b_failed.push_back(id);
  }
  c.a_live = db.Value("SELECT rf_test_id(" + Today() + ", 99)");
  db.Exec("SELECT rf_test_run('" + c.a_live + "', 'a', 'waiting', NULL)");
  db.Exec("SELECT rf_ensure_partitions(" + Today() + " - 1, " + Today() + " - 1)");
  CHECK(db.Value("SELECT count(*) FROM runs_default") == "0");
  list_case = &c;
  Fixture f(url);
  Run(f, &ListBody);
}

TEST_CASE("Expire drops the partitions of expired days and keeps recent and live runs" *
          doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  Db db(url);
  // Days 10 and 9 ago get partitions (as the daemon would have made them then).
  db.Exec("SELECT rf_ensure_partitions(" + Today() + " - 10, " + Today() + " - 9)");
  const std::string d10 = db.Value("SELECT to_char(" + Today() + " - 10, 'YYYYMMDD')");
  const std::string d9 = db.Value("SELECT to_char(" + Today() + " - 9, 'YYYYMMDD')");
  auto id = [&](const std::string& days_ago, int n) {
    return db.Value("SELECT rf_test_id(" + Today() + " - " + days_ago + ", " + std::to_string(n) +
                    ")");
  };
  const std::string old1 = id("10", 1), old2 = id("10", 2), old3 = id("9", 1);
  const std::string live = id("10", 3), survivor = id("10", 4), recent = id("0", 1);
  for (const std::string& o : {old1, old2})
    db.Exec("SELECT rf_test_run('" + o + "', 'w', 'succeeded', now() - interval '10 days')");
  db.Exec("SELECT rf_test_run('" + old3 + "', 'w', 'failed', now() - interval '9 days')");
  db.Exec("SELECT rf_test_run('" + live + "', 'w', 'waiting', NULL)");
  db.Exec("SELECT rf_test_run('" + survivor + "', 'w', 'succeeded', now() - interval '1 day')");
  db.Exec("SELECT rf_test_run('" + recent + "', 'w', 'succeeded', now())");
  CHECK(db.Value("SELECT tableoid::regclass::text FROM runs WHERE run_id = '" + old1 + "'") ==
        "runs_p" + d10);
  // Tomorrow's partitions already exist (the migration made today .. today + 2); drop the
  // day after tomorrow's to see retention make it again.
  const std::string d2 = db.Value("SELECT to_char(" + Today() + " + 2, 'YYYYMMDD')");
  db.Exec("DROP TABLE runs_p" + d2 + ", run_records_p" + d2 + ", timeouts_p" + d2);

  ExpireCase c;
  c.cutoff_ms = (WallNow() / kMillis) - 5 * kDayMs;
  c.survivor = survivor;
  expire_case = &c;
  Fixture f(url);
  Run(f, &ExpireBody);

  REQUIRE_MESSAGE(c.removed.has_value(), c.removed.error().ToString());
  CHECK(*c.removed == 3);  // old1, old2, old3
  CHECK(f.store.stats().runs_expired.Get() == 3);
  for (const char* t : {"runs_p", "run_records_p", "timeouts_p"}) {
    CHECK(db.Value("SELECT to_regclass('" + std::string(t) + d10 + "') IS NULL") == "t");
    CHECK(db.Value("SELECT to_regclass('" + std::string(t) + d9 + "') IS NULL") == "t");
    CHECK(db.Value("SELECT to_regclass('" + std::string(t) + d2 + "') IS NULL") == "f");
  }
  CHECK(db.Value("SELECT count(*) FROM runs WHERE run_id IN ('" + old1 + "', '" + old2 + "', '" +
                 old3 + "')") == "0");
  CHECK(db.Value("SELECT count(*) FROM run_records WHERE run_id = '" + old1 + "'") == "0");
  // The live run and the one that finished after the cutoff moved to DEFAULT, with their
  // records and timers; today's run stays in today's partition.
  for (const std::string& kept : {live, survivor}) {
    CHECK(db.Value("SELECT tableoid::regclass::text FROM runs WHERE run_id = '" + kept + "'") ==
          "runs_default");
    CHECK(db.Value("SELECT count(*) FROM run_records_default WHERE run_id = '" + kept + "'") ==
          "2");
    CHECK(db.Value("SELECT count(*) FROM timeouts_default WHERE run_id = '" + kept + "'") == "1");
  }
  CHECK(db.Value("SELECT tableoid::regclass::text FROM runs WHERE run_id = '" + recent + "'") ==
        "runs_p" + db.Value("SELECT to_char(" + Today() + ", 'YYYYMMDD')"));
  REQUIRE(c.survivor_after.has_value());
  REQUIRE(c.survivor_after->has_value());
  CHECK((*c.survivor_after)->log == ExpectedLog(survivor));

  // Once the survivor expires too, it goes row by row from DEFAULT; the live run stays.
  db.Exec("SELECT rf_expire(now(), 1000)");
  CHECK(db.Value("SELECT count(*) FROM runs_default") == "1");
  CHECK(db.Value("SELECT count(*) FROM run_records_default") == "2");
  CHECK(db.Value("SELECT count(*) FROM runs WHERE run_id = '" + live + "'") == "1");
}

TEST_CASE("RefreshBytes sums finished runs' logs per namespace; expiry brings a namespace to 0" *
          doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  Db db(url);
  db.Exec("SELECT rf_ensure_partitions(" + Today() + " - 10, " + Today() + " - 10)");
  auto id = [&](const std::string& days_ago, int n) {
    return db.Value("SELECT rf_test_id(" + Today() + " - " + days_ago + ", " + std::to_string(n) + ")");
  };
  const std::string old_team = id("10", 1), a = id("0", 1), b = id("0", 2), live = id("0", 3);
  db.Exec("SELECT rf_test_run('" + old_team + "', 'team/x', 'succeeded', now() - interval '10 days')");
  db.Exec("SELECT rf_test_run('" + a + "', 'w', 'succeeded', now())");
  db.Exec("SELECT rf_test_run('" + b + "', 'w', 'failed', now())");
  db.Exec("SELECT rf_test_run('" + live + "', 'team/x', 'waiting', NULL)");
  // Migration 0013's count for rows written before it: the engine's framing of the run's log.
  db.Exec("UPDATE runs u SET history_bytes = (SELECT sum(octet_length(r.payload) + "
          "3 * (r.last_seq - r.seq + 1) + 1) FROM run_records r WHERE r.run_id = u.run_id)");
  CHECK(db.Value("SELECT history_bytes FROM runs WHERE run_id = '" + a + "'") ==
        std::to_string(ExpectedLog(a).size()));
  BytesCase c;
  c.cutoff_ms = (WallNow() / kMillis) - 5 * kDayMs;
  bytes_case = &c;
  Fixture f(url);
  Run(f, &BytesBody);
  REQUIRE_MESSAGE(c.first.has_value(), c.first.error().ToString());
  REQUIRE_MESSAGE(c.after_expire.has_value(), c.after_expire.error().ToString());
  const auto log = [](const std::string& run) { return static_cast<int64_t>(ExpectedLog(run).size()); };
  CHECK(c.before.size() == 2);
  CHECK(c.before.at("team") == log(old_team));  // the live run of the team does not count
  CHECK(c.before.at("default") == log(a) + log(b));
  // After retention: the team's only finished run is gone (reported as 0), default's two stay;
  // the live run never counts.
  CHECK(c.seen.at("team") == 0);
  CHECK(c.seen.at("default") == log(a) + log(b));
  CHECK(db.Value("SELECT count(*) FROM runs WHERE run_id = '" + old_team + "'") == "0");
}

TEST_CASE("Expire stops after the day that reaches max and never splits a day" *
          doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  Db db(url);
  db.Exec("SELECT rf_ensure_partitions(" + Today() + " - 12, " + Today() + " - 11)");
  for (const char* days_ago : {"12", "11"})
    for (int i = 1; i <= 2; ++i)
      db.Exec("SELECT rf_test_run(rf_test_id(" + Today() + " - " + days_ago + ", " +
              std::to_string(i) + "), 'w', 'succeeded', now() - interval '11 days')");
  const std::string d12 = db.Value("SELECT to_char(" + Today() + " - 12, 'YYYYMMDD')");
  const std::string d11 = db.Value("SELECT to_char(" + Today() + " - 11, 'YYYYMMDD')");
  // max 1: the oldest day goes whole (2 runs), the next one stays for the next pass.
  CHECK(db.Value("SELECT rf_expire(now() - interval '1 day', 1)") == "2");
  CHECK(db.Value("SELECT to_regclass('runs_p" + d12 + "') IS NULL") == "t");
  CHECK(db.Value("SELECT to_regclass('runs_p" + d11 + "') IS NULL") == "f");
  CHECK(db.Value("SELECT rf_expire(now() - interval '1 day', 1)") == "2");
  CHECK(db.Value("SELECT to_regclass('runs_p" + d11 + "') IS NULL") == "t");
  CHECK(db.Value("SELECT rf_expire(now() - interval '1 day', 1)") == "0");
}

TEST_CASE("a day partition made late takes the rows DEFAULT held for that day" *
          doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  Db db(url);
  const std::string id = db.Value("SELECT rf_test_id(" + Today() + " + 5, 1)");
  db.Exec("SELECT rf_test_run('" + id + "', 'w', 'succeeded', now())");
  CHECK(db.Value("SELECT tableoid::regclass::text FROM runs WHERE run_id = '" + id + "'") ==
        "runs_default");
  CHECK(db.Value("SELECT rf_ensure_partitions(" + Today() + " + 5, " + Today() + " + 5)") == "3");
  const std::string day = db.Value("SELECT to_char(" + Today() + " + 5, 'YYYYMMDD')");
  CHECK(db.Value("SELECT tableoid::regclass::text FROM runs WHERE run_id = '" + id + "'") ==
        "runs_p" + day);
  CHECK(db.Value("SELECT count(*) FROM run_records_p" + day) == "2");
  CHECK(db.Value("SELECT count(*) FROM timeouts_p" + day) == "1");
  CHECK(db.Value("SELECT count(*) FROM runs_default") == "0");
  CHECK(db.Value("SELECT rf_ensure_partitions(" + Today() + " + 5, " + Today() + " + 5)") == "0");
}

TEST_CASE("Export hands out the runs finished before a time, oldest first, with their logs" *
          doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  Db db(url);
  std::vector<std::string> ids;
  for (int i = 1; i <= 4; ++i) ids.push_back(db.Value("SELECT rf_test_id(" + Today() + ", " +
                                                      std::to_string(i) + ")"));
  // Finished 3, 1 and 2 hours ago (export order: ids[2], ids[0], ids[1]); ids[3] just now.
  db.Exec("SELECT rf_test_run('" + ids[0] + "', 'w', 'succeeded', now() - interval '1 hour')");
  db.Exec("SELECT rf_test_run('" + ids[1] + "', 'w', 'cancelled', now() - interval '2 hours' + interval '30 minutes')");
  db.Exec("SELECT rf_test_run('" + ids[2] + "', 'w', 'failed', now() - interval '3 hours')");
  db.Exec("SELECT rf_test_run('" + ids[3] + "', 'w', 'succeeded', now())");
  PgHistoryStore store(Options(url), [] { return PgHistoryStore::ShardPools{}; });
  std::vector<HistoryRun> got;
  Status st = store.Export(WallNow() / kMillis - 10 * 60 * 1000, [&](const HistoryRun& r) {
    got.push_back(r);
    return Status{};
  });
  REQUIRE_MESSAGE(st.has_value(), st.error().ToString());
  REQUIRE(got.size() == 3);
  CHECK(got[0].id.ToString() == ids[2]);
  CHECK(got[1].id.ToString() == ids[1]);
  CHECK(got[2].id.ToString() == ids[0]);
  for (const HistoryRun& r : got) CHECK(r.log == ExpectedLog(r.id.ToString()));
  CHECK(got[1].status == RunStatus::kCancelled);
  // The callback's error ends the export.
  int calls = 0;
  Status stopped = store.Export(WallNow() / kMillis, [&](const HistoryRun&) -> Status {
    ++calls;
    return Error{Errc::kIo, "disk full"};
  });
  CHECK(calls == 1);
  CHECK((!stopped && stopped.error().code == Errc::kIo));
}

TEST_CASE("calls on a shard whose store is not open fail with kUnavailable" *
          doctest::timeout(120)) {
  Fixture f(FreshDatabase());
  Run(f, &NoPoolBody);
}

TEST_CASE("recovery loads only unfinished runs" * doctest::timeout(120)) {
  const std::string url = FreshDatabase();
  Db db(url);
  const std::string done = db.Value("SELECT rf_test_id(" + Today() + ", 1)");
  const std::string live = db.Value("SELECT rf_test_id(" + Today() + ", 2)");
  db.Exec("SELECT rf_test_run('" + done + "', 'w', 'succeeded', now())");
  db.Exec("SELECT rf_test_run('" + live + "', 'w', 'running', NULL)");
  RecoveryCase c;
  c.url = url;
  test::RunOnReactor(1, [&c](Reactor&) { return RecoveryBody(&c); });
  std::vector<std::string> want;
  for (int r = 1; r <= 3; ++r) want.push_back("{\"r\":" + std::to_string(r) + ",\"run\":\"" + live + "\"}");
  CHECK(c.records == want);
}

}  // TEST_SUITE

}  // namespace
}  // namespace rf::store::pg
