#include "store/redis/detail/dial.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "reactor/io.h"
#include "reactor/offload.h"
#include "reactor/shard.h"

namespace rf::store::redis::detail {
namespace {

using reactor::CancelToken;
using reactor::Shard;
using reactor::Task;

constexpr size_t kMaxAddresses = 8;

struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;
  std::string text;  // "127.0.0.1:6379", "[::1]:6379"
};

std::optional<Address> FromLiteral(const std::string& host, uint16_t port) {
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof *v4;
    a.text = host + ":" + std::to_string(port);
    return a;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof *v6;
    a.text = "[" + host + "]:" + std::to_string(port);
    return a;
  }
  return std::nullopt;
}

struct Resolved {
  std::vector<Address> addresses;
  std::string error;
};

// On a helper thread: getaddrinfo blocks.
Resolved ResolveName(const std::string& host, uint16_t port) {
  Resolved out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    out.error = "cannot resolve '" + host +
                "': " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
    return out;
  }
  for (addrinfo* ai = list; ai != nullptr && out.addresses.size() < kMaxAddresses;
       ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* src = nullptr;
    if (ai->ai_family == AF_INET) {
      src = &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr;
    } else if (ai->ai_family == AF_INET6) {
      src = &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
    } else {
      continue;
    }
    if (inet_ntop(ai->ai_family, src, buf, sizeof buf) == nullptr) continue;
    if (auto a = FromLiteral(buf, port)) out.addresses.push_back(std::move(*a));
  }
  freeaddrinfo(list);
  if (out.addresses.empty()) out.error = "no IPv4/IPv6 address for '" + host + "'";
  return out;
}

// Shared by the detached lookup and the Dial waiting for it, which may give up first.
struct Lookup {
  std::optional<Resolved> result;
  std::coroutine_handle<> waiter;
};

Task<void> RunLookup(std::shared_ptr<Lookup> lookup, std::string host, uint16_t port) {
  auto op = reactor::Offload([host = std::move(host), port] { return ResolveName(host, port); });
  Resolved r = co_await op;  // suspends
  lookup->result.emplace(std::move(r));
  if (lookup->waiter) Shard::Current().Schedule(std::exchange(lookup->waiter, {}));
}

// Bounds one wait by a deadline and a token. On firing, `abort` ends the wait: it cancels the
// in-flight io_uring op (whose completion then resumes the waiter) or wakes a parked waiter.
class Bound {
 public:
  Bound(Deadline deadline, CancelToken* cancel) : shard_(Shard::Current()), cancel_(cancel) {
    timer_.self = this;
    timer_.fire = [](Shard::TimerNode* n) { static_cast<Timer*>(n)->self->Fire(Errc::kTimeout); };
    listener_.self = this;
    listener_.on_fire = [](CancelToken::Listener* l) {
      static_cast<Listener*>(l)->self->Fire(Errc::kCancelled);
    };
    if (cancel_ != nullptr && cancel_->fired()) {
      fired_ = Errc::kCancelled;
    } else if (deadline.Expired()) {
      fired_ = Errc::kTimeout;
    } else {
      if (!deadline.never()) shard_.Arm(&timer_, deadline.at());
      if (cancel_ != nullptr) cancel_->Add(&listener_);
      listening_ = cancel_ != nullptr;
    }
  }
  ~Bound() {
    shard_.Disarm(&timer_);
    if (listening_) cancel_->Remove(&listener_);
  }
  Bound(const Bound&) = delete;
  Bound& operator=(const Bound&) = delete;

  bool fired() const { return fired_ != Errc::kOk; }
  Error error(const char* phase) const {
    if (fired_ == Errc::kCancelled) return Error{Errc::kCancelled, "redis connect cancelled"};
    return Error{Errc::kTimeout, std::string("redis connect timed out (") + phase + ")"};
  }
  // What firing must do: cancel `op` while it is in flight, or wake `parked`.
  void Watch(reactor::Completion* op, const bool* done) {
    op_ = op;
    op_done_ = done;
  }
  void Park(Lookup* lookup) { parked_ = lookup; }
  void Clear() {
    op_ = nullptr;
    parked_ = nullptr;
  }

 private:
  struct Timer : Shard::TimerNode {
    Bound* self = nullptr;
  };
  struct Listener : CancelToken::Listener {
    Bound* self = nullptr;
  };
  void Fire(Errc reason) {
    if (fired_ != Errc::kOk) return;
    fired_ = reason;
    shard_.Disarm(&timer_);
    if (op_ != nullptr && !*op_done_) shard_.Cancel(op_);
    if (parked_ != nullptr && parked_->waiter) {
      shard_.Schedule(std::exchange(parked_->waiter, {}));
    }
  }

  Shard& shard_;
  CancelToken* cancel_;
  Timer timer_;
  Listener listener_;
  bool listening_ = false;
  Errc fired_ = Errc::kOk;
  reactor::Completion* op_ = nullptr;
  const bool* op_done_ = nullptr;
  Lookup* parked_ = nullptr;
};

struct LookupWait {
  Lookup* lookup;
  bool await_ready() const noexcept { return lookup->result.has_value(); }
  void await_suspend(std::coroutine_handle<> h) { lookup->waiter = h; }
  void await_resume() noexcept {}
};

struct ConnectOp : reactor::IoOp<ConnectOp> {
  int fd;
  const Address* address;
  ConnectOp(int f, const Address* a) : fd(f), address(a) {}
  void Prep(io_uring_sqe* sqe) {
    io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&address->storage),
                          address->len);
  }
  void await_resume() const noexcept {}
};

}  // namespace

Task<Result<int>> Dial(std::string host, uint16_t port, Deadline deadline, CancelToken* cancel) {
  Bound bound(deadline, cancel);
  if (bound.fired()) co_return bound.error("before starting");
  std::vector<Address> addresses;
  if (auto literal = FromLiteral(host, port)) {
    addresses.push_back(std::move(*literal));
  } else {
    auto lookup = std::make_shared<Lookup>();
    reactor::Spawn(RunLookup(lookup, host, port));
    bound.Park(lookup.get());
    LookupWait wait{lookup.get()};
    if (!bound.fired()) co_await wait;  // suspends
    bound.Clear();
    lookup->waiter = {};
    if (!lookup->result) co_return bound.error("resolving the host name");
    if (!lookup->result->error.empty()) {
      co_return Error{Errc::kUnavailable, "redis: " + lookup->result->error};
    }
    addresses = std::move(lookup->result->addresses);
  }

  Error last{Errc::kUnavailable, "redis: no address to connect to"};
  for (const Address& address : addresses) {
    if (bound.fired()) co_return bound.error("connecting");
    const int fd =
        ::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = Error::FromErrno(errno, "redis: socket");
      last.code = Errc::kUnavailable;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ConnectOp op(fd, &address);
    bound.Watch(&op, &op.done);
    co_await op;  // suspends
    bound.Clear();
    if (op.res == 0 && !bound.fired()) co_return fd;
    ::close(fd);
    if (bound.fired()) co_return bound.error("connecting");
    last = Error{op.res == -ETIMEDOUT ? Errc::kTimeout : Errc::kUnavailable,
                 "redis: connect to " + address.text + ": " + std::strerror(-op.res), -op.res};
  }
  co_return last;
}

}  // namespace rf::store::redis::detail
