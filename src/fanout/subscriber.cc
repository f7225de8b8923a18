#include "fanout/subscriber.h"

#include <charconv>

#include "reactor/shard.h"

namespace rf::fanout {
namespace {

struct Delivery {
  std::shared_ptr<Subscriber> to;
  std::vector<Chunk> frames;
  bool end;
};

// Every subscriber of one home shard that gets the same frames.
struct Batch {
  std::vector<std::shared_ptr<Subscriber>> to;
  std::vector<Chunk> frames;
};

}  // namespace

void Subscriber::Publish(const std::shared_ptr<Subscriber>& s, std::string frames, bool end) {
  std::vector<Chunk> chunks;
  if (!frames.empty()) chunks.push_back(MakeChunk(std::move(frames)));
  Publish(s, std::move(chunks), end);
}

void Subscriber::Publish(const std::shared_ptr<Subscriber>& s, std::vector<Chunk> frames, bool end) {
  if (s->closed()) return;
  reactor::Shard& here = reactor::Shard::Current();
  if (here.id() == s->home_) {
    s->Deliver(frames, end);
    return;
  }
  // One allocation per cross-shard delivery to one run's subscriber (workflow
  // feeds, the many-subscriber case, go through PublishAll).
  auto* d = new Delivery{s, std::move(frames), end};
  here.Post(s->home_, reactor::Message{&Subscriber::DeliverThere, d});
}

void Subscriber::PublishAll(std::span<const std::shared_ptr<Subscriber>> subs, const std::vector<Chunk>& frames) {
  if (subs.empty() || frames.empty()) return;
  reactor::Shard& here = reactor::Shard::Current();
  // Shards are few: a small array of batches indexed by home shard.
  std::vector<Batch*> batches;
  for (const auto& s : subs) {
    if (s->closed()) continue;
    if (s->home_ == here.id()) {
      s->Deliver(frames, false);
      continue;
    }
    if (batches.size() <= s->home_) batches.resize(s->home_ + 1, nullptr);
    Batch*& b = batches[s->home_];
    if (!b) b = new Batch{{}, frames};
    b->to.push_back(s);
  }
  for (unsigned home = 0; home < batches.size(); ++home)
    if (batches[home]) here.Post(home, reactor::Message{&Subscriber::DeliverAllThere, batches[home]});
}

void Subscriber::DeliverThere(void* p) {
  std::unique_ptr<Delivery> d(static_cast<Delivery*>(p));
  d->to->Deliver(d->frames, d->end);
}

void Subscriber::DeliverAllThere(void* p) {
  std::unique_ptr<Batch> b(static_cast<Batch*>(p));
  for (const auto& s : b->to) s->Deliver(b->frames, false);
}

void Subscriber::Deliver(std::span<const Chunk> frames, bool end) {
  if (closed() || overflowed_) return;
  for (const Chunk& c : frames) {
    pending_bytes_ += c->size();
    pending_.push_back(c);
  }
  ended_ = ended_ || end;
  if (pending_bytes_ > max_buffer_) {
    overflowed_ = true;
    pending_.clear();
    pending_.shrink_to_fit();
    pending_bytes_ = 0;
    if (abort_fn_) abort_fn_(abort_ctx_);
  }
  if (waiter_) reactor::Shard::Current().Schedule(std::exchange(waiter_, {}));
}

void Subscriber::Wake() {
  if (waiter_) reactor::Shard::Current().Schedule(std::exchange(waiter_, {}));
}

void AppendFrame(std::string& out, uint64_t seq, std::string_view type, std::string_view json) {
  char num[24];
  auto [end, ec] = std::to_chars(num, num + sizeof num, seq);
  (void)ec;
  out.reserve(out.size() + 4 + (end - num) + 8 + type.size() + 7 + json.size() + 2);
  out += "id: ";
  out.append(num, end);
  out += "\nevent: ";
  out += type;
  out += "\ndata: ";
  out += json;  // compact JSON: never contains a newline
  out += "\n\n";
}

Chunk MakeFrame(uint64_t seq, std::string_view type, std::string_view json) {
  std::string s;
  AppendFrame(s, seq, type, json);
  return MakeChunk(std::move(s));
}

std::string Join(const std::vector<Chunk>& chunks) {
  std::string out;
  for (const Chunk& c : chunks) out += *c;
  return out;
}

}  // namespace rf::fanout
