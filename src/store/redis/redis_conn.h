#pragma once
// RedisConn: one connection to Redis, driven by the shard's io_uring. Commands are pipelined:
// every caller's command is appended to one output buffer, written by one send (per loop turn
// and connection), and answered in order; replies are parsed by hiredis's redisReader.
//
// TLS (rediss://): the same loops with a tls::TlsSession between the socket and the RESP
// bytes (OpenSSL over memory BIOs, so the socket stays on io_uring). The handshake starts at
// connect; commands queued meanwhile (AUTH, SELECT, PING) are encrypted once it is done, so it
// is bounded by their deadline. A certificate that does not verify for the URL's host fails the
// connection: "TLS handshake: certificate verify failed: <why>".
//
// Shard-local: made, used, closed and destroyed on one shard's thread. No call blocks.
//
//   auto conn = co_await RedisConn::Connect(url, {}, &stats, Deadline::After(5 * kSeconds));
//   Result<RedisReply> r = co_await (*conn)->Command(deadline, "SET", key, value);  // suspends
//   co_await (*conn)->Close();                                                        // suspends
//
// Every command has a deadline. When it passes, that caller gets kTimeout at once and its reply,
// when it comes, is read and dropped: the connection stays, and the commands behind it keep
// their answers. But if the connection has read nothing for `stall_timeout` by then, it is
// declared stalled and closed (a hung server or a silent network would otherwise hold it
// forever). When the connection is lost (server gone, stalled, a protocol error, Close), every
// command still waiting fails with kUnavailable, and so does every later one: a RedisConn is
// never reconnected, RedisClient makes a new one.
//
// Errors of Command: a RESP error reply -> its Errc (ErrcFromRedisError, the message is the
// server's); kTimeout (the deadline passed); kUnavailable (the connection is lost; the context
// says why); kRetryLater (max_in_flight commands wait already); kInvalidArgument (no argument,
// or a command that would break the one-reply-per-command pipeline or the connection's state:
// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, MONITOR, SELECT, AUTH, HELLO, RESET, QUIT, CLIENT REPLY).

#include <array>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/buffer.h"
#include "base/clock.h"
#include "base/result.h"
#include "reactor/cancel_token.h"
#include "reactor/shard.h"
#include "reactor/task.h"
#include "store/redis/redis_reply.h"
#include "store/redis/redis_stats.h"
#include "store/redis/redis_url.h"
#include "tls/tls_client.h"
#include "tls/tls_session.h"

struct redisReader;  // hiredis

namespace rf::store::redis {

class RedisConn {
 public:
  struct Options {
    Nanos stall_timeout = 2 * kSeconds;  // see above; at least one command deadline is wise
    size_t max_in_flight = 16384;        // commands queued or sent and not yet answered
    size_t read_chunk = 16 * 1024;       // bytes per recv
    // rediss://: verifies the server (tls/tls_client.h); must outlive the connection. A
    // rediss:// URL without one is refused (kInvalidArgument).
    const tls::TlsClientContext* tls = nullptr;
  };

  // Dials url's host:port (names resolved off the shard), then sends AUTH (when the URL has a
  // password) and SELECT (db != 0) pipelined, or PING, and waits for their replies, all before
  // `deadline`. suspends. Errors: kUnavailable (refused, unreachable, unknown host, AUTH
  // refused: the context says which), kInvalidArgument (SELECT refused), kTimeout, kCancelled
  // (the token fired). `stats` (may be null) must outlive the connection.
  static reactor::Task<Result<std::unique_ptr<RedisConn>>> Connect(
      RedisUrl url, Options options, RedisStats* stats, Deadline deadline,
      reactor::CancelToken* cancel = nullptr);

  // RF_CHECKs that Close() has finished.
  ~RedisConn();
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  // Sends argv (binary-safe) and returns its reply. The arguments are encoded before Command
  // returns, so the task does not refer to them. suspends. Errors: see above.
  reactor::Task<Result<RedisReply>> Command(std::span<const std::string_view> argv,
                                            Deadline deadline);
  // The same with the arguments listed: Command(deadline, "SET", key, value). Each argument
  // converts to std::string_view. (No std::initializer_list overload: GCC 12 rejects a braced
  // list inside a co_await expression of a coroutine, "array used as initializer".)
  template <class... Args>
  reactor::Task<Result<RedisReply>> Command(Deadline deadline, const Args&... args) {
    const std::array<std::string_view, sizeof...(Args)> argv = {std::string_view(args)...};
    return Command(std::span<const std::string_view>(argv), deadline);
  }

