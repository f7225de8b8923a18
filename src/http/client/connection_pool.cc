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

ConnectionPool::~ConnectionPool() {
  if (shard_ != nullptr) shard_->Disarm(&sweep_);
  for (auto& [key, list] : idle_by_key_) {
    for (const Idle& c : list) ::close(c.fd);
  }
}

void ConnectionPool::Close(int fd) {
  ::close(fd);
  --idle_;
}

int ConnectionPool::Checkout(const std::string& key) {
  auto it = idle_by_key_.find(key);
  if (it == idle_by_key_.end()) return -1;
  auto& list = it->second;
  const Nanos now = MonoNow();
  int fd = -1;
  // Newest first: the one least likely to have hit the server's own idle timeout.
  while (fd < 0 && !list.empty()) {
    const Idle c = list.back();
    list.pop_back();
    if (now - c.since >= options_.idle_timeout) {
      Close(c.fd);  // and every older one with it
      for (const Idle& older : list) Close(older.fd);
      list.clear();
    } else if (!StillOpen(c.fd)) {
      Close(c.fd);
    } else {
      fd = c.fd;
      --idle_;
    }
  }
  if (list.empty()) idle_by_key_.erase(it);
  return fd;
}

void ConnectionPool::Return(const std::string& key, int fd) {
  if (options_.max_idle_per_host == 0) {
    ::close(fd);
    return;
  }
  auto& list = idle_by_key_[key];
  if (list.size() >= options_.max_idle_per_host) {
    Close(list.front().fd);
    list.erase(list.begin());
  }
  list.push_back({fd, MonoNow()});
  ++idle_;
  ArmSweep();
}

void ConnectionPool::Sweep(Nanos now) {
  for (auto it = idle_by_key_.begin(); it != idle_by_key_.end();) {
    auto& list = it->second;
    std::erase_if(list, [&](const Idle& c) {
      const bool drop = now - c.since >= options_.idle_timeout || !StillOpen(c.fd);
      if (drop) Close(c.fd);
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
