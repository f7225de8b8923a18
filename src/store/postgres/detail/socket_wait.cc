#include "store/postgres/detail/socket_wait.h"

#include <string>

namespace rf::store::pg::detail {

SocketWait::SocketWait(int fd, unsigned mask, Deadline deadline, reactor::CancelToken* cancel,
                       const char* what)
    : shard_(reactor::Shard::Current()),
      op_(fd, mask),
      deadline_(deadline),
      cancel_(cancel),
      what_(what) {
  timer_.self = this;
  timer_.fire = &SocketWait::OnTimer;
  listener_.self = this;
  listener_.on_fire = &SocketWait::OnCancel;
}

SocketWait::~SocketWait() { Detach(); }

bool SocketWait::await_ready() noexcept {
  if (cancel_ != nullptr && cancel_->fired()) {
    fired_ = Errc::kCancelled;
  } else if (deadline_.Expired()) {
    fired_ = Errc::kTimeout;
  }
  return fired_ != Errc::kOk;
}

void SocketWait::await_suspend(std::coroutine_handle<> h) {
  if (!deadline_.never()) shard_.Arm(&timer_, deadline_.at());
  if (cancel_ != nullptr) {
    cancel_->Add(&listener_);
    listening_ = true;
  }
  op_.await_suspend(h);  // prepares the poll SQE; it goes to the kernel with the next submit
}

Result<unsigned> SocketWait::await_resume() {
  Detach();
  if (fired_ == Errc::kCancelled) return Error{Errc::kCancelled, std::string(what_) + " cancelled"};
  // A readiness that raced with the timer is dropped too: the deadline has passed either way.
  if (fired_ == Errc::kTimeout) return Error{Errc::kTimeout, std::string(what_) + " timed out"};
  return op_.await_resume();
}

void SocketWait::OnTimer(reactor::Shard::TimerNode* node) {
  static_cast<Timer*>(node)->self->Fire(Errc::kTimeout);
}

void SocketWait::OnCancel(reactor::CancelToken::Listener* listener) {
  static_cast<Listener*>(listener)->self->Fire(Errc::kCancelled);
}

void SocketWait::Fire(Errc reason) {
  if (fired_ != Errc::kOk) return;
  fired_ = reason;
  shard_.Disarm(&timer_);
  // Completed but not yet resumed (timers fire before ready coroutines run): nothing to cancel.
  if (op_.in_flight()) shard_.Cancel(&op_);
}

void SocketWait::Detach() {
  shard_.Disarm(&timer_);
  if (listening_) {
    cancel_->Remove(&listener_);
    listening_ = false;
  }
}

}  // namespace rf::store::pg::detail
