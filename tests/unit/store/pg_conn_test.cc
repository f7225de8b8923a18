// PgConn and PgPool against a private PostgreSQL cluster that tools/pg.sh starts once for the
// suite (in a directory under /tmp, stopped and removed at exit). Without tools/pg.sh, or if
// the cluster cannot start, every case here fails and says why.

#include "store/postgres/pg_conn.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "reactor/offload.h"
#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "test_support.h"
#include "store/postgres/pg_pool.h"
#include "store/pg_cluster.h"

namespace rf::store::pg {
namespace {

using reactor::Reactor;
using reactor::Task;

constexpr Nanos kWait = 10 * kSeconds;  // bound of every exchange that should succeed

double MillisSince(Nanos start) { return static_cast<double>(MonoNow() - start) / 1e6; }

using test::Cluster;

// The cluster's URL; fails the calling case (with the reason) when there is none.
const Cluster* RequireCluster() {
  const Cluster& c = Cluster::Get();
  if (!c.ok()) FAIL("no PostgreSQL for the store.pg suite: " << c.error());
  return &c;
}

void Run(Task<void> (*body)(const Cluster*)) {
  const Cluster* c = RequireCluster();
  test::RunOnReactor(1, [c, body](Reactor&) { return body(c); });
}

// A port on 127.0.0.1 that nobody listens on (bound, then released).
uint16_t UnusedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

Task<Result<std::unique_ptr<PgConn>>> ConnectTo(const Cluster* c) {
  Result<std::unique_ptr<PgConn>> conn =
      co_await PgConn::Connect(std::string(c->url()), Deadline::After(kWait));  // suspends
  if (!conn) FAIL_CHECK("connect: " << conn.error().ToString());
  co_return conn;
}

// One statement whose single value is returned ("" with a failed check on error).
Task<std::string> Scalar(PgConn* conn, std::string sql) {
  Result<PgResult> r = co_await conn->Exec(std::move(sql), Deadline::After(kWait));  // suspends
  if (!r) {
    FAIL_CHECK("exec: " << r.error().ToString());
    co_return std::string();
  }
  if (r->rows() != 1 || r->cols() != 1) {
    FAIL_CHECK("expected one value, got " << r->rows() << "x" << r->cols());
    co_return std::string();
  }
  co_return std::string(r->value(0, 0));
}

// ---- cases ----------------------------------------------------------------------------------

Task<void> ConnectBody(const Cluster* c) {
  const Nanos start = MonoNow();
  Result<std::unique_ptr<PgConn>> conn = co_await ConnectTo(c);  // suspends
  CO_REQUIRE(conn.has_value());
  MESSAGE("connect: " << MillisSince(start) << " ms");
  PgConn* pg = conn->get();
  CHECK_FALSE(pg->broken());
  CHECK(pg->server_version() >= 140000);
  CHECK(pg->backend_pid() > 0);
  CHECK(pg->transaction_idle());
  const std::string one = co_await Scalar(pg, "SELECT 1");  // suspends
  CHECK(one == "1");
  // The session setup ran: a backend notices within a second that its client went away.
  const std::string interval = co_await Scalar(pg, "SHOW client_connection_check_interval");
  CHECK(interval == "1s");
  // A SQL error is the statement's, not the connection's.
  Result<PgResult> bad = co_await pg->Exec("SELECT * FROM no_such_table", Deadline::After(kWait));
  CO_REQUIRE(!bad.has_value());
  CHECK(bad.error().code == Errc::kInternal);
  CHECK(bad.error().context.find("42P01") != std::string::npos);
  CHECK(bad.error().context.find("no_such_table") != std::string::npos);
  CHECK_FALSE(pg->broken());
  const std::string two = co_await Scalar(pg, "SELECT 2");  // suspends
  CHECK(two == "2");
}

Task<void> PrepareBody(const Cluster* c) {
  Result<std::unique_ptr<PgConn>> conn = co_await ConnectTo(c);  // suspends
  CO_REQUIRE(conn.has_value());
  PgConn* pg = conn->get();
  Status st = co_await pg->Prepare("add", "SELECT $1::int + $2::int, $3::text IS NULL, $3", 3,
                                   Deadline::After(kWait));  // suspends
  CO_REQUIRE(st.has_value());
  std::vector<Query> qs;
  qs.push_back(Query{.stmt_name_or_sql = "add", .prepared = true, .params = {"40", "2", {}}});
  qs.push_back(Query{.stmt_name_or_sql = "add", .prepared = true, .params = {"1", "1", "x"}});
  Result<std::vector<PgResult>> r =
      co_await pg->Pipeline(std::span<const Query>(qs), Deadline::After(kWait));  // suspends
  CO_REQUIRE(r.has_value());
  CO_REQUIRE(r->size() == 2);
  const PgResult& a = (*r)[0];
  CO_REQUIRE(a.status() == PgResult::Status::kRows);
  CO_REQUIRE(a.rows() == 1);
  CHECK(a.value(0, 0) == "42");
  CHECK(a.value(0, 1) == "t");
  CHECK(a.is_null(0, 2));
  const PgResult& b = (*r)[1];
  CO_REQUIRE(b.rows() == 1);
  CHECK(b.value(0, 1) == "f");
  CHECK(b.value(0, 2) == "x");
  CHECK_FALSE(b.is_null(0, 2));
  // A second statement by the same name is PostgreSQL's error, and the connection carries on.
  Status again = co_await pg->Prepare("add", "SELECT 1", 0, Deadline::After(kWait));
  CO_REQUIRE(!again.has_value());
  CHECK(again.error().context.find("42P05") != std::string::npos);  // duplicate_prepared_statement
  // A NUL byte cannot travel as text: refused before anything is sent.
  std::vector<Query> nul;
  nul.push_back(Query{.stmt_name_or_sql = "add",
                      .prepared = true,
                      .params = {std::string_view("1\0", 2), "1", {}}});
  Result<std::vector<PgResult>> refused =
      co_await pg->Pipeline(std::span<const Query>(nul), Deadline::After(kWait));  // suspends
  CO_REQUIRE(!refused.has_value());
  CHECK(refused.error().code == Errc::kInvalidArgument);
  CHECK_FALSE(pg->broken());
  const std::string three = co_await Scalar(pg, "SELECT 3");  // suspends
  CHECK(three == "3");
}

Task<void> ThousandInsertsBody(const Cluster* c) {
  Result<std::unique_ptr<PgConn>> conn = co_await ConnectTo(c);  // suspends
  CO_REQUIRE(conn.has_value());
  PgConn* pg = conn->get();
  Result<PgResult> created = co_await pg->Exec(
      "CREATE TABLE bulk (id int PRIMARY KEY, body text NOT NULL)", Deadline::After(kWait));
  CO_REQUIRE(created.has_value());
  Status st = co_await pg->Prepare("bulk_insert", "INSERT INTO bulk (id, body) VALUES ($1, $2)", 2,
                                   Deadline::After(kWait));  // suspends
  CO_REQUIRE(st.has_value());

  constexpr int kRows = 1000;
  std::vector<std::string> ids, bodies;
  for (int i = 0; i < kRows; ++i) {
    ids.push_back(std::to_string(i));
    bodies.push_back("row " + std::to_string(i) + " " + std::string(100, 'x'));
  }
  std::vector<Query> qs;
  for (int i = 0; i < kRows; ++i) {
    qs.push_back(Query{.stmt_name_or_sql = "bulk_insert",
                       .prepared = true,
                       .params = {ids[static_cast<size_t>(i)], bodies[static_cast<size_t>(i)]}});
  }
  // One Sync for all of it: one implicit transaction, so every row has the same xmin.
  qs.push_back(Query{.stmt_name_or_sql =
                         "SELECT count(*), count(DISTINCT xmin::text), sum(length(body)) FROM bulk",
                     .prepared = false,
                     .params = {}});
  const Nanos start = MonoNow();
  Result<std::vector<PgResult>> r =
      co_await pg->Pipeline(std::span<const Query>(qs), Deadline::After(kWait));  // suspends
  const double ms = MillisSince(start);
  CO_REQUIRE(r.has_value());
  CO_REQUIRE(r->size() == kRows + 1);
  int inserted = 0;
  for (int i = 0; i < kRows; ++i) {
    const PgResult& one = (*r)[static_cast<size_t>(i)];
    if (one.status() == PgResult::Status::kCommand && one.affected() == 1) ++inserted;
  }
  CHECK(inserted == kRows);
  const PgResult& sel = r->back();
  CO_REQUIRE(sel.rows() == 1);
  CHECK(sel.value(0, 0) == "1000");
  CHECK(sel.value(0, 1) == "1");  // one transaction
  CHECK(FirstError(*r).has_value());
  MESSAGE("pipeline of " << kRows << " inserts + 1 select: " << ms << " ms");
  const std::string committed = co_await Scalar(pg, "SELECT count(*) FROM bulk");  // suspends
  CHECK(committed == "1000");
}

Task<void> AbortedTransactionBody(const Cluster* c) {
  Result<std::unique_ptr<PgConn>> conn = co_await ConnectTo(c);  // suspends
  CO_REQUIRE(conn.has_value());
  PgConn* pg = conn->get();
  Result<PgResult> created = co_await pg->Exec("CREATE TABLE tx (id int PRIMARY KEY)",
                                               Deadline::After(kWait));  // suspends
  CO_REQUIRE(created.has_value());

  const char* with_begin[] = {"BEGIN", "INSERT INTO tx VALUES (1)", "INSERT INTO tx VALUES (1)",
                              "INSERT INTO tx VALUES (2)", "COMMIT"};
  std::vector<Query> qs;
  for (const char* sql : with_begin) qs.push_back(Query{.stmt_name_or_sql = sql});
  Result<std::vector<PgResult>> r =
      co_await pg->Pipeline(std::span<const Query>(qs), Deadline::After(kWait));  // suspends
  CO_REQUIRE(r.has_value());
  CO_REQUIRE(r->size() == 5);
  CHECK((*r)[0].status() == PgResult::Status::kCommand);
  CHECK((*r)[1].status() == PgResult::Status::kCommand);
  CHECK((*r)[1].affected() == 1);
  CHECK((*r)[2].is_error());
  CHECK((*r)[2].sqlstate() == "23505");
  CHECK((*r)[2].error().find("tx_pkey") != std::string::npos);
  CHECK((*r)[2].error().find("Key (id)=(1) already exists") != std::string::npos);
  CHECK((*r)[3].is_aborted());
  CHECK((*r)[4].is_aborted());
  Status first = FirstError(*r);
  CO_REQUIRE(!first.has_value());
  CHECK(first.error().code == Errc::kConflict);
  CHECK(first.error().context.find("statement 3 of 5 failed: SQLSTATE 23505") == 0);
  MESSAGE("reported as: " << first.error().ToString());
  // Rolled back, and the connection is ready for more.
  CHECK(pg->transaction_idle());
  CHECK_FALSE(pg->broken());
  const std::string none = co_await Scalar(pg, "SELECT count(*) FROM tx");  // suspends
  CHECK(none == "0");

  // Without BEGIN the pipeline is one implicit transaction: the same all-or-nothing.
  qs.clear();
  for (const char* sql : {"INSERT INTO tx VALUES (5)", "SELECT 1/0", "INSERT INTO tx VALUES (6)"}) {
    qs.push_back(Query{.stmt_name_or_sql = sql});
  }
  Result<std::vector<PgResult>> implicit =
      co_await pg->Pipeline(std::span<const Query>(qs), Deadline::After(kWait));  // suspends
  CO_REQUIRE(implicit.has_value());
  CO_REQUIRE(implicit->size() == 3);
  CHECK((*implicit)[0].ok());
  CHECK((*implicit)[1].sqlstate() == "22012");  // division_by_zero
  CHECK((*implicit)[2].is_aborted());
  const std::string still_none = co_await Scalar(pg, "SELECT count(*) FROM tx");  // suspends
  CHECK(still_none == "0");

  // And a good transaction commits.
  qs.clear();
  for (const char* sql :
       {"BEGIN", "INSERT INTO tx VALUES (7)", "INSERT INTO tx VALUES (8)", "COMMIT"}) {
    qs.push_back(Query{.stmt_name_or_sql = sql});
  }
  Result<std::vector<PgResult>> good =
      co_await pg->Pipeline(std::span<const Query>(qs), Deadline::After(kWait));  // suspends
  CO_REQUIRE(good.has_value());
  CHECK(FirstError(*good).has_value());
  const std::string two = co_await Scalar(pg, "SELECT count(*) FROM tx");  // suspends
  CHECK(two == "2");
}

Task<void> DeadlineBody(const Cluster* c) {
  Result<std::unique_ptr<PgConn>> conn = co_await ConnectTo(c);  // suspends
  CO_REQUIRE(conn.has_value());
  PgConn* pg = conn->get();
  const int pid = pg->backend_pid();
  std::vector<Query> qs;
  qs.push_back(Query{.stmt_name_or_sql = "SELECT pg_sleep(5)"});
  const Nanos start = MonoNow();
  Result<std::vector<PgResult>> r =
      co_await pg->Pipeline(std::span<const Query>(qs), Deadline::After(200 * kMillis));
  const double ms = MillisSince(start);
  MESSAGE("pg_sleep(5) under a 200 ms deadline returned after " << ms << " ms");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kTimeout);
  CHECK(ms >= 190);
  CHECK(ms < 1000);
  CHECK(pg->broken());
  // Closed: later calls fail at once.
  Result<PgResult> after = co_await pg->Exec("SELECT 1", Deadline::After(kWait));  // suspends
  CO_REQUIRE(!after.has_value());
  CHECK(after.error().code == Errc::kUnavailable);

