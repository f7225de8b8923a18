#include "store/postgres/pg_audit.h"

#include "store/leader_election.h"

#include "reactor/offload.h"
#include "store/postgres/detail/array_text.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg {
namespace {

constexpr const char* kWhat = "postgres audit";
constexpr int64_t kTrimBatch = 10'000;

// One batch of entries, a column per array parameter.
struct InsertAudit {
  static constexpr const char* kSql =
      "INSERT INTO audit_log (at_ms, subject, namespace, method, route, target, status, request_id) "
      "SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], "
      "$6::jsonb[], $7::int[], $8::text[])";
  detail::ArrayText at_ms, subject, ns, method, route, target, status, request_id;

  explicit InsertAudit(const std::vector<AuditEntry>& entries) {
    for (const AuditEntry& e : entries) {
      at_ms.AddInt(e.at_ms);
      subject.Add(e.subject);
      ns.Add(e.ns);
      method.Add(e.method);
      route.Add(e.route);
      target.Add(e.target.empty() ? std::string_view("{}") : std::string_view(e.target));
      status.AddInt(e.status);
      request_id.Add(e.request_id);
    }
  }
  std::vector<std::string> Params() {
    return {at_ms.Take(), subject.Take(), ns.Take(), method.Take(), route.Take(),
            target.Take(), status.Take(), request_id.Take()};
  }
};

// Runs `sql` on the kept connection, connecting (again) first when there is none or it broke.
Result<BlockingRes> ExecKept(BlockingConn& conn, const std::string& url, const char* sql,
                             const std::vector<std::string>& params) {
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    auto c = ConnectBlocking(url, kWhat);
    if (!c) return c.error();
    conn = std::move(*c);
  }
  auto r = ExecBlocking(conn.get(), sql, params, kWhat);
  if (!r && PQstatus(conn.get()) != CONNECTION_OK) conn.reset();
  return r;
}

}  // namespace

PgAuditStore::~PgAuditStore() = default;

reactor::Task<Status> PgAuditStore::Open() {
  auto op = reactor::Offload([this]() -> Status {
    auto r = ExecKept(conn_, url_, "SELECT 1 FROM audit_log LIMIT 0", {});
    if (!r) return r.error();
    return {};
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgAuditStore::Append(std::vector<AuditEntry>& entries) {
  if (entries.empty()) co_return Status{};
  auto op = reactor::Offload([this, params = InsertAudit(entries).Params()]() -> Status {
    auto r = ExecKept(conn_, url_, InsertAudit::kSql, params);
    if (!r) return r.error();
    return {};
  });
  co_return co_await op;  // suspends
}

reactor::Task<Result<AuditPage>> PgAuditStore::Query(AuditQuery q) {
  auto op = reactor::Offload([url = url_, q]() -> Result<AuditPage> {
    auto c = ConnectBlocking(url, kWhat);
    if (!c) return c.error();
    auto r = ExecBlocking(c->get(),
                          "SELECT id, at_ms, subject, method, route, target::text, status, request_id "
                          "FROM audit_log WHERE namespace = $1 AND ($2::bigint = 0 OR at_ms >= $2::bigint) "
                          "AND ($3::bigint = 0 OR at_ms < $3::bigint) AND ($4::bigint = 0 OR id < $4::bigint) "
                          "ORDER BY id DESC LIMIT $5::bigint",
                          {q.ns, std::to_string(q.since_ms), std::to_string(q.until_ms),
                           std::to_string(q.before_id), std::to_string(q.limit + 1)},
                          kWhat);
    if (!r) return r.error();
    AuditPage page;
    PGresult* res = r->get();
    for (int i = 0; i < PQntuples(res); ++i) {
      AuditEntry e;
      e.id = std::strtoll(PQgetvalue(res, i, 0), nullptr, 10);
      e.at_ms = std::strtoll(PQgetvalue(res, i, 1), nullptr, 10);
      e.subject = PQgetvalue(res, i, 2);
      e.ns = q.ns;
      e.method = PQgetvalue(res, i, 3);
      e.route = PQgetvalue(res, i, 4);
      e.target = PQgetvalue(res, i, 5);
      e.status = static_cast<int>(std::strtol(PQgetvalue(res, i, 6), nullptr, 10));
      e.request_id = PQgetvalue(res, i, 7);
      page.entries.push_back(std::move(e));
    }
    if (page.entries.size() > q.limit) {
      page.entries.resize(q.limit);
      page.next_before = page.entries.back().id;
    }
    return page;
  });
  co_return co_await op;  // suspends
}

reactor::Task<Result<uint64_t>> PgAuditStore::Trim(int64_t before_ms, int64_t term) {
  auto op = reactor::Offload([this, before_ms, term]() -> Result<uint64_t> {
    uint64_t total = 0;
    while (true) {  // in batches: a long first run must not hold one huge transaction
      // Each batch is fenced: a leader deposed between two batches stops at the next one.
      auto r = ExecKept(conn_, url_, "SELECT rf_audit_trim($1::text, $2::bigint, $3::bigint, $4::bigint)",
                        {std::string(kJobAuditRetention), std::to_string(term), std::to_string(before_ms),
                         std::to_string(kTrimBatch)});
      if (!r) return r.error();
      const int64_t n = PQntuples(r->get()) == 1 ? std::strtoll(PQgetvalue(r->get(), 0, 0), nullptr, 10) : 0;
      total += static_cast<uint64_t>(n);
      if (n < kTrimBatch) return total;
    }
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> PgAuditStore::Close() {
  auto op = reactor::Offload([this] { conn_.reset(); });
  co_await op;  // suspends
  co_return Status{};
}

std::unique_ptr<AuditStore> PgStoreFactory::MakeAuditStore(uint64_t) {
  return std::make_unique<PgAuditStore>(options_.url);
}

}  // namespace rf::store::pg
