#include "http/client/watchdog.h"

#include <string>

namespace rf::http::client {

Watchdog::Watchdog(CancelToken* token) : shard_(reactor::Shard::Current()), token_(token) {
  timer_.self = this;
  timer_.fire = &Watchdog::OnTimer;
  listener_.self = this;
  listener_.on_fire = &Watchdog::OnCancel;
  if (token_ == nullptr) return;
  if (token_->fired()) {
    reason_ = Errc::kCancelled;
    token_ = nullptr;  // nothing to listen for
    return;
  }
  token_->Add(&listener_);
}

Watchdog::~Watchdog() {
  shard_.Disarm(&timer_);
  if (token_ != nullptr) token_->Remove(&listener_);
}

void Watchdog::Bound(Nanos at, const char* what) {
  if (fired()) return;
  what_ = what;
  if (at == INT64_MAX) {
    shard_.Disarm(&timer_);
  } else if (at <= MonoNow()) {
    Fire(Errc::kTimeout);
  } else {
    shard_.Arm(&timer_, at);
  }
}

Error Watchdog::error() const {
  if (reason_ == Errc::kCancelled) return Error{Errc::kCancelled, "cancelled by the caller"};
  return Error{Errc::kTimeout, std::string(what_) + " timed out"};
}

void Watchdog::OnTimer(reactor::Shard::TimerNode* node) {
  static_cast<TimerNode*>(node)->self->Fire(Errc::kTimeout);
}

void Watchdog::OnCancel(CancelToken::Listener* listener) {
  static_cast<TokenListener*>(listener)->self->Fire(Errc::kCancelled);
}

void Watchdog::Fire(Errc reason) {
  if (fired()) return;
  reason_ = reason;
  shard_.Disarm(&timer_);
  // The op may have completed with its waiter not yet resumed (the loop fires timers before it
  // runs ready coroutines); cancelling it then would only earn an -ENOENT, so skip it.
  if (op_ != nullptr && !*op_done_) shard_.Cancel(op_);
  if (Parked* p = std::exchange(parked_, nullptr)) p->abort(p);
}

}  // namespace rf::http::client
