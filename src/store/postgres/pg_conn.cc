#include "store/postgres/pg_conn.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <openssl/ssl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <coroutine>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "base/check.h"
#include "obs/log.h"
#include "reactor/offload.h"
#include "reactor/shard.h"
#include "store/postgres/detail/conninfo.h"
#include "store/postgres/detail/socket_wait.h"
#include "store/postgres/detail/text.h"

namespace rf::store::pg {

using reactor::CancelToken;
using reactor::Shard;
using reactor::Task;
using detail::Trim;
using namespace detail::conninfo;  // Params, ParseConninfo, Endpoints, Resolved, ...

namespace {

constexpr size_t kMaxParams = 65535;  // the protocol's Int16 parameter count


// libpq's messages on one line: "...failed: Connection refused\n\tIs the server running...".
std::string OneLine(std::string_view s) {
  s = Trim(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\n') {
      out += s[i] == '\t' ? ' ' : s[i];
    } else if (i + 1 < s.size() && s[i + 1] == '\t') {
      out += ' ';
      ++i;
    } else {
      out += "; ";
    }
  }
  return out;
}

void OnNotice(void*, const char* message) {
  RF_LOG(kDebug, "postgres notice", {"message", Trim(message)});
}

// A lookup shared between the detached task that runs it and the Connect that waits for it;
// the waiter may give up first (deadline, cancel), the lookup then finishes unobserved.
struct Lookup {
  std::optional<Resolved> result;
  std::coroutine_handle<> waiter;  // set while a Connect is parked on it
};

Task<void> RunLookup(std::shared_ptr<Lookup> lookup, std::vector<std::string> names) {
  // A named awaiter: GCC 12 mishandles a capturing lambda inside a temporary co_await operand.
  auto op = reactor::Offload([names = std::move(names)] { return ResolveNames(names); });
  Resolved r = co_await op;  // suspends
  lookup->result.emplace(std::move(r));
  if (lookup->waiter) Shard::Current().Schedule(std::exchange(lookup->waiter, {}));
}

// Parks a Connect on a Lookup under its deadline and CancelToken. Exactly one of the lookup and
// the abort resumes it: the abort only does so while `waiter` is still set, and clears it.
class LookupWait {
 public:
  LookupWait(Lookup* lookup, Deadline deadline, CancelToken* cancel)
      : shard_(Shard::Current()), lookup_(lookup), deadline_(deadline), cancel_(cancel) {
    timer_.self = this;
    timer_.fire = [](Shard::TimerNode* n) { static_cast<Timer*>(n)->self->Abort(Errc::kTimeout); };
    listener_.self = this;
    listener_.on_fire = [](CancelToken::Listener* l) {
      static_cast<Listener*>(l)->self->Abort(Errc::kCancelled);
    };
  }
  ~LookupWait() { Detach(); }
  LookupWait(const LookupWait&) = delete;
  LookupWait& operator=(const LookupWait&) = delete;

  bool await_ready() noexcept {
    if (cancel_ != nullptr && cancel_->fired()) {
      fired_ = Errc::kCancelled;
    } else if (deadline_.Expired()) {
      fired_ = Errc::kTimeout;
    }
    return fired_ != Errc::kOk || lookup_->result.has_value();
  }
  void await_suspend(std::coroutine_handle<> h) {
    lookup_->waiter = h;
    if (!deadline_.never()) shard_.Arm(&timer_, deadline_.at());
    if (cancel_ != nullptr) {
      cancel_->Add(&listener_);
      listening_ = true;
    }
  }
  Result<Resolved> await_resume() {
    Detach();
    if (fired_ == Errc::kCancelled) return Error{Errc::kCancelled, "postgres connect cancelled"};
    if (fired_ == Errc::kTimeout) {
      return Error{Errc::kTimeout, "postgres connect timed out (resolving the host name)"};
    }
    return std::move(*lookup_->result);
  }

 private:
  struct Timer : Shard::TimerNode {
    LookupWait* self = nullptr;
  };
  struct Listener : CancelToken::Listener {
    LookupWait* self = nullptr;
  };
  void Abort(Errc reason) {
    if (!lookup_->waiter) return;  // the lookup finished and already queued the waiter
    fired_ = reason;
    shard_.Disarm(&timer_);
    shard_.Schedule(std::exchange(lookup_->waiter, {}));
  }
  void Detach() {
    shard_.Disarm(&timer_);
    if (listening_) {
      cancel_->Remove(&listener_);
      listening_ = false;
    }
  }