  // The abandoned backend stops well before its 5 s (client_connection_check_interval).
  Result<std::unique_ptr<PgConn>> watcher = co_await ConnectTo(c);  // suspends
  CO_REQUIRE(watcher.has_value());
  const std::string query =
      "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid);
  std::string alive = "1";
  const Nanos watch_start = MonoNow();
  while (alive != "0" && MillisSince(watch_start) < 4000) {
    co_await reactor::Sleep(50 * kMillis);                        // suspends
    alive = co_await Scalar(watcher->get(), std::string(query));  // suspends
  }
  CHECK(alive == "0");
  MESSAGE("the abandoned backend was gone " << MillisSince(start) << " ms after the call began");

  // A deadline already past: refused before sending, and the connection stays usable.
  Result<std::vector<PgResult>> late =
      co_await (*watcher)->Pipeline(std::span<const Query>(qs), Deadline::After(-1));
  CO_REQUIRE(!late.has_value());
  CHECK(late.error().code == Errc::kTimeout);
  CHECK_FALSE((*watcher)->broken());
}

Task<void> RefusedBody(const Cluster*) {
  const std::string url =
      "postgresql://ringflow@127.0.0.1:" + std::to_string(UnusedPort()) + "/ringflow";
  const Nanos start = MonoNow();
  Result<std::unique_ptr<PgConn>> conn =
      co_await PgConn::Connect(std::string(url), Deadline::After(5 * kSeconds));  // suspends
  const double ms = MillisSince(start);
  MESSAGE("connect to a closed port failed after " << ms << " ms");
  CO_REQUIRE(!conn.has_value());
  CHECK(conn.error().code == Errc::kUnavailable);
  CHECK(conn.error().context.find("refused") != std::string::npos);
  CHECK(ms < 1000);
}

Task<void> SilentServerBody(const Cluster*) {
  // Accepts TCP connections (the kernel does, from the backlog) but never says a word.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CO_REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  CO_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  CO_REQUIRE(::listen(fd, 8) == 0);
  CO_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const std::string url = "postgresql://ringflow@127.0.0.1:" + std::to_string(ntohs(a.sin_port)) +
                          "/ringflow?sslmode=disable";
  const Nanos start = MonoNow();
  Result<std::unique_ptr<PgConn>> conn =
      co_await PgConn::Connect(std::string(url), Deadline::After(300 * kMillis));  // suspends
  const double ms = MillisSince(start);
  ::close(fd);
  MESSAGE("connect to a silent server gave up after " << ms << " ms");
  CO_REQUIRE(!conn.has_value());
  CHECK(conn.error().code == Errc::kTimeout);
  CHECK(ms >= 290);
  CHECK(ms < 1000);
}

Task<void> HostNameBody(const Cluster* c) {
  // The same server by name: resolved on an Offload helper, then handed to libpq as hostaddr.
  std::string url = c->url();
  const size_t at = url.find("127.0.0.1");
  CO_REQUIRE(at != std::string::npos);
  url.replace(at, 9, "localhost");
  Result<std::unique_ptr<PgConn>> conn =
      co_await PgConn::Connect(std::move(url), Deadline::After(kWait));  // suspends
  if (!conn) FAIL_CHECK(conn.error().ToString());
  CO_REQUIRE(conn.has_value());
  const std::string one = co_await Scalar(conn->get(), "SELECT 1");  // suspends
  CHECK(one == "1");
  // A unix socket directory needs no lookup either (key=value form this time).
  const std::string port =
      c->url().substr(c->url().rfind(':') + 1, c->url().rfind('/') - c->url().rfind(':') - 1);
  Result<std::unique_ptr<PgConn>> unix_conn = co_await PgConn::Connect(
      "host=" + c->dir() + " port=" + port + " user=ringflow dbname=ringflow",
      Deadline::After(kWait));  // suspends
  if (!unix_conn) FAIL_CHECK(unix_conn.error().ToString());
  CO_REQUIRE(unix_conn.has_value());
  const std::string path = co_await Scalar(unix_conn->get(), "SELECT inet_server_addr() IS NULL");
  CHECK(path == "t");  // no TCP address: it came over the socket
  Result<std::unique_ptr<PgConn>> bad = co_await PgConn::Connect(
      "postgresql://ringflow@no-such-host.invalid:5432/ringflow", Deadline::After(kWait));
  CO_REQUIRE(!bad.has_value());
  // kTimeout only where DNS itself hangs for 10 s.
  CHECK((bad.error().code == Errc::kUnavailable || bad.error().code == Errc::kTimeout));
  if (bad.error().code == Errc::kUnavailable) {
    CHECK(bad.error().context.find("no-such-host.invalid") != std::string::npos);
  }
  Result<std::unique_ptr<PgConn>> service =
      co_await PgConn::Connect("service=ringflow", Deadline::After(kWait));  // suspends
  CO_REQUIRE(!service.has_value());
  CHECK(service.error().code == Errc::kInvalidArgument);
}

// ---- pool -----------------------------------------------------------------------------------

struct Order {
  std::vector<int> got;
};

Task<void> AcquireInTurn(PgPool* pool, int id, Nanos timeout, Order* order) {
  Result<PgConn*> conn = co_await pool->Acquire(Deadline::After(timeout));  // suspends
  if (!conn) {
    order->got.push_back(-id);
    co_return;
  }
  order->got.push_back(id);
  co_await reactor::Sleep(20 * kMillis);  // suspends: hold it a little
  pool->Release(*conn);
}

// The pool cases: steps on a started pool, which the body always closes afterwards (a pool must
// not be destroyed while its background tasks run, even when a step failed).
Task<void> PoolFifoSteps(PgPool* pool_ptr) {
  PgPool& pool = *pool_ptr;
  Result<PgConn*> first = co_await pool.Acquire(Deadline::After(kWait));  // suspends
  if (!first) FAIL_CHECK(first.error().ToString());
  CO_REQUIRE(first.has_value());
  CHECK(pool.healthy());
  Order order;
  reactor::TaskGroup group;
  reactor::Spawn(AcquireInTurn(&pool, 1, kWait, &order), &group);
  reactor::Spawn(AcquireInTurn(&pool, 2, 50 * kMillis, &order), &group);  // gives up first
  reactor::Spawn(AcquireInTurn(&pool, 3, kWait, &order), &group);
  reactor::Spawn(AcquireInTurn(&pool, 4, kWait, &order), &group);
  co_await reactor::Sleep(150 * kMillis);  // suspends: all four are waiting, 2 has timed out
  CHECK(pool.waiting() == 3);
  pool.Release(*first);
  auto all_done = group.Wait();
  co_await all_done;  // suspends
  CHECK(order.got == std::vector<int>{-2, 1, 3, 4});
  CHECK(pool.stats().wait_timeouts.Get() == 1);
  CHECK(pool.idle() == 1);
}

Task<void> PoolFifoBody(const Cluster* c) {
  PgPool pool(PgPool::Options{.url = c->url(), .size = 1});
  pool.Start();
  co_await PoolFifoSteps(&pool);                                           // suspends
  co_await pool.Close();                                                   // suspends
  Result<PgConn*> closed = co_await pool.Acquire(Deadline::After(kWait));  // suspends
  CO_REQUIRE(!closed.has_value());
  CHECK(closed.error().code == Errc::kUnavailable);
}

Task<bool> WaitFor(const PgPool* pool, bool healthy, Nanos timeout) {
  const Nanos until = MonoNow() + timeout;
  while (pool->healthy() != healthy && MonoNow() < until) {
    co_await reactor::Sleep(20 * kMillis);  // suspends
  }
  co_return pool->healthy() == healthy;
}

Task<void> PoolRestartSteps(PgPool* pool_ptr, const Cluster* c) {
  PgPool& pool = *pool_ptr;
  {
    Result<PgConn*> conn = co_await pool.Acquire(Deadline::After(kWait));  // suspends
    if (!conn) FAIL_CHECK(conn.error().ToString());
    CO_REQUIRE(conn.has_value());
    PgLease lease(&pool, *conn);
    std::vector<Query> qs;
    qs.push_back(Query{.stmt_name_or_sql = "echo", .prepared = true, .params = {"before"}});
    Result<std::vector<PgResult>> r =
        co_await lease->Pipeline(std::span<const Query>(qs), Deadline::After(kWait));
    CO_REQUIRE(r.has_value());
    CHECK((*r)[0].value(0, 0) == "before");
  }
  const bool both_up = co_await WaitFor(&pool, true, kWait);  // suspends
  CHECK(both_up);

  // Stop the server (from a helper thread: the shard keeps running meanwhile).
  auto stop = reactor::Offload([c] { return c->Run("stop"); });
  Status stopped = co_await stop;  // suspends
  if (!stopped) FAIL_CHECK(stopped.error().context);
  CO_REQUIRE(stopped.has_value());
  const Nanos down_at = MonoNow();
  const bool noticed = co_await WaitFor(&pool, false, 5 * kSeconds);  // suspends
  CHECK(noticed);
  MESSAGE("pool noticed the server stop after " << MillisSince(down_at) << " ms");
  CHECK(pool.stats().dropped.Get() >= 2);
  // Down: Acquire fails (at once, or when the attempt in flight fails), never hangs.
  const Nanos acquire_start = MonoNow();
  Result<PgConn*> none = co_await pool.Acquire(Deadline::After(kWait));  // suspends
  CO_REQUIRE(!none.has_value());
  CHECK(none.error().code == Errc::kUnavailable);
  CHECK(MillisSince(acquire_start) < 3000);
  MESSAGE("Acquire while down: " << none.error().ToString());

  auto start = reactor::Offload([c] { return c->Run("start"); });
  Status started = co_await start;  // suspends
  if (!started) FAIL_CHECK(started.error().context);
  CO_REQUIRE(started.has_value());
  const Nanos up_at = MonoNow();
  const bool back = co_await WaitFor(&pool, true, 15 * kSeconds);  // suspends
  CHECK(back);
  MESSAGE("pool reconnected " << MillisSince(up_at) << " ms after the server was back");
  {
    Result<PgConn*> conn = co_await pool.Acquire(Deadline::After(kWait));  // suspends
    if (!conn) FAIL_CHECK(conn.error().ToString());
    CO_REQUIRE(conn.has_value());
    PgLease lease(&pool, *conn);
    std::vector<Query> qs;
    qs.push_back(Query{.stmt_name_or_sql = "echo", .prepared = true, .params = {"after"}});
    Result<std::vector<PgResult>> r =
        co_await lease->Pipeline(std::span<const Query>(qs), Deadline::After(kWait));
    CO_REQUIRE(r.has_value());
    CHECK((*r)[0].value(0, 0) == "after");  // the statement was prepared on the new connection
  }
  CHECK(pool.stats().connects.Get() >= 3);
  CHECK(pool.stats().connect_failures.Get() >= 1);
}

Task<void> PoolRestartBody(const Cluster* c) {
  PgPool pool(PgPool::Options{.url = c->url(),
                              .size = 2,
                              .connect_timeout = 2 * kSeconds,
                              .idle_check_interval = 100 * kMillis,
                              .statements = {{"echo", "SELECT $1::text", 1}}});
  pool.Start();
  co_await PoolRestartSteps(&pool, c);  // suspends
  co_await pool.Close();                // suspends
}

Task<void> PoolBrokenSteps(PgPool* pool_ptr) {
  PgPool& pool = *pool_ptr;
  Result<PgConn*> conn = co_await pool.Acquire(Deadline::After(kWait));  // suspends
  CO_REQUIRE(conn.has_value());
  const int first_pid = (*conn)->backend_pid();
  // A deadline mid-exchange breaks the connection; the pool replaces it.
  Result<PgResult> slow =
      co_await (*conn)->Exec("SELECT pg_sleep(5)", Deadline::After(100 * kMillis));
  CHECK(!slow.has_value());
  pool.Release(*conn);
  Result<PgConn*> next = co_await pool.Acquire(Deadline::After(kWait));  // suspends
  CO_REQUIRE(next.has_value());
  CHECK((*next)->backend_pid() != first_pid);
  // A connection left inside a transaction is not handed to the next caller either.
  Result<PgResult> begun = co_await (*next)->Exec("BEGIN", Deadline::After(kWait));  // suspends
  CHECK(begun.has_value());
  const int second_pid = (*next)->backend_pid();
  pool.Release(*next);
  Result<PgConn*> third = co_await pool.Acquire(Deadline::After(kWait));  // suspends
  CO_REQUIRE(third.has_value());
  CHECK((*third)->backend_pid() != second_pid);
  CHECK((*third)->transaction_idle());
  pool.Release(*third);
  CHECK(pool.stats().dropped.Get() == 2);
}

Task<void> PoolBrokenBody(const Cluster* c) {
  PgPool pool(PgPool::Options{.url = c->url(), .size = 1});
  pool.Start();
  co_await PoolBrokenSteps(&pool);  // suspends
  co_await pool.Close();            // suspends
}

Task<void> PoolBackoffBody(const Cluster*) {
  const std::string url =
      "postgresql://ringflow@127.0.0.1:" + std::to_string(UnusedPort()) + "/ringflow";
  PgPool pool(PgPool::Options{
      .url = url, .size = 1, .backoff_min = 100 * kMillis, .backoff_max = 400 * kMillis});
  pool.Start();
  // Attempts at about 0, 0.1, 0.3, 0.7, 1.1, 1.5, 1.9 s (each pause +-20%).
  co_await reactor::Sleep(2 * kSeconds);  // suspends
  const uint64_t failures = pool.stats().connect_failures.Get();
  MESSAGE("connection attempts in 2 s with backoff 100 ms .. 400 ms: " << failures);
  CHECK(failures >= 5);
  CHECK(failures <= 9);
  CHECK_FALSE(pool.healthy());
  CHECK(pool.last_error().find("refused") != std::string::npos);
  const Nanos start = MonoNow();
  Result<PgConn*> none = co_await pool.Acquire(Deadline::After(kWait));  // suspends
  CHECK_FALSE(none.has_value());
  CHECK(MillisSince(start) < 500);
  const Nanos close_start = MonoNow();
  co_await pool.Close();  // suspends: cuts the backoff short
  CHECK(MillisSince(close_start) < 100);
}

TEST_SUITE("store.pg") {
  TEST_CASE("a connection is made without blocking and runs statements" * doctest::timeout(120)) {
    Run(&ConnectBody);
  }
  TEST_CASE("prepared statements take text parameters and NULLs" * doctest::timeout(60)) {
    Run(&PrepareBody);
  }
  TEST_CASE("1000 inserts and a select go in one pipeline, one transaction" *
            doctest::timeout(60)) {
    Run(&ThousandInsertsBody);
  }
  TEST_CASE("an error inside BEGIN..COMMIT aborts the rest and commits nothing" *
            doctest::timeout(60)) {
    Run(&AbortedTransactionBody);
  }
  TEST_CASE("a statement past its deadline ends in kTimeout promptly and closes the connection" *
            doctest::timeout(60)) {
    Run(&DeadlineBody);
  }
  TEST_CASE("connecting to a port nobody listens on fails with kUnavailable, not a hang" *
            doctest::timeout(60)) {
    Run(&RefusedBody);
  }
  TEST_CASE("connecting to a server that never answers ends at the deadline" *
            doctest::timeout(60)) {
    Run(&SilentServerBody);
  }
  TEST_CASE("host names are resolved off the shard; socket directories work; service= is refused" *
            doctest::timeout(60)) {
    Run(&HostNameBody);
  }
  TEST_CASE("Acquire waits first come first served and gives up at its deadline" *
            doctest::timeout(60)) {
    Run(&PoolFifoBody);
  }
  TEST_CASE("the pool replaces broken connections and those left in a transaction" *
            doctest::timeout(60)) {
    Run(&PoolBrokenBody);
  }
  TEST_CASE("a pool whose server is down retries with capped exponential backoff" *
            doctest::timeout(60)) {
    Run(&PoolBackoffBody);
  }
  TEST_CASE("the pool reconnects after the server restarts" * doctest::timeout(120)) {
    Run(&PoolRestartBody);
  }
}

}  // namespace
}  // namespace rf::store::pg