  // Resumes once the connection is lost (at once if it is). One waiter at a time.
  struct BrokenWait {
    RedisConn* conn;
    bool await_ready() const noexcept { return conn->broken_; }
    void await_suspend(std::coroutine_handle<> h) { conn->broken_waiter_ = h; }
    void await_resume() noexcept {}
  };
  BrokenWait WaitBroken() { return BrokenWait{this}; }

  // Fails what still waits (kUnavailable, "connection closed"), stops reading and writing and
  // closes the socket. suspends (until the connection's own tasks have ended). Once.
  reactor::Task<void> Close();

  bool broken() const { return broken_; }
  const std::string& error() const { return error_; }  // why it broke ("" while up)
  size_t in_flight() const { return pending_.size(); }
  const std::string& endpoint() const { return endpoint_; }
  // "TLSv1.3" over rediss:// once connected; empty without TLS.
  std::string_view tls_protocol() const { return tls_ && tls_ready_ ? tls_->protocol() : ""; }

 private:
  friend class RedisClient;  // sends encoded frames (Send)
  struct Call;
  struct Slot {
    Call* call = nullptr;  // null once its caller stopped waiting (deadline, failure)
  };
  struct CancelHook : reactor::CancelToken::Listener {
    RedisConn* self = nullptr;
  };

  RedisConn(int fd, Options options, RedisStats* stats, std::string endpoint);

  static reactor::Task<Result<RedisReply>> Send(RedisConn* conn, std::string frame,
                                                std::string name, Deadline deadline);
  static reactor::Task<Status> Handshake(RedisConn* conn, const RedisUrl& url, Deadline deadline);
  static reactor::Task<void> ReadLoop(RedisConn* conn);
  static reactor::Task<void> FlushLoop(RedisConn* conn);

  // Queues `frame` as the next command, answered into `call`, and arms its deadline.
  void Enqueue(Call* call, std::string_view frame);
  void StartFlush();  // the writer runs (next loop turn) unless it is running
  bool HasWrites() const;  // bytes the writer could send now
  // TLS: decrypts what `cipher` holds into tls_plain_ (finishing the handshake first). False:
  // the connection failed (Fail was called).
  bool Decrypt(std::string_view cipher);
  void Deliver(RedisReply reply);
  void OnDeadline(Call* call);
  void Fail(std::string why);  // idempotent
  void SetInFlight();

  const int fd_;
  const Options options_;
  RedisStats own_stats_;
  RedisStats* stats_;
  const std::string endpoint_;
  redisReader* reader_ = nullptr;
  std::deque<Slot> pending_;  // in the order the commands were queued (and will be answered)
  std::string out_;           // queued bytes not yet handed to the writer
  std::string writing_;       // bytes the writer is sending
  std::unique_ptr<tls::TlsSession> tls_;  // rediss://
  bool tls_ready_ = false;                // handshake done: out_ may be encrypted
  Buffer tls_out_;                        // ciphertext the writer is sending
  Buffer tls_plain_;                      // decrypted bytes for the reader
  bool flushing_ = false;
  bool broken_ = false;
  bool closed_ = false;
  std::string error_;
  Nanos last_progress_ = 0;
  int64_t reported_in_flight_ = 0;  // this connection's share of stats_->in_flight  // last reply
                                    // read, or when the queue went from empty to not
  reactor::Completion* recv_op_ = nullptr;  // in flight while set
  reactor::Completion* send_op_ = nullptr;
  std::coroutine_handle<> broken_waiter_;
  reactor::TaskGroup group_;  // ReadLoop and FlushLoop
};

// The command name for messages: argv[0], upper-cased, printable, at most 32 bytes.
std::string CommandName(std::string_view arg0);
// kInvalidArgument for an empty argv or a command listed above as unsupported; else ok.
Status CheckCommand(std::span<const std::string_view> argv);

}  // namespace rf::store::redis