  Shard& shard_;
  Lookup* lookup_;
  Deadline deadline_;
  CancelToken* cancel_;
  Timer timer_;
  Listener listener_;
  bool listening_ = false;
  Errc fired_ = Errc::kOk;
};

// Decrypted bytes OpenSSL holds that libpq has not taken yet. PQconsumeInput reads one TLS record
// per call into the room left in its buffer; of a record larger than that room (PostgreSQL sends
// at most 8 KiB, but PgBouncer and other proxies send 16 KiB records) the rest stays inside
// OpenSSL and the socket never becomes readable for it: waiting for POLLIN would hang.
int TlsPending(PGconn* conn) {
  if (PQsslInUse(conn) == 0) return 0;
  auto* ssl = static_cast<SSL*>(PQsslStruct(conn, "OpenSSL"));
  return ssl != nullptr ? SSL_pending(ssl) : 0;
}

struct BusyGuard {
  explicit BusyGuard(bool& b) : busy(b) {
    RF_CHECK(!busy);  // one operation at a time per connection
    busy = true;
  }
  ~BusyGuard() { busy = false; }
  bool& busy;
};

}  // namespace

// ---- PgConn --------------------------------------------------------------------------------

struct PgConn::Item {
  enum class Kind : uint8_t { kSql, kPrepared, kPrepare } kind = Kind::kSql;
  std::string_view text;  // SQL (kSql, kPrepare's statement) or a statement name
  std::string_view name;  // kPrepare: the name to give it
  int nparams = 0;        // kPrepare
  std::span<const std::optional<std::string_view>> params;
};

PgConn::PgConn(pg_conn* conn) : conn_(conn) {}

PgConn::~PgConn() {
  RF_CHECK(!busy_);  // a call in progress still uses the connection (and its frame's poll)
  Close();
}

void PgConn::Close() {
  if (conn_ != nullptr) PQfinish(std::exchange(conn_, nullptr));
}

PgTls PgConn::tls() const {
  PgTls out;
  if (conn_ == nullptr) return out;
  out.in_use = PQsslInUse(conn_) == 1;
  if (out.in_use) {
    if (const char* p = PQsslAttribute(conn_, "protocol")) out.protocol = p;
    if (const char* c = PQsslAttribute(conn_, "cipher")) out.cipher = c;
  }
  if (const char* h = PQhost(conn_)) out.host = h;
  if (PQconninfoOption* options = PQconninfo(conn_)) {
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o)
      if (std::strcmp(o->keyword, "sslmode") == 0 && o->val != nullptr) out.sslmode = o->val;
    PQconninfoFree(options);
  }
  if (out.sslmode.empty()) out.sslmode = "prefer";
  return out;
}

bool PgConn::transaction_idle() const {
  return conn_ != nullptr && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

bool PgConn::CheckIdle() {
  if (conn_ == nullptr) return false;
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
    Broken(Errc::kUnavailable, "connection lost while idle");
    return false;
  }
  if (!PQisBusy(conn_)) {
    // An idle pipeline has nothing to return; anything here is the server talking out of turn.
    if (PGresult* r = PQgetResult(conn_)) {
      PgResult res(r);
      Broken(Errc::kUnavailable, "unexpected message while idle: " + res.error());
      return false;
    }
  }
  return true;
}

Error PgConn::Broken(Errc code, std::string what) {
  if (conn_ != nullptr && (code == Errc::kUnavailable || code == Errc::kInternal)) {
    const std::string msg = OneLine(PQerrorMessage(conn_));
    if (!msg.empty()) {
      what += ": ";
      what += msg;
    }
  }
  Close();
  last_error_ = what;
  return Error{code, "postgres: " + what};
}

Error PgConn::LibpqError(Errc code, std::string_view what) {
  std::string msg(what);
  if (conn_ != nullptr) {
    const std::string m = OneLine(PQerrorMessage(conn_));
    if (!m.empty()) {
      msg += ": ";
      msg += m;
    }
  }
  return Error{code, "postgres: " + msg};
}

