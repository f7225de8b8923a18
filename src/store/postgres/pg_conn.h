#pragma once
// PgConn: one libpq connection driven by the shard's io_uring, in pipeline mode.
//
// Owned and used by one shard (the one that connected it); one operation at a time (a pool hands
// it to one caller at a time; RF_CHECKed). Nothing here blocks the shard thread: the connection
// is made with PQconnectStartParams + PQconnectPoll, the socket is non-blocking, and every wait
// is an io_uring poll on PQsocket bounded by the call's Deadline (and an optional CancelToken):
// when the deadline passes, the poll is cancelled and the call returns kTimeout promptly. No
// PQexec, no PQconnectdb, and PQgetResult only after PQisBusy says it will not block.
//
//   auto conn = co_await PgConn::Connect(std::move(url), Deadline::After(5 * kSeconds));
//   Query qs[] = {{.stmt_name_or_sql = "BEGIN"},
//                 {.stmt_name_or_sql = "insert_run", .prepared = true, .params = {id, body}},
//                 {.stmt_name_or_sql = "COMMIT"}};
//   auto results = co_await (*conn)->Pipeline(qs, Deadline::After(2 * kSeconds));  // suspends
//
// Errors. A call returns an Error only when the exchange itself failed; then the connection is
// closed (broken() is true, every later call fails with kUnavailable at once) and the caller
// (PgPool) reconnects:
//   kTimeout      the deadline passed mid-exchange
//   kCancelled    the CancelToken fired mid-exchange (Connect, PrepareAll)
//   kUnavailable  the connection could not be made or was lost (server down or restarted)
//   kInternal     libpq misbehaved, or a statement started COPY (not supported here)
// A deadline that has already passed when Pipeline is called fails with kTimeout before anything
// is sent, and leaves the connection usable. kInvalidArgument (a NUL byte in a text parameter,
// more than 65535 parameters, a bad URL) is also found before anything is sent.
// A statement that fails in PostgreSQL is not an Error of the call: its PgResult says so
// (is_error(), sqlstate(), error()), and so do the statements after it, which PostgreSQL
// skipped (is_aborted()). FirstError() turns that into an Error.
//
// Transactions. The statements of one Pipeline call end with one Sync, so PostgreSQL runs them
// as one implicit transaction, committed at the Sync, unless they open their own with BEGIN.
// BEGIN ... COMMIT inside one Pipeline works as expected: a failing statement makes PostgreSQL
// skip the rest up to the Sync (COMMIT included) and nothing is committed. A Pipeline that ends
// with its explicit transaction failed is rolled back before the call returns (one more round
// trip, only in that case), so the connection is always left usable. A transaction left open on
// purpose (BEGIN without COMMIT) stays open: transaction_idle() is then false, and PgPool closes
// such a connection when it comes back.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/cancel_token.h"
#include "reactor/task.h"

// libpq's handles (libpq-fe.h), kept out of this header.
struct pg_conn;
struct pg_result;

namespace rf::store::pg {

// SQLSTATE -> Errc: 23xxx integrity -> kConflict; 40001 serialization failure, 40P01 deadlock,
// 55P03 lock not available, 53xxx insufficient resources -> kRetryLater; 57014 query cancelled
// (statement_timeout) -> kTimeout; 08xxx, 57P01-57P03 (server shutting down or starting) ->
// kUnavailable; 22xxx data exception -> kInvalidArgument; anything else -> kInternal.
Errc ErrcFromSqlstate(std::string_view sqlstate);

// The outcome of one statement of a pipeline. Owns its PGresult; move-only.
class PgResult {
 public:
  enum class Status : uint8_t {
    kCommand,  // done, no rows (INSERT/UPDATE without RETURNING, BEGIN, SET, ...)
    kRows,     // done, returned rows (possibly zero)
    kEmpty,    // the statement text was empty
    kError,    // failed in PostgreSQL: sqlstate() and error() say why
    kAborted,  // not run: an earlier statement of the same pipeline failed
  };

  PgResult() = default;
  explicit PgResult(pg_result* res);
  PgResult(PgResult&& o) noexcept;
  PgResult& operator=(PgResult&& o) noexcept;
  ~PgResult();

  Status status() const { return status_; }
  bool ok() const { return status_ == Status::kCommand || status_ == Status::kRows; }
  bool is_error() const { return status_ == Status::kError; }
  bool is_aborted() const { return status_ == Status::kAborted; }

  // Rows and columns of a kRows result (0 otherwise). Values are text; a NULL reads as "".
  int rows() const;
  int cols() const;
  std::string_view value(int row, int col) const;  // RF_CHECKs the bounds
  bool is_null(int row, int col) const;
  int column(const char* name) const;  // -1 if there is no such column
  // Rows affected by INSERT/UPDATE/DELETE/MERGE/SELECT/COPY/MOVE/FETCH (the command tag's count).
  uint64_t affected() const;

  // Five characters for kError ("23505"), "" otherwise.
  std::string_view sqlstate() const;
  // The primary message for kError (with DETAIL appended when there is one); a fixed sentence for
  // kAborted; "" otherwise.
  std::string error() const;
  // kError/kAborted as an Error: ErrcFromSqlstate code (kAborted: kConflict), message and state.
  Error ToError() const;

