#pragma once
// systemd's notify protocol (sd_notify(3)) without libsystemd: datagrams to
// $NOTIFY_SOCKET. A no-op when the variable is unset. Safe from any thread;
// sends never block (MSG_DONTWAIT).

#include <string_view>

#include "base/clock.h"

namespace rf::app {

class Notifier {
 public:
  Notifier();  // reads NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  void Send(std::string_view message) const;  // e.g. "READY=1\nSTATUS=serving"
  // Half of WATCHDOG_USEC when the watchdog is on for this process, else 0.
  Nanos watchdog_interval() const { return watchdog_interval_; }

 private:
  int fd_ = -1;
  char addr_[128] = {};
  unsigned addr_len_ = 0;
  Nanos watchdog_interval_ = 0;
};

}  // namespace rf::app