Task<Result<std::unique_ptr<PgConn>>> PgConn::Connect(std::string url, Deadline deadline,
                                                      CancelToken* cancel) {
  if (cancel != nullptr && cancel->fired()) {
    co_return Error{Errc::kCancelled, "postgres connect cancelled"};
  }
  if (deadline.Expired()) co_return Error{Errc::kTimeout, "postgres connect timed out"};
  Result<Params> params = ParseConninfo(url);
  if (!params) co_return params.error();

  std::vector<Endpoint> endpoints = Endpoints(*params);
  std::vector<std::string> names;
  for (const Endpoint& e : endpoints) {
    if (e.NeedsLookup()) names.push_back(e.host);
  }
  if (!names.empty()) {
    auto lookup = std::make_shared<Lookup>();
    reactor::Spawn(RunLookup(lookup, std::move(names)));
    LookupWait wait(lookup.get(), deadline, cancel);
    Result<Resolved> resolved = co_await wait;  // suspends
    if (!resolved) co_return resolved.error();
    Status st = ResolveHosts(*params, std::move(endpoints), *resolved);
    if (!st) co_return st.error();
  }

  std::vector<const char*> keys, values;
  for (const auto& [k, v] : *params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* raw = PQconnectStartParams(keys.data(), values.data(), 0);
  if (raw == nullptr) co_return Error{Errc::kInternal, "postgres connect: out of memory"};
  std::unique_ptr<PgConn> conn(new PgConn(raw));
  PQsetNoticeProcessor(raw, &OnNotice, nullptr);
  if (PQstatus(raw) == CONNECTION_BAD) {
    co_return conn->LibpqError(Errc::kUnavailable, "connect");
  }
  // Before the first PQconnectPoll, behave as if it had asked to wait for writability.
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) co_return conn->LibpqError(Errc::kUnavailable, "connect");
    detail::SocketWait wait(PQsocket(raw), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline,
                            cancel, "postgres connect");
    Result<unsigned> ready = co_await wait;  // suspends
    if (!ready) co_return ready.error();     // ~PgConn closes the half-made connection
    st = PQconnectPoll(raw);
  }

  if (PQsetnonblocking(raw, 1) != 0) co_return conn->LibpqError(Errc::kInternal, "nonblocking");
  if (PQenterPipelineMode(raw) != 1) co_return conn->LibpqError(Errc::kInternal, "pipeline mode");
  conn->server_version_ = PQserverVersion(raw);
  conn->backend_pid_ = PQbackendPID(raw);
  // No JIT: every statement here is short, and JIT starts only where the planner's estimate
  // is high, which for ringflow means stale statistics (a table just filled): recovery's read
  // of the live runs paid 266 ms of LLVM compilation for 120 ms of work.
  std::vector<Item> settings;
  auto set = [&](const char* sql) {
    settings.push_back(
        Item{.kind = Item::Kind::kSql, .text = sql, .name = {}, .nparams = 0, .params = {}});
  };
  set("SET jit = off");
  // The daemon lists live runs itself (detail::UpsertRuns): the triggers that do it for other
  // writers (migration 0015) skip its rows.
  set("SET rf.live_runs_kept = on");
  if (conn->server_version_ >= 140000) set("SET client_connection_check_interval = 1000");
  Result<std::vector<PgResult>> r = co_await conn->Run(settings, deadline, cancel);  // suspends
  if (!r) co_return r.error();
  if (Status st = FirstError(*r); !st) co_return st.error();
  co_return std::move(conn);
}

Task<Status> PgConn::Prepare(std::string name, std::string sql, int nparams, Deadline deadline) {
  const Statement one{std::move(name), std::move(sql), nparams};
  Status st = co_await PrepareAll(std::span<const Statement>(&one, 1), deadline);  // suspends
  co_return st;
}

Task<Status> PgConn::PrepareAll(std::span<const Statement> statements, Deadline deadline,
                                CancelToken* cancel) {
  std::vector<Item> items;
  items.reserve(statements.size());
  for (const Statement& s : statements) {
    items.push_back(Item{.kind = Item::Kind::kPrepare,
                         .text = s.sql,
                         .name = s.name,
                         .nparams = s.nparams,
                         .params = {}});
  }
  Result<std::vector<PgResult>> r = co_await Run(items, deadline, cancel);  // suspends
  if (!r) co_return r.error();
  co_return FirstError(*r);
}

