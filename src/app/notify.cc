#include "app/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace rf::app {

Notifier::Notifier() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return;
  size_t len = std::strlen(path);
  sockaddr_un un{};
  if (len >= sizeof un.sun_path) return;
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path, len);
  if (path[0] == '@') un.sun_path[0] = '\0';  // abstract namespace
  addr_len_ = static_cast<unsigned>(offsetof(sockaddr_un, sun_path) + len + (path[0] == '/' ? 1 : 0));
  static_assert(sizeof addr_ >= sizeof(sockaddr_un));
  std::memcpy(addr_, &un, sizeof un);
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  if (usec && (!pid || std::strtol(pid, nullptr, 10) == getpid())) {
    long long us = std::strtoll(usec, nullptr, 10);
    if (us > 0) watchdog_interval_ = static_cast<Nanos>(us) * 1000 / 2;
  }
}

Notifier::~Notifier() {
  if (fd_ >= 0) ::close(fd_);
}

void Notifier::Send(std::string_view message) const {
  if (fd_ < 0) return;
  ssize_t w = ::sendto(fd_, message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(addr_), addr_len_);
  (void)w;
}

}  // namespace rf::app
