#include "store/postgres/pg_schedules.h"

#include "reactor/offload.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg {
namespace {

constexpr const char* kWhat = "postgres schedules";

struct TurnGuard {
  reactor::Turns& t;
  ~TurnGuard() { t.Release(); }
};

// Runs `fn(conn)` with the store's connection, connecting first when there is none; an error
// drops the connection so the next call connects again.
template <class R, class F>
R WithConn(BlockingConn& conn, const std::string& url, F&& fn) {
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    auto c = ConnectBlocking(url, kWhat);
    if (!c) return c.error();
    conn = std::move(*c);
  }
  R r = fn(conn.get());
  if (!r) conn.reset();
  return r;
}

std::string PgArray(const std::vector<uint32_t>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::to_string(v[i]);
  return out + "}";
}

}  // namespace

reactor::Task<Result<std::vector<ScheduleRow>>> PgScheduleStore::Load(
    std::vector<uint32_t> partitions) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  auto op = reactor::Offload([this,
                              parts = PgArray(partitions)]() -> Result<std::vector<ScheduleRow>> {
    return WithConn<Result<std::vector<ScheduleRow>>>(
        conn_, url_, [&](PGconn* c) -> Result<std::vector<ScheduleRow>> {
          auto r = ExecBlocking(
              c,
              "SELECT name, partition, spec, paused, created_ms, updated_ms, cursor_ms, last_run "
              "FROM schedules WHERE partition = ANY($1::int[]) ORDER BY name",
              {parts}, kWhat);
          if (!r) return r.error();
          std::vector<ScheduleRow> out;
          PGresult* res = r->get();
          for (int i = 0; i < PQntuples(res); ++i) {
            ScheduleRow s;
            s.name = PQgetvalue(res, i, 0);
            s.partition = static_cast<uint32_t>(std::strtoul(PQgetvalue(res, i, 1), nullptr, 10));
            s.spec = PQgetvalue(res, i, 2);
            s.paused = PQgetvalue(res, i, 3)[0] == 't';
            s.created_ms = std::strtoll(PQgetvalue(res, i, 4), nullptr, 10);
            s.updated_ms = std::strtoll(PQgetvalue(res, i, 5), nullptr, 10);
            s.cursor_ms = std::strtoll(PQgetvalue(res, i, 6), nullptr, 10);
            s.last_run = PQgetvalue(res, i, 7);
            out.push_back(std::move(s));
          }
          return out;
        });
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgScheduleStore::Put(ScheduleRow row) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  auto op = reactor::Offload([this, row = std::move(row)]() -> Status {
    return WithConn<Status>(conn_, url_, [&](PGconn* c) -> Status {
      auto r = ExecBlocking(
          c,
          "INSERT INTO schedules (name, partition, spec, paused, created_ms, updated_ms, "
          "cursor_ms, last_run) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
          "ON CONFLICT (name) DO UPDATE SET partition = EXCLUDED.partition, "
          "spec = EXCLUDED.spec, paused = EXCLUDED.paused, updated_ms = EXCLUDED.updated_ms, "
          "cursor_ms = EXCLUDED.cursor_ms, last_run = EXCLUDED.last_run",
          {row.name, std::to_string(row.partition), row.spec, row.paused ? "true" : "false",
           std::to_string(row.created_ms), std::to_string(row.updated_ms),
           std::to_string(row.cursor_ms), row.last_run},
          kWhat);
      if (!r) return r.error();
      return {};
    });
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgScheduleStore::Delete(std::string name) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  auto op = reactor::Offload([this, name = std::move(name)]() -> Status {
    bool missing = false;
    Status st = WithConn<Status>(conn_, url_, [&](PGconn* c) -> Status {
      auto r = ExecBlocking(c, "DELETE FROM schedules WHERE name = $1", {name}, kWhat);
      if (!r) return r.error();
      missing = std::string_view(PQcmdTuples(r->get())) == "0";
      return {};
    });
    if (st && missing) return Error{Errc::kNotFound, "no schedule " + name};
    return st;
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgScheduleStore::Fired(std::vector<ScheduleFire> fires) {
  if (fires.empty()) co_return Status{};
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  // One statement for the batch: three parallel arrays unnested into the UPDATE.
  std::string names = "{", cursors = "{", runs = "{";
  for (size_t i = 0; i < fires.size(); ++i) {
    const char* sep = i ? "," : "";
    auto quote = [](const std::string& s) {
      std::string q = "\"";
      for (char ch : s) {
        if (ch == '"' || ch == '\\') q += '\\';
        q += ch;
      }
      return q + "\"";
    };
    names += sep + quote(fires[i].name);
    cursors += sep + std::to_string(fires[i].cursor_ms);
    runs += sep + quote(fires[i].last_run);
  }
  names += "}";
  cursors += "}";
  runs += "}";
  auto op = reactor::Offload([this, names = std::move(names), cursors = std::move(cursors),
                              runs = std::move(runs)]() -> Status {
    return WithConn<Status>(conn_, url_, [&](PGconn* c) -> Status {
      auto r = ExecBlocking(
          c,
          "UPDATE schedules s SET cursor_ms = f.cursor_ms, last_run = f.last_run "
          "FROM unnest($1::text[], $2::bigint[], $3::text[]) AS f(name, cursor_ms, last_run) "
          "WHERE s.name = f.name AND s.cursor_ms <= f.cursor_ms",
          {names, cursors, runs}, kWhat);
      if (!r) return r.error();
      return {};
    });
  });
  co_return co_await op;  // suspends
}

std::unique_ptr<ScheduleStore> PgStoreFactory::MakeScheduleStore(unsigned /*shard*/) {
  return std::make_unique<PgScheduleStore>(options_.url);
}

}  // namespace rf::store::pg