Task<Result<PgResult>> PgConn::Exec(std::string sql, Deadline deadline) {
  const Item item{.kind = Item::Kind::kSql, .text = sql, .name = {}, .nparams = 0, .params = {}};
  Result<std::vector<PgResult>> r =
      co_await Run(std::span<const Item>(&item, 1), deadline, nullptr);  // suspends
  if (!r) co_return r.error();
  PgResult& res = r->front();
  if (!res.ok() && res.status() != PgResult::Status::kEmpty) co_return res.ToError();
  co_return std::move(res);
}

Task<Result<std::vector<PgResult>>> PgConn::Pipeline(std::span<const Query> queries,
                                                     Deadline deadline) {
  std::vector<Item> items;
  items.reserve(queries.size());
  for (const Query& q : queries) {
    items.push_back(Item{.kind = q.prepared ? Item::Kind::kPrepared : Item::Kind::kSql,
                         .text = q.stmt_name_or_sql,
                         .name = {},
                         .nparams = 0,
                         .params = q.params});
  }
  Result<std::vector<PgResult>> r = co_await Run(items, deadline, nullptr);  // suspends
  if (!r) co_return r.error();
  if (conn_ != nullptr && PQtransactionStatus(conn_) == PQTRANS_INERROR) {
    // The pipeline's own BEGIN failed mid-way: PostgreSQL keeps that transaction open (failed)
    // after the Sync. End it here so the connection is usable again.
    const Item rollback{
        .kind = Item::Kind::kSql, .text = "ROLLBACK", .name = {}, .nparams = 0, .params = {}};
    Result<std::vector<PgResult>> rb =
        co_await Run(std::span<const Item>(&rollback, 1), deadline, nullptr);  // suspends
    if (!rb) co_return rb.error();
    if (!rb->front().ok() || !transaction_idle()) {
      co_return Broken(Errc::kInternal, "ROLLBACK after a failed pipeline: " + rb->front().error());
    }
  }
  co_return std::move(r);
}

// ---- one exchange: send everything, one Sync, flush, read up to the Sync's result ----------

Task<Result<std::vector<PgResult>>> PgConn::Run(std::span<const Item> items, Deadline deadline,
                                                CancelToken* cancel) {
  BusyGuard busy(busy_);
  if (conn_ == nullptr) {
    co_return Error{Errc::kUnavailable, "postgres: connection closed: " + last_error_};
  }
  if (deadline.Expired()) co_return Error{Errc::kTimeout, "postgres query timed out (not sent)"};
  Status sent = Send(items);
  if (!sent) co_return sent.error();
  Status flushed = co_await Flush(deadline, cancel);  // suspends
  if (!flushed) co_return flushed.error();
  Result<std::vector<PgResult>> results =
      co_await Receive(items.size(), deadline, cancel);  // suspends
  co_return std::move(results);
}

