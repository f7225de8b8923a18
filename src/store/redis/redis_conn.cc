#include "store/redis/redis_conn.h"

#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "base/check.h"
#include "obs/log.h"
#include "reactor/io.h"
#include "store/redis/detail/dial.h"

namespace rf::store::redis {

using reactor::Shard;
using reactor::Task;

namespace {

// Output buffers that grew past this (a large value) are freed once written.
constexpr size_t kKeepBuffer = 1 << 20;

RedisReply FromHiredis(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      return RedisReply::Integer(r->integer);
    case REDIS_REPLY_STRING:
      return RedisReply::String(std::string(r->str, r->len));
    case REDIS_REPLY_STATUS:
      return RedisReply::Status(std::string(r->str, r->len));
    case REDIS_REPLY_ERROR:
      return RedisReply::ErrorReply(std::string(r->str, r->len));
    case REDIS_REPLY_ARRAY: {
      std::vector<RedisReply> elements;
      elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) elements.push_back(FromHiredis(r->element[i]));
      return RedisReply::Array(std::move(elements));
    }
    default:
      return RedisReply::Nil();
  }
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string CommandName(std::string_view arg0) {
  std::string out;
  for (size_t i = 0; i < arg0.size() && i < 32; ++i) {
    const unsigned char c = static_cast<unsigned char>(arg0[i]);
    out += std::isgraph(c) ? static_cast<char>(std::toupper(c)) : '?';
  }
  return out.empty() ? "?" : out;
}

Status CheckCommand(std::span<const std::string_view> argv) {
  if (argv.empty()) return Error{Errc::kInvalidArgument, "redis: a command needs a name"};
  static constexpr std::array<std::string_view, 9> kRefused = {
      "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", "SELECT",
      "AUTH",      "HELLO",      "RESET",      "QUIT"};
  // CLIENT REPLY OFF|SKIP would leave commands without a reply to match.
  if (argv.size() >= 2 && Upper(argv[0].substr(0, 8)) == "CLIENT" &&
      Upper(argv[1].substr(0, 8)) == "REPLY") {
    return Error{Errc::kInvalidArgument,
                 "redis CLIENT REPLY: not supported on a pipelined connection (every command "
                 "must be answered)"};
  }
  if (argv[0].size() <= 10) {
    const std::string name = Upper(argv[0]);
    for (std::string_view refused : kRefused) {
      if (name == refused) {
        return Error{Errc::kInvalidArgument,
                     "redis " + name +
                         ": not supported on a shared pipelined connection (it would change "
                         "its state or its one-reply-per-command order)"};
      }
    }
  }
  return {};
}

// A command waiting for its reply; lives in the frame of the coroutine that queued it. Exactly
// one of the reply, the deadline and a failure completes it; Complete unlinks it from its slot,
// so nothing refers to it afterwards.
struct RedisConn::Call {
  struct Timer : Shard::TimerNode {
    Call* self = nullptr;
  };

