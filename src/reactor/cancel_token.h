#pragma once
// CancelToken: lets a caller abandon work it started (a run was cancelled, a step
// superseded). Fire() aborts the in-flight operations of every exchange watching the token; each
// of them then returns Errc::kCancelled promptly. Firing is sticky: exchanges started afterwards
// fail at once.
//
// Shard-local: created, fired and watched on one shard's thread (fire it from another shard with
// SubmitTo). The token must outlive the exchanges that watch it.

#include "base/check.h"

namespace rf::reactor {

class CancelToken {
 public:
  // Intrusive hook: a watcher lives in the watching coroutine's frame, so watching allocates
  // nothing.
  struct Listener {
    void (*on_fire)(Listener* self) = nullptr;
    Listener* prev = nullptr;
    Listener* next = nullptr;
  };

  CancelToken() = default;
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;
  ~CancelToken() { RF_CHECK(head_ == nullptr); }  // a watcher would dangle

  bool fired() const { return fired_; }

  // Idempotent. Listeners must not add or remove listeners from inside on_fire.
  void Fire() {
    if (fired_) return;
    fired_ = true;
    for (Listener* l = head_; l != nullptr; l = l->next) l->on_fire(l);
  }

  void Add(Listener* l) {
    l->prev = nullptr;
    l->next = head_;
    if (head_ != nullptr) head_->prev = l;
    head_ = l;
  }

  void Remove(Listener* l) {
    if (l->prev != nullptr) l->prev->next = l->next;
    if (l->next != nullptr) l->next->prev = l->prev;
    if (head_ == l) head_ = l->next;
    l->prev = l->next = nullptr;
  }

 private:
  Listener* head_ = nullptr;
  bool fired_ = false;
};

}  // namespace rf::reactor