Status PgConn::Send(std::span<const Item> items) {
  // Everything that can be refused is checked before the first byte is queued.
  for (const Item& it : items) {
    if (it.params.size() > kMaxParams) {
      return Error{Errc::kInvalidArgument, "postgres: more than 65535 parameters in a statement"};
    }
    if (it.text.find('\0') != std::string_view::npos ||
        it.name.find('\0') != std::string_view::npos) {
      return Error{Errc::kInvalidArgument, "postgres: NUL byte in a statement or its name"};
    }
    for (const auto& p : it.params) {
      if (p && p->find('\0') != std::string_view::npos) {
        return Error{Errc::kInvalidArgument, "postgres: NUL byte in a text parameter"};
      }
    }
  }
  std::vector<Oid> types;
  for (const Item& it : items) {
    // libpq wants NUL-terminated strings: copy the statement, its name and its parameters.
    scratch_.clear();
    offsets_.clear();
    scratch_.append(it.text).push_back('\0');
    const size_t name_at = scratch_.size();
    scratch_.append(it.name).push_back('\0');
    for (const auto& p : it.params) {
      if (!p) {
        offsets_.push_back(std::string::npos);
        continue;
      }
      offsets_.push_back(scratch_.size());
      scratch_.append(*p).push_back('\0');
    }
    values_.clear();
    for (size_t off : offsets_) {
      values_.push_back(off == std::string::npos ? nullptr : scratch_.data() + off);
    }
    const char* text = scratch_.data();
    const int n = static_cast<int>(values_.size());
    int ok = 0;
    switch (it.kind) {
      case Item::Kind::kSql:
        ok = PQsendQueryParams(conn_, text, n, nullptr, values_.data(), nullptr, nullptr, 0);
        break;
      case Item::Kind::kPrepared:
        ok = PQsendQueryPrepared(conn_, text, n, values_.data(), nullptr, nullptr, 0);
        break;
      case Item::Kind::kPrepare:
        types.assign(static_cast<size_t>(std::max(it.nparams, 0)), 0);  // 0: inferred
        ok = PQsendPrepare(conn_, scratch_.data() + name_at, text, it.nparams,
                           types.empty() ? nullptr : types.data());
        break;
    }
    if (ok != 1) return Broken(Errc::kUnavailable, "send");
  }
  if (PQpipelineSync(conn_) != 1) return Broken(Errc::kUnavailable, "sync");
  return {};
}

Task<Status> PgConn::Flush(Deadline deadline, CancelToken* cancel) {
  while (true) {
    const int rc = PQflush(conn_);
    if (rc == 0) co_return Status{};
    if (rc < 0) co_return Broken(Errc::kUnavailable, "send");
    // The socket is full. Keep reading meanwhile: the server may be blocked writing results
    // that we are not reading, and then it stops reading what we send.
    detail::SocketWait wait(PQsocket(conn_), POLLIN | POLLOUT, deadline, cancel, "query");
    Result<unsigned> ready = co_await wait;  // suspends
    if (!ready) co_return Broken(ready.error().code, ready.error().context);
    if ((*ready & (POLLIN | POLLERR | POLLHUP)) != 0 && PQconsumeInput(conn_) == 0) {
      co_return Broken(Errc::kUnavailable, "receive");
    }
  }
}

Task<Result<std::vector<PgResult>>> PgConn::Receive(size_t n, Deadline deadline,
                                                    CancelToken* cancel) {
  std::vector<PgResult> out;
  out.reserve(n);
  bool current_has_result = false;  // out.back() belongs to a statement whose NULL is pending
  while (true) {
    while (PQisBusy(conn_) == 0) {
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) {
        // End of one statement's results.
        if (!current_has_result) {
          co_return Broken(Errc::kInternal, "libpq ended a statement that had no result");
        }
        current_has_result = false;
        continue;
      }
      const ExecStatusType status = PQresultStatus(r);
      if (status == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        if (out.size() != n || current_has_result) {
          co_return Broken(Errc::kInternal, "pipeline sync before every statement's result");
        }
        co_return std::move(out);
      }
      if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
        PQclear(r);
        co_return Broken(Errc::kInternal, "COPY is not supported in a pipeline");
      }
      if (current_has_result) {
        // A second result for one statement: keep an error over what came before it.
        PgResult extra(r);
        if (extra.is_error()) out.back() = std::move(extra);
        continue;
      }
      if (out.size() == n) {
        PQclear(r);
        co_return Broken(Errc::kInternal, "more results than statements");
      }
      out.emplace_back(r);
      current_has_result = true;
    }
    if (PQstatus(conn_) != CONNECTION_OK) co_return Broken(Errc::kUnavailable, "connection lost");
    if (const int pending = TlsPending(conn_); pending > 0) {
      if (PQconsumeInput(conn_) == 0) co_return Broken(Errc::kUnavailable, "receive");
      if (TlsPending(conn_) < pending) continue;  // took some: no need to wait for the socket
    }
    detail::SocketWait wait(PQsocket(conn_), POLLIN, deadline, cancel, "query");
    Result<unsigned> ready = co_await wait;  // suspends
    if (!ready) co_return Broken(ready.error().code, ready.error().context);
    if (PQconsumeInput(conn_) == 0) co_return Broken(Errc::kUnavailable, "receive");
  }
}

}  // namespace rf::store::pg
