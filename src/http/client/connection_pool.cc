#include "http/client/connection_pool.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace rf::http::client {
namespace {

// An idle HTTP/1.1 connection has nothing to read: EOF means the peer closed it, bytes mean it
// broke the protocol. MSG_DONTWAIT makes this a non-blocking probe that cannot stall the shard,
// and it saves a ring round trip on every checkout.
bool StillOpen(int fd) {
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

void Connection::Close() {
  if (fd >= 0) ::close(fd);
  fd = -1;
  tls.reset();
}

ConnectionPool::~ConnectionPool() {
  if (shard_ != nullptr) shard_->Disarm(&sweep_);
  for (auto& [key, list] : idle_by_key_) {
    for (Idle& c : list) c.conn.Close();
  }
}

void ConnectionPool::Close(Connection& conn) {
  conn.Close();
  --idle_;
}

Connection ConnectionPool::Checkout(const std::string& key) {
  Connection out;
  auto it = idle_by_key_.find(key);
  if (it == idle_by_key_.end()) return out;
  auto& list = it->second;
  const Nanos now = MonoNow();
  // Newest first: the one least likely to have hit the server's own idle timeout.
  while (!out.open() && !list.empty()) {
    Idle c = std::move(list.back());
    list.pop_back();
    if (now - c.since >= options_.idle_timeout) {
      Close(c.conn);  // and every older one with it
      for (Idle& older : list) Close(older.conn);
      list.clear();
    } else if (!StillOpen(c.conn.fd)) {
      Close(c.conn);
    } else {
      out = std::move(c.conn);
      --idle_;
    }
  }
  if (list.empty()) idle_by_key_.erase(it);
  return out;
}

void ConnectionPool::Return(const std::string& key, Connection conn) {
  if (options_.max_idle_per_host == 0) {
    conn.Close();
    return;
  }
  auto& list = idle_by_key_[key];
  if (list.size() >= options_.max_idle_per_host) {
    Close(list.front().conn);
    list.erase(list.begin());
  }
  list.push_back({std::move(conn), MonoNow()});
  ++idle_;
  ArmSweep();
}

void ConnectionPool::Sweep(Nanos now) {
  for (auto it = idle_by_key_.begin(); it != idle_by_key_.end();) {
    auto& list = it->second;
    std::erase_if(list, [&](Idle& c) {
      const bool drop = now - c.since >= options_.idle_timeout || !StillOpen(c.conn.fd);
      if (drop) Close(c.conn);
      return drop;
    });
    it = list.empty() ? idle_by_key_.erase(it) : std::next(it);
  }
}

void ConnectionPool::ArmSweep() {
  if (shard_ == nullptr) {
    shard_ = &reactor::Shard::Current();
    sweep_.self = this;
    sweep_.fire = &ConnectionPool::OnSweep;
  }
  if (!sweep_.armed) {
    shard_->Arm(&sweep_, MonoNow() + std::clamp(options_.idle_timeout, kMillis, kSweepInterval));
  }
}

void ConnectionPool::OnSweep(reactor::Shard::TimerNode* node) {
  ConnectionPool* self = static_cast<SweepTimer*>(node)->self;
  self->Sweep(MonoNow());
  if (self->idle_ > 0) self->ArmSweep();
}

}  // namespace rf::http::client