 private:
  pg_result* res_ = nullptr;
  Status status_ = Status::kAborted;
};

// The first failed statement of a pipeline as an Error naming its index, or success.
Status FirstError(std::span<const PgResult> results);

// One statement of a pipeline. Text-format parameters ($1, $2, ...); nullopt is SQL NULL. The
// views need to stay valid only until Pipeline has sent them, but callers simply keep them alive
// for the whole call.
struct Query {
  std::string_view stmt_name_or_sql;  // a prepared statement's name, or one SQL statement
  bool prepared = false;
  std::vector<std::optional<std::string_view>> params = {};
};

// A statement to prepare: parameter types are left to PostgreSQL to infer.
struct Statement {
  std::string name = {};
  std::string sql = {};
  int nparams = 0;
};

// How a connection is secured, for `ringflow doctor` and logs.
struct PgTls {
  bool in_use = false;
  std::string protocol;  // "TLSv1.3"
  std::string cipher;    // "TLS_AES_256_GCM_SHA384"
  std::string sslmode;   // the effective sslmode: "prefer" (libpq's default), "verify-full", ...
  std::string host;      // the host connected to (a name, an address or a socket directory)
};

class PgConn {
 public:
  ~PgConn();  // PQfinish (sends Terminate without waiting); never while a call is in progress
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Connects to `url` (a libpq URL or key=value string). suspends. The whole handshake (TCP,
  // TLS if the server offers it and sslmode allows, authentication, the session setup below) is
  // bounded by `deadline` and aborted by `cancel` (if given).
  //
  // TLS: libpq's own (sslmode, sslrootcert, sslcert, sslkey, ... in the URL), driven by the same
  // PQconnectPoll loop. sslmode=verify-full checks the certificate against sslrootcert and the
  // `host` name (kept for that when Connect resolves it, see below); a certificate that does not
  // verify fails the connect (kUnavailable, libpq's message: "certificate verify failed").
  //
  // Host names: libpq would resolve them with a blocking getaddrinfo inside PQconnectPoll, so
  // Connect resolves them itself on an Offload helper thread first (abandoned, not waited for,
  // when the deadline passes) and hands libpq the addresses as `hostaddr`, keeping `host` for
  // TLS verification and .pgpass. IP literals and unix socket directories need no lookup.
  // `service=` is refused (its host would be resolved by libpq). Unless the URL says otherwise,
  // gssencmode=disable (GSSAPI would read credential caches on the shard thread).
  //
  // Session setup: non-blocking mode, pipeline mode, notices go to the debug log, and on
  // PostgreSQL 14+ `client_connection_check_interval = 1s`, so a backend whose client gave up
  // on a long statement (a deadline) stops within a second instead of running it to the end.
  static reactor::Task<Result<std::unique_ptr<PgConn>>> Connect(
      std::string url, Deadline deadline, reactor::CancelToken* cancel = nullptr);

  // Prepares one statement (parse only; nothing runs). suspends. A SQL error (bad syntax, a name
  // already taken on this connection) is returned as its Error; the connection stays usable.
  reactor::Task<Status> Prepare(std::string name, std::string sql, int nparams, Deadline deadline);
  // Prepares several statements in one round trip; `cancel` (if given) aborts it, closing the
  // connection.
  reactor::Task<Status> PrepareAll(std::span<const Statement> statements, Deadline deadline,
                                   reactor::CancelToken* cancel = nullptr);

  // Sends every query, one Sync, flushes, and reads until the Sync's result: one round trip
  // however many queries. suspends. One PgResult per query, in order. See the header comment for
  // the errors and the transaction rules.
  reactor::Task<Result<std::vector<PgResult>>> Pipeline(std::span<const Query> queries,
                                                        Deadline deadline);

  // One statement without parameters (a pipeline of one). suspends. A SQL error is returned as
  // its Error (ToError()); the connection stays usable.
  reactor::Task<Result<PgResult>> Exec(std::string sql, Deadline deadline);

  // Closed: by a failed exchange, by Close(), or because the server went away.
  bool broken() const { return conn_ == nullptr; }
  // No transaction is open (PQTRANS_IDLE) and the connection is up.
  bool transaction_idle() const;
  // Reads whatever the server sent while the connection was idle, without waiting (one
  // non-blocking recv). False, and the connection closed, if the server has closed it or sent
  // something it should not have: a cheap check for an idle pooled connection.
  bool CheckIdle();
  void Close();

  int server_version() const { return server_version_; }  // e.g. 150004
  PgTls tls() const;  // of a connected PgConn
  int backend_pid() const { return backend_pid_; }
  // Why the connection broke (libpq's message), once it has.
  const std::string& last_error() const { return last_error_; }

 private:
  struct Item;  // one entry of an exchange: a query, a prepared-query call or a Prepare
  explicit PgConn(pg_conn* conn);

  reactor::Task<Result<std::vector<PgResult>>> Run(std::span<const Item> items, Deadline deadline,
                                                   reactor::CancelToken* cancel);
  Status Send(std::span<const Item> items);
  reactor::Task<Status> Flush(Deadline deadline, reactor::CancelToken* cancel);
  reactor::Task<Result<std::vector<PgResult>>> Receive(size_t n, Deadline deadline,
                                                       reactor::CancelToken* cancel);
  Error Broken(Errc code, std::string what);  // closes, remembers why, returns the Error
  Error LibpqError(Errc code, std::string_view what);

  pg_conn* conn_;
  int server_version_ = 0;
  int backend_pid_ = 0;
  bool busy_ = false;
  std::string last_error_;
  // Reused for every statement: NUL-terminated copies of the statement and its parameters.
  std::string scratch_;
  std::vector<size_t> offsets_;
  std::vector<const char*> values_;
};

}  // namespace rf::store::pg
