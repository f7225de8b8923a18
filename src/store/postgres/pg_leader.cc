#include "store/postgres/pg_leader.h"

#include "store/postgres/detail/pg_setup.h"
#include "store/postgres/detail/text.h"

namespace rf::store::pg {

PgLeaderElection::PgLeaderElection(PgOptions options, Nanos timeout)
    : options_(std::move(options)), timeout_(timeout) {}

PgLeaderElection::~PgLeaderElection() = default;

void PgLeaderElection::Start() {
  if (!pool_) pool_ = detail::MakePool(options_, 1, {});
}

reactor::Task<Result<std::vector<PgResult>>> PgLeaderElection::Exchange(
    std::string_view sql, std::vector<std::string> params) {
  if (!pool_) co_return Error{Errc::kUnavailable, "leader election: not started"};
  const Deadline deadline = Deadline::After(timeout_);
  auto conn = co_await pool_->Acquire(deadline);  // suspends
  if (!conn) co_return conn.error();
  PgLease lease(pool_.get(), *conn);
  Query q{.stmt_name_or_sql = sql, .prepared = false};
  for (const std::string& p : params) q.params.emplace_back(p);
  Query qs[] = {std::move(q)};
  auto res = co_await lease->Pipeline(qs, deadline);  // suspends
  if (!res) co_return res.error();
  if (Status st = FirstError(*res); !st) co_return st.error();
  co_return std::move(*res);
}

reactor::Task<Result<LeaderClaim>> PgLeaderElection::Acquire(std::string job, int64_t term,
                                                             Nanos ttl) {
  // (The arguments are built first: GCC 12 rejects a braced list inside a co_await expression.)
  std::vector<std::string> args = {std::move(job), options_.instance, std::to_string(term),
                                   std::to_string(ttl / kMillis)};
  auto res = co_await Exchange(
      "SELECT won, term FROM rf_leader_acquire($1::text, $2::text, $3::bigint, $4::bigint)",
      std::move(args));  // suspends
  if (!res) co_return res.error();
  const PgResult& r = (*res)[0];
  LeaderClaim claim;
  if (r.rows() != 1 || !detail::ParseInt(r.value(0, 1), claim.term))
    co_return Error{Errc::kCorrupt, "rf_leader_acquire: unexpected answer"};
  claim.won = r.value(0, 0) == "t";
  co_return claim;
}

reactor::Task<Result<bool>> PgLeaderElection::Renew(std::string job, int64_t term, Nanos ttl) {
  std::vector<std::string> args = {std::move(job), options_.instance, std::to_string(term),
                                   std::to_string(ttl / kMillis)};
  auto res = co_await Exchange("SELECT rf_leader_renew($1::text, $2::text, $3::bigint, $4::bigint)",
                               std::move(args));  // suspends
  if (!res) co_return res.error();
  const PgResult& r = (*res)[0];
  co_return r.rows() == 1 && r.value(0, 0) == "t";
}

reactor::Task<Status> PgLeaderElection::Release(std::string job, int64_t term) {
  std::vector<std::string> args = {std::move(job), options_.instance, std::to_string(term)};
  auto res = co_await Exchange("SELECT rf_leader_release($1::text, $2::text, $3::bigint)",
                               std::move(args));  // suspends
  if (!res) co_return res.error();
  co_return Status{};
}

reactor::Task<void> PgLeaderElection::Close() {
  if (pool_) co_await pool_->Close();  // suspends
}

}  // namespace rf::store::pg
