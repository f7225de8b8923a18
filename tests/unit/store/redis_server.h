#pragma once
// Private Redis servers of the unit tests, started by tools/redis.sh on 127.0.0.1 (a free port,
// a directory under /tmp) and stopped by PID at scope exit. RedisServer::Shared() is started
// once per test binary, the first time a case asks for it; cases that kill or restart a server
// make their own. Without tools/redis.sh or redis-server, the cases fail and say why
// (tools/setup.sh installs redis-server).

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "store/pg_cluster.h"  // ReadFile

namespace rf::test {

// tools/redis.sh of this source tree: $RF_SOURCE_ROOT, else found above the test binary.
inline std::string FindRedisSh() {
  if (const char* root = std::getenv("RF_SOURCE_ROOT")) {
    const std::filesystem::path p = std::filesystem::path(root) / "tools/redis.sh";
    return std::filesystem::exists(p) ? p.string() : std::string();
  }
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  for (; !ec && !dir.empty(); dir = dir.parent_path()) {
    if (std::filesystem::exists(dir / "tools/redis.sh")) return (dir / "tools/redis.sh").string();
    if (dir == dir.root_path()) break;
  }
  return {};
}

class RedisServer {
 public:
  static RedisServer& Shared() {
    static RedisServer s;
    return s;
  }

  // `env`: assignments for tools/redis.sh ("REDIS_TLS_CERT='...' REDIS_TLS_KEY='...'": a TLS
  // port too, tls_url()).
  explicit RedisServer(std::string env = {}) : env_(std::move(env)) {
    script_ = FindRedisSh();
    if (script_.empty()) {
      error_ = "tools/redis.sh not found above the test binary (set RF_SOURCE_ROOT)";
      return;
    }
    char tmpl[] = "/tmp/rf-redis-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    log_ = dir_ + ".log";
    if (Status st = Run("start"); !st) {
      error_ = st.error().context;
      return;
    }
    started_ = true;
    url_ = ReadFile(dir_ + "/url");
    while (!url_.empty() && (url_.back() == '\n' || url_.back() == ' ')) url_.pop_back();
    port_ = static_cast<uint16_t>(std::atoi(ReadFile(dir_ + "/port").c_str()));
    tls_url_ = ReadFile(dir_ + "/tls-url");
    while (!tls_url_.empty() && (tls_url_.back() == '\n' || tls_url_.back() == ' ')) tls_url_.pop_back();
    if (url_.empty() || port_ == 0) error_ = "tools/redis.sh start wrote no url/port in " + dir_;
  }
  ~RedisServer() {
    if (started_) (void)Run("stop");
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    if (!log_.empty()) std::filesystem::remove(log_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& url() const { return url_; }  // redis://127.0.0.1:PORT
  const std::string& tls_url() const { return tls_url_; }  // rediss://127.0.0.1:PORT, with TLS
  uint16_t port() const { return port_; }

  // `tools/redis.sh VERB DIR`: start | stop | kill. Blocking: call it from an Offload helper
  // when a reactor runs.
  Status Run(const char* verb) const {
    const std::string cmd =
        env_ + " '" + script_ + "' " + verb + " '" + dir_ + "' >'" + log_ + "' 2>&1";
    const int rc = std::system(cmd.c_str());
    if (rc != 0) {
      return Error{Errc::kUnavailable, "`tools/redis.sh " + std::string(verb) +
                                           "` failed (status " + std::to_string(rc) +
                                           "): " + ReadFile(log_)};
    }
    return {};
  }

 private:
  std::string env_, script_, dir_, log_, url_, tls_url_, error_;
  uint16_t port_ = 0;
  bool started_ = false;
};

// A port on 127.0.0.1 that nobody listens on (bound, then released).
inline uint16_t UnusedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A TCP listener on 127.0.0.1 that never accepts: connects succeed (the kernel completes the
// handshake into the backlog) and nothing is ever answered. Closed at scope exit.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace rf::test
