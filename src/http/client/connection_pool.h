#pragma once
// ConnectionPool: idle keep-alive connections of the outbound client, per (host, port), one pool
// per shard. Bounded: at most max_idle_per_host idle connections per key (returning one more
// closes the oldest), each for at most idle_timeout. Expiry is checked lazily on checkout and by
// a sweep timer that runs while anything is idle, so a quiet shard does not hold sockets (and the
// peers' CLOSE_WAIT ends) for longer than about idle_timeout + kSweepInterval.
//
// Shard-local: used and destroyed on one shard's thread. Holds fds and, for https, their TLS
// sessions; the caller owns a connection between Checkout and Return (or close).

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "reactor/shard.h"
#include "tls/tls_session.h"

namespace rf::http::client {

// One outbound connection: its socket and, over https, its TLS session (handshake done).
struct Connection {
  int fd = -1;
  std::unique_ptr<tls::TlsSession> tls;

  bool open() const { return fd >= 0; }
  void Close();  // closes the socket (no close_notify: the peer sees the FIN)
};

class ConnectionPool {
 public:
  static constexpr Nanos kSweepInterval = 1 * kSeconds;

  struct Options {
    size_t max_idle_per_host = 32;
    Nanos idle_timeout = 30 * kSeconds;
  };

  explicit ConnectionPool(Options options) : options_(options) {}
  ~ConnectionPool();  // closes every idle connection
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // The most recently returned idle connection for `key` that is still usable, or one that is
  // not open(). Connections found expired or already closed by the peer are closed on the way.
  Connection Checkout(const std::string& key);

  // Parks a connection that just completed a keep-alive exchange (its input fully consumed).
  void Return(const std::string& key, Connection conn);

  // Closes expired connections and those the peer has closed.
  void Sweep(Nanos now);

  size_t idle() const { return idle_; }

 private:
  struct Idle {
    Connection conn;
    Nanos since;
  };
  struct SweepTimer : reactor::Shard::TimerNode {
    ConnectionPool* self = nullptr;
  };

  static void OnSweep(reactor::Shard::TimerNode* node);
  void ArmSweep();
  void Close(Connection& conn);

  Options options_;
  std::unordered_map<std::string, std::vector<Idle>> idle_by_key_;  // oldest first
  size_t idle_ = 0;
  reactor::Shard* shard_ = nullptr;  // set on the first Return, on the owning shard
  SweepTimer sweep_;
};

}  // namespace rf::http::client