  Call(RedisConn* c, Deadline d) : conn(c), deadline(d) {
    timer.self = this;
    timer.fire = [](Shard::TimerNode* n) {
      Call* call = static_cast<Timer*>(n)->self;
      call->conn->OnDeadline(call);
    };
  }
  // A frame that ends while its command is queued (a handshake that stopped at the first bad
  // reply) leaves its slot empty: the reply is dropped when it comes.
  ~Call() {
    Shard::Current().Disarm(&timer);
    if (slot != nullptr) slot->call = nullptr;
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  bool await_ready() const noexcept { return result.has_value(); }
  void await_suspend(std::coroutine_handle<> h) { handle = h; }
  Result<RedisReply> await_resume() { return std::move(*result); }

  void Complete(Result<RedisReply> r) {
    Shard::Current().Disarm(&timer);
    if (slot != nullptr) slot->call = nullptr;
    slot = nullptr;
    result.emplace(std::move(r));
    if (handle) Shard::Current().Schedule(std::exchange(handle, {}));
  }

  RedisConn* conn;
  Deadline deadline;
  Slot* slot = nullptr;
  Timer timer;
  std::coroutine_handle<> handle;
  std::optional<Result<RedisReply>> result;
};

RedisConn::RedisConn(int fd, Options options, RedisStats* stats, std::string endpoint)
    : fd_(fd),
      options_(options),
      stats_(stats != nullptr ? stats : &own_stats_),
      endpoint_(std::move(endpoint)),
      reader_(redisReaderCreate()) {
  RF_CHECK(reader_ != nullptr);
}

RedisConn::~RedisConn() {
  RF_CHECK(closed_ && group_.active() == 0 && pending_.empty());
  redisReaderFree(reader_);
}

Task<Result<std::unique_ptr<RedisConn>>> RedisConn::Connect(RedisUrl url, Options options,
                                                            RedisStats* stats, Deadline deadline,
                                                            reactor::CancelToken* cancel) {
  if (url.tls && options.tls == nullptr) {
    co_return Error{Errc::kInvalidArgument,
                    "redis: rediss:// needs a TLS client context (the CA to verify the server)"};
  }
  Result<int> fd = co_await detail::Dial(url.host, url.port, deadline, cancel);  // suspends
  if (!fd) co_return fd.error();
  std::unique_ptr<RedisConn> conn(new RedisConn(*fd, options, stats, url.Endpoint()));
  reactor::Spawn(ReadLoop(conn.get()), &conn->group_);
  if (url.tls) {
    // The ClientHello goes out first; the handshake's commands below wait for its end.
    conn->tls_ = tls::TlsSession::Client(options.tls->Acquire(), url.host);
    if (conn->tls_->Handshake() == tls::TlsSession::Step::kFailed)
      conn->Fail(std::string("TLS handshake: ") + conn->tls_->error());
    conn->StartFlush();
  }

  // Close() (via the token) must not wait for a handshake that hangs until its deadline.
  CancelHook hook;
  hook.self = conn.get();
  hook.on_fire = [](reactor::CancelToken::Listener* l) {
    static_cast<CancelHook*>(l)->self->Fail("connect cancelled");
  };
  if (cancel != nullptr) cancel->Add(&hook);
  Status st;
  if (cancel != nullptr && cancel->fired()) {
    st = Error{Errc::kCancelled, "redis connect cancelled"};
  } else {
    st = co_await Handshake(conn.get(), url, deadline);  // suspends
  }
  if (cancel != nullptr) {
    cancel->Remove(&hook);
    if (!st && cancel->fired()) st = Error{Errc::kCancelled, "redis connect cancelled"};
  }
  if (!st) {
    co_await conn->Close();  // suspends
    co_return st.error();
  }
  co_return conn;
}

// AUTH and SELECT (or a PING) in one round trip; the replies are checked in order.
Task<Status> RedisConn::Handshake(RedisConn* conn, const RedisUrl& url, Deadline deadline) {
  std::string auth, select, ping;
  if (url.auth) {
    std::vector<std::string_view> argv = {"AUTH"};
    if (!url.user.empty()) argv.push_back(url.user);
    argv.push_back(url.password);
    EncodeCommand(argv, auth);
  }
  if (url.db != 0) {
    const std::string db = std::to_string(url.db);
    const std::array<std::string_view, 2> argv = {"SELECT", db};
    EncodeCommand(argv, select);
  }
  if (auth.empty() && select.empty()) {
    const std::array<std::string_view, 1> argv = {"PING"};
    EncodeCommand(argv, ping);
  }
  Call auth_call(conn, deadline), select_call(conn, deadline), ping_call(conn, deadline);
  if (!auth.empty()) conn->Enqueue(&auth_call, auth);
  if (!select.empty()) conn->Enqueue(&select_call, select);
  if (!ping.empty()) conn->Enqueue(&ping_call, ping);

  const std::string where = " (" + conn->endpoint_ + ")";
  if (!auth.empty()) {
    Result<RedisReply> r = co_await auth_call;  // suspends
    if (!r) co_return Error{r.error().code, "redis: AUTH: " + r.error().context + where};
    if (r->type == RedisReply::Type::kError) {
      const std::string as = url.user.empty() ? "" : " as user '" + url.user + "'";
      co_return Error{Errc::kUnavailable, "redis: AUTH" + as + " refused: " + r->str + where};
    }
  }
  if (!select.empty()) {
    Result<RedisReply> r = co_await select_call;  // suspends
    if (!r) co_return Error{r.error().code, "redis: SELECT: " + r.error().context + where};
    if (r->type == RedisReply::Type::kError) {
      co_return Error{Errc::kInvalidArgument,
                      "redis: SELECT " + std::to_string(url.db) + " refused: " + r->str + where};
    }
  }
  if (!ping.empty()) {
    Result<RedisReply> r = co_await ping_call;  // suspends
    if (!r) co_return Error{r.error().code, "redis: PING: " + r.error().context + where};
    if (r->type == RedisReply::Type::kError) {
      co_return Error{ErrcFromRedisError(r->str), "redis: PING refused: " + r->str + where};
    }
  }
  co_return Status{};
}

Task<Result<RedisReply>> RedisConn::Command(std::span<const std::string_view> argv,
                                            Deadline deadline) {
  if (Status st = CheckCommand(argv); !st) {
    struct Refuse {
      static Task<Result<RedisReply>> Now(Error e) { co_return e; }
    };
    return Refuse::Now(st.error());
  }
  std::string frame;
  EncodeCommand(argv, frame);
  return Send(this, std::move(frame), CommandName(argv[0]), deadline);
}

Task<Result<RedisReply>> RedisConn::Send(RedisConn* conn, std::string frame, std::string name,
                                         Deadline deadline) {
  RedisStats* stats = conn->stats_;  // the connection may be gone when this resumes
  if (conn->broken_) {
    stats->unavailable.Add();
    co_return Error{Errc::kUnavailable, "redis " + name + ": " + conn->error_};
  }
  if (deadline.Expired()) {
    stats->timeouts.Add();
    co_return Error{Errc::kTimeout, "redis " + name + ": deadline passed before sending"};
  }
  if (conn->pending_.size() >= conn->options_.max_in_flight) {
    stats->rejected.Add();
    co_return Error{Errc::kRetryLater, "redis " + name + ": " +
                                           std::to_string(conn->pending_.size()) +
                                           " commands in flight on the connection already"};
  }
  const Nanos start = MonoNow();
  Call call(conn, deadline);
  conn->Enqueue(&call, frame);
  stats->commands.Add();
  Result<RedisReply> r = co_await call;  // suspends
  if (!r) {
    if (r.error().code == Errc::kTimeout) {
      stats->timeouts.Add();
    } else {
      stats->unavailable.Add();
    }
    r.error().context = "redis " + name + ": " + r.error().context;
    co_return r;
  }
  stats->latency.ObserveNanos(MonoNow() - start);
  if (r->type == RedisReply::Type::kError) {
    stats->error_replies.Add();
    co_return ReplyError(name, r->str);
  }
  co_return r;
}

void RedisConn::Enqueue(Call* call, std::string_view frame) {
  if (pending_.empty()) last_progress_ = MonoNow();
  out_.append(frame);
  pending_.push_back(Slot{call});
  call->slot = &pending_.back();  // deque: pushing and popping at the ends keeps it valid
  if (!call->deadline.never()) Shard::Current().Arm(&call->timer, call->deadline.at());
  SetInFlight();
  StartFlush();
}

void RedisConn::StartFlush() {
  if (flushing_ || broken_) return;
  flushing_ = true;
  // Starts next loop turn: the commands queued during this one go out in one send.
  reactor::Spawn(FlushLoop(this), &group_);
}

bool RedisConn::HasWrites() const {
  if (!tls_) return !out_.empty();
  return (tls_ready_ && !out_.empty()) || tls_->HasOutput();
}

Task<void> RedisConn::FlushLoop(RedisConn* conn) {
  while (conn->HasWrites() && !conn->broken_) {
    std::string_view wire;
    if (conn->tls_) {
      // Plaintext only once the handshake is done; handshake records and post-handshake
      // messages (key updates) go out whenever OpenSSL has them.
      if (conn->tls_ready_ && !conn->out_.empty()) {
        if (!conn->tls_->Write(conn->out_)) {
          conn->Fail(std::string("TLS: ") + conn->tls_->error());
          break;
        }
        conn->out_.clear();
      }
      conn->tls_out_.Clear();
      conn->tls_->TakeOutput(conn->tls_out_);
      wire = conn->tls_out_.view();
    } else {
      conn->writing_.clear();
      std::swap(conn->writing_, conn->out_);
      wire = conn->writing_;
    }
    Status st = co_await reactor::SendAll(conn->fd_, wire, &conn->send_op_);  // suspends
    if (!st) {
      conn->Fail("connection lost while sending: " + st.error().ToString());
      break;
    }
    if (conn->writing_.capacity() > kKeepBuffer) std::string().swap(conn->writing_);
    conn->tls_out_.ShrinkTo(kKeepBuffer);
  }
  if (conn->out_.capacity() > kKeepBuffer && conn->out_.empty()) std::string().swap(conn->out_);
  conn->flushing_ = false;
}

bool RedisConn::Decrypt(std::string_view cipher) {
  tls_->Feed(cipher);
  if (!tls_ready_) {
    const tls::TlsSession::Step step = tls_->Handshake();
    if (step == tls::TlsSession::Step::kFailed) {
      Fail(std::string("TLS handshake: ") + tls_->error());
      return false;
    }
    tls_ready_ = step == tls::TlsSession::Step::kDone;
    StartFlush();  // the handshake's next records, or the commands that waited for its end
    if (!tls_ready_) return true;
  }
  tls_plain_.Clear();
  if (!tls_->Read(tls_plain_)) {
    const std::string why = tls_->error();
    Fail(why == "close_notify" ? "server closed the connection" : "TLS: " + why);
    return false;
  }
  if (tls_->HasOutput()) StartFlush();
  return true;
}

Task<void> RedisConn::ReadLoop(RedisConn* conn) {
  std::vector<char> buf(conn->options_.read_chunk);
  while (!conn->broken_) {
    reactor::RecvOp op(conn->fd_, std::span<char>(buf));
    conn->recv_op_ = &op;
    Result<size_t> n = co_await op;  // suspends
    conn->recv_op_ = nullptr;
    if (conn->broken_) break;
    if (!n) {
      conn->Fail("connection lost: " + n.error().ToString());
      break;
    }
    if (*n == 0) {
      conn->Fail(conn->tls_ && !conn->tls_ready_
                     ? "server closed the connection during the TLS handshake"
                     : "server closed the connection");
      break;
    }
    std::string_view bytes(buf.data(), *n);
    if (conn->tls_) {
      if (!conn->Decrypt(bytes)) break;
      bytes = conn->tls_plain_.view();
      if (bytes.empty()) continue;
    }
    if (redisReaderFeed(conn->reader_, bytes.data(), bytes.size()) != REDIS_OK) {
      conn->Fail(std::string("protocol error: ") + conn->reader_->errstr);
      break;
    }
    while (!conn->broken_) {
      void* raw = nullptr;
      if (redisReaderGetReply(conn->reader_, &raw) != REDIS_OK) {
        conn->Fail(std::string("protocol error: ") + conn->reader_->errstr);
        break;
      }
      if (raw == nullptr) break;  // needs more bytes
      RedisReply reply = FromHiredis(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      conn->Deliver(std::move(reply));
    }
  }
}

void RedisConn::Deliver(RedisReply reply) {
  if (pending_.empty()) {
    Fail("protocol error: a reply without a command");
    return;
  }
  last_progress_ = MonoNow();
  Slot slot = pending_.front();
  pending_.pop_front();
  SetInFlight();
  // A caller that gave up (deadline) left a null slot: its late reply is dropped here.
  if (slot.call != nullptr) {
    slot.call->slot = nullptr;
    slot.call->Complete(std::move(reply));
  }
}

void RedisConn::OnDeadline(Call* call) {
  // A TLS client talking to a plain port waits forever for the server's hello: say so.
  call->Complete(Error{Errc::kTimeout, tls_ && !tls_ready_
                                           ? "TLS handshake not finished by the deadline (is "
                                             "the port a TLS port?)"
                                           : "no reply by the deadline"});
  const Nanos silent = MonoNow() - last_progress_;
  if (silent >= options_.stall_timeout) {
    RF_LOG(kWarn, "redis connection stalled", {"endpoint", endpoint_},
           {"silent_ms", silent / kMillis}, {"in_flight", pending_.size()});
    Fail("no reply for " + std::to_string(silent / kMillis) + " ms (stalled)");
  }
}

void RedisConn::Fail(std::string why) {
  if (broken_) return;
  broken_ = true;
  error_ = "connection to " + endpoint_ + " lost: " + why;
  Shard& shard = Shard::Current();
  // Wakes a recv or send the kernel still holds; the cancels make sure of it.
  ::shutdown(fd_, SHUT_RDWR);
  if (recv_op_ != nullptr) shard.Cancel(recv_op_);
  if (send_op_ != nullptr) shard.Cancel(send_op_);
  for (Slot& slot : pending_) {
    if (slot.call != nullptr) slot.call->Complete(Error{Errc::kUnavailable, error_});
  }
  pending_.clear();
  out_.clear();
  SetInFlight();
  if (broken_waiter_) shard.Schedule(std::exchange(broken_waiter_, {}));
}

void RedisConn::SetInFlight() {
  // The gauge is the shard's total; this connection's share changes by the difference.
  stats_->in_flight.Add(static_cast<int64_t>(pending_.size()) - reported_in_flight_);
  reported_in_flight_ = static_cast<int64_t>(pending_.size());
}

Task<void> RedisConn::Close() {
  RF_CHECK(!closed_);
  Fail("connection closed");
  auto done = group_.Wait();
  co_await done;  // suspends until ReadLoop and FlushLoop have ended
  ::close(fd_);
  closed_ = true;
}

}  // namespace rf::store::redis
