#include "http/server.h"


#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "http/detail/shard_server.h"

namespace rf::http {

Server::Server(ServerOptions options, size_t shards, const Router<Endpoint>* router,
               std::vector<std::string> route_names)
    : options_(std::move(options)), router_(router), route_names_(std::move(route_names)) {
  RF_CHECK(!route_names_.empty() && route_names_.size() <= kMaxRoutes);
  listen_fds_.assign(shards, -1);
}

Server::~Server() {
  for (int fd : listen_fds_)
    if (fd >= 0 && shards_.empty()) ::close(fd);
}

namespace {

Result<int> BindOne(const sockaddr_storage& addr, socklen_t len) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::FromErrno(errno, "socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    int err = errno;
    ::close(fd);
    return Error::FromErrno(err, "bind");
  }
  if (::listen(fd, 4096) != 0) {
    int err = errno;
    ::close(fd);
    return Error::FromErrno(err, "listen");
  }
  return fd;
}

}  // namespace

Status Server::Listen() {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  std::string host = options_.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(options_.port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(options_.port);
    len = sizeof *v6;
  } else {
    return Error{Errc::kInvalidArgument,
                 "listen address '" + options_.host + "' is not an IP literal"};
  }
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    auto fd = BindOne(addr, len);
    if (!fd) {
      for (size_t j = 0; j < i; ++j) ::close(listen_fds_[j]);
      return Error{fd.error().code,
                   options_.host + ":" + std::to_string(options_.port) + ": " + fd.error().context};
    }
    listen_fds_[i] = *fd;
    if (i == 0 && options_.port == 0) {  // ephemeral: every shard shares the port shard 0 got
      socklen_t l = len;
      getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &l);
      port_ = ntohs(addr.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
    }
  }
  if (options_.port != 0) port_ = options_.port;
  for (size_t i = 0; i < listen_fds_.size(); ++i)
    shards_.push_back(
        std::make_unique<ShardServer>(*this, static_cast<unsigned>(i), listen_fds_[i]));
  return {};
}

void Server::Start(reactor::Shard& shard) { shards_[shard.id()]->Start(shard); }

void Server::BeginDrain(reactor::Shard& shard) { shards_[shard.id()]->BeginDrain(shard); }

reactor::Task<void> Server::StopSweep(reactor::Shard& shard) {
  co_await shards_[shard.id()]->StopSweep();  // suspends
}

int64_t Server::open_connections() const { return connections_.load(std::memory_order_relaxed); }

const HttpStats& Server::stats(unsigned shard) const { return shards_[shard]->stats(); }

}  // namespace rf::http
