// PgResult and the SQLSTATE mapping: what one statement of a pipeline came to.

#include <libpq-fe.h>

#include <charconv>
#include <cstring>
#include <string>

#include "base/check.h"
#include "store/postgres/detail/text.h"
#include "store/postgres/pg_conn.h"

namespace rf::store::pg {

using detail::Trim;

Errc ErrcFromSqlstate(std::string_view s) {
  if (s.size() != 5) return Errc::kInternal;
  const std::string_view cls = s.substr(0, 2);
  if (cls == "23") return Errc::kConflict;
  if (s == "RF002") return Errc::kConflict;  // rf_leader_fence: a deposed leader's write
  if (s == "40001" || s == "40P01" || s == "55P03" || cls == "53") return Errc::kRetryLater;
  if (s == "57014") return Errc::kTimeout;
  if (cls == "08" || s == "57P01" || s == "57P02" || s == "57P03") return Errc::kUnavailable;
  if (cls == "22") return Errc::kInvalidArgument;
  return Errc::kInternal;
}

PgResult::PgResult(pg_result* res) : res_(res) {
  switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
      status_ = Status::kCommand;
      break;
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE:
      status_ = Status::kRows;
      break;
    case PGRES_EMPTY_QUERY:
      status_ = Status::kEmpty;
      break;
    case PGRES_PIPELINE_ABORTED:
      status_ = Status::kAborted;
      break;
    default:
      status_ = Status::kError;
      break;
  }
}

PgResult::PgResult(PgResult&& o) noexcept
    : res_(std::exchange(o.res_, nullptr)), status_(o.status_) {}

PgResult& PgResult::operator=(PgResult&& o) noexcept {
  if (this != &o) {
    if (res_ != nullptr) PQclear(res_);
    res_ = std::exchange(o.res_, nullptr);
    status_ = o.status_;
  }
  return *this;
}

PgResult::~PgResult() {
  if (res_ != nullptr) PQclear(res_);
}

int PgResult::rows() const { return status_ == Status::kRows ? PQntuples(res_) : 0; }
int PgResult::cols() const { return status_ == Status::kRows ? PQnfields(res_) : 0; }

std::string_view PgResult::value(int row, int col) const {
  RF_CHECK(row >= 0 && row < rows() && col >= 0 && col < cols());
  return {PQgetvalue(res_, row, col), static_cast<size_t>(PQgetlength(res_, row, col))};
}

bool PgResult::is_null(int row, int col) const {
  RF_CHECK(row >= 0 && row < rows() && col >= 0 && col < cols());
  return PQgetisnull(res_, row, col) != 0;
}

int PgResult::column(const char* name) const {
  return status_ == Status::kRows ? PQfnumber(res_, name) : -1;
}

uint64_t PgResult::affected() const {
  if (res_ == nullptr) return 0;
  const char* tag = PQcmdTuples(res_);
  uint64_t n = 0;
  std::from_chars(tag, tag + std::strlen(tag), n);
  return n;
}

std::string_view PgResult::sqlstate() const {
  if (status_ != Status::kError || res_ == nullptr) return {};
  const char* s = PQresultErrorField(res_, PG_DIAG_SQLSTATE);
  return s != nullptr ? std::string_view(s) : std::string_view();
}

std::string PgResult::error() const {
  if (status_ == Status::kAborted) {
    return "not executed: an earlier statement of the pipeline failed";
  }
  if (status_ != Status::kError || res_ == nullptr) return {};
  const char* primary = PQresultErrorField(res_, PG_DIAG_MESSAGE_PRIMARY);
  // Errors libpq makes itself (a lost connection) have no fields, only the whole message.
  std::string out(Trim(primary != nullptr ? primary : PQresultErrorMessage(res_)));
  if (const char* detail = PQresultErrorField(res_, PG_DIAG_MESSAGE_DETAIL)) {
    out += " (";
    out += Trim(detail);
    out += ')';
  }
  return out;
}

Error PgResult::ToError() const {
  if (status_ == Status::kAborted) return Error{Errc::kConflict, error()};
  const std::string_view state = sqlstate();
  if (state.empty()) return Error{Errc::kInternal, error()};
  return Error{ErrcFromSqlstate(state), "SQLSTATE " + std::string(state) + ": " + error()};
}

Status FirstError(std::span<const PgResult> results) {
  const PgResult* aborted = nullptr;
  size_t aborted_at = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].is_error()) {
      Error e = results[i].ToError();
      e.context = "statement " + std::to_string(i + 1) + " of " + std::to_string(results.size()) +
                  " failed: " + e.context;
      return e;
    }
    if (results[i].is_aborted() && aborted == nullptr) {
      aborted = &results[i];
      aborted_at = i;
    }
  }
  if (aborted != nullptr) {
    Error e = aborted->ToError();
    e.context = "statement " + std::to_string(aborted_at + 1) + ": " + e.context;
    return e;
  }
  return {};
}

}  // namespace rf::store::pg
