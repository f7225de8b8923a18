#include "fanout/subscriber.h"

#include "reactor/shard.h"

namespace rf::fanout {
namespace {

struct Delivery {
  std::shared_ptr<Subscriber> to;
  std::string frames;
  bool end;
};

}  // namespace

void Subscriber::Publish(const std::shared_ptr<Subscriber>& s, std::string frames, bool end) {
  if (s->closed()) return;
  reactor::Shard& here = reactor::Shard::Current();
  if (here.id() == s->home_) {
    s->Deliver(std::move(frames), end);
    return;
  }
  // One allocation per cross-shard delivery; SSE is not the engine's hot path.
  auto* d = new Delivery{s, std::move(frames), end};
  here.Post(s->home_, reactor::Message{&Subscriber::DeliverThere, d});
}

void Subscriber::DeliverThere(void* p) {
  std::unique_ptr<Delivery> d(static_cast<Delivery*>(p));
  d->to->Deliver(std::move(d->frames), d->end);
}

void Subscriber::Deliver(std::string frames, bool end) {
  if (closed() || overflowed_) return;
  pending_ += frames;
  ended_ = ended_ || end;
  if (pending_.size() > max_buffer_) {
    overflowed_ = true;
    pending_.clear();
    if (abort_fn_) abort_fn_(abort_ctx_);
  }
  if (waiter_) reactor::Shard::Current().Schedule(std::exchange(waiter_, {}));
}

void Subscriber::Wake() {
  if (waiter_) reactor::Shard::Current().Schedule(std::exchange(waiter_, {}));
}

void AppendFrame(std::string& out, uint64_t seq, std::string_view type, std::string_view json) {
  out += "id: ";
  out += std::to_string(seq);
  out += "\nevent: ";
  out += type;
  out += "\ndata: ";
  out += json;  // compact JSON: never contains a newline
  out += "\n\n";
}

}  // namespace rf::fanout
