#include "http/server.h"

#include <cctype>

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

int64_t Server::open_connections() const { return connections_.load(std::memory_order_relaxed); }

const HttpStats& Server::stats(unsigned shard) const { return shards_[shard]->stats(); }

namespace {
bool IEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}
}  // namespace

bool HostAllowed(std::string_view host, const std::vector<std::string>& allowed) {
  // "name:port", "[v6]:port", "name", "[v6]": compare the name only.
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    host = host.substr(0, close + 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "example.com." is the same name
  if (host.empty()) return false;
  for (const std::string& a : allowed)
    if (IEqual(host, a)) return true;
  return false;
}

bool AdmitRequest(const ServerOptions& opt, unsigned shard, const Request& req,
                  const Router<Endpoint>::Match& m, Identity& who, Response& resp) {
  if (!opt.allowed_hosts.empty() && !HostAllowed(req.Header("Host"), opt.allowed_hosts)) {
    resp.Error(421, "misdirected_request", "this server does not answer for that Host (--allowed-hosts)");
    return false;
  }
  if (m.kind != Router<Endpoint>::Match::Kind::kFound) return true;
  who.authenticated = false;
  who.subject.clear();
  if (opt.admission && !opt.admission->Admit(shard, req, *m.handler, m.params, who, resp)) return false;
  if (opt.json_mutations &&
      (req.method == Method::kPost || req.method == Method::kPut || req.method == Method::kPatch ||
       req.method == Method::kDelete) &&
      !IsJsonContentType(req.Header("Content-Type"))) {
    resp.Error(415, "unsupported_media_type",
               "a POST, PUT, PATCH or DELETE needs Content-Type: application/json, also with an "
               "empty body");
    return false;
  }
  return true;
}

bool IsJsonContentType(std::string_view ct) {
  std::string_view media = ct.substr(0, ct.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  constexpr std::string_view kApp = "application/";
  if (media.size() <= kApp.size() || !IEqual(media.substr(0, kApp.size()), kApp)) return false;
  const std::string_view sub = media.substr(kApp.size());
  return IEqual(sub, "json") || (sub.size() > 5 && IEqual(sub.substr(sub.size() - 5), "+json"));
}

}  // namespace rf::http
