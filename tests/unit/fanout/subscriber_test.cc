#include <doctest/doctest.h>

#include "fanout/subscriber.h"
#include "reactor/submit_to.h"
#include "reactor/test_reactor.h"

using rf::fanout::Chunk;
using rf::fanout::Subscriber;
using rf::reactor::Reactor;
using rf::reactor::Shard;
using rf::reactor::Task;

namespace {

using SubList = std::vector<std::shared_ptr<Subscriber>>;

// On the subscriber's home shard: what it queued (taken), as chunk pointers.
std::vector<Chunk> TakeOn(std::shared_ptr<Subscriber> s) {
  std::vector<Chunk> out;
  s->TakePending(out);
  return out;
}

void Abort(void* p) { ++*static_cast<int*>(p); }

}  // namespace

TEST_SUITE("fanout.subscriber") {
TEST_CASE("one frame reaches many subscribers on every shard as the same bytes, and is freed after" *
          doctest::timeout(10)) {
  rf::test::RunOnReactor(2, [](Reactor&) -> Task<void> {
    SubList subs;
    for (int i = 0; i < 200; ++i) subs.push_back(std::make_shared<Subscriber>(i % 2, 1 << 20));
    Chunk frame = rf::fanout::MakeFrame(7, "step.started", R"({"seq":7})");
    std::weak_ptr<const std::string> watch = frame;
    const std::string* bytes = frame.get();
    Subscriber::PublishAll(subs, {frame});
    frame.reset();
    CHECK_FALSE(watch.expired());  // the queues hold it
    size_t same = 0;
    for (auto& s : subs) {
      // Delivered in order behind the batch: the same mailbox carries this call.
      auto got = co_await rf::reactor::SubmitTo(s->home(), &TakeOn, s);
      REQUIRE(got.size() == 1);
      if (got[0].get() == bytes) ++same;
      CHECK(*got[0] == "id: 7\nevent: step.started\ndata: {\"seq\":7}\n\n");
    }
    CHECK(same == subs.size());  // shared, never copied per subscriber
    CHECK(watch.expired());      // every reference dropped: the bytes are gone
  });
}

TEST_CASE("frames ready together are taken together, in order" * doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    auto s = std::make_shared<Subscriber>(0, 1 << 20);
    Subscriber::Publish(s, std::vector<Chunk>{rf::fanout::MakeChunk("a"), rf::fanout::MakeChunk("b")}, false);
    Subscriber::PublishAll(SubList{s}, {rf::fanout::MakeChunk("c")});
    Subscriber::Publish(s, std::string("d"), true);
    CHECK(s->pending_bytes() == 4);
    std::vector<Chunk> got;
    s->TakePending(got);
    CHECK(rf::fanout::Join(got) == "abcd");
    CHECK(got.size() == 4);
    CHECK(s->ended());
    CHECK_FALSE(s->has_pending());
    CHECK(s->pending_bytes() == 0);
    co_return;
  });
}

TEST_CASE("a subscriber past its bound is cut off, drops its references, and others go on" *
          doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    auto slow = std::make_shared<Subscriber>(0, 100);
    auto fast = std::make_shared<Subscriber>(0, 100);
    int aborted = 0;
    slow->OnOverflow(&Abort, &aborted);
    Chunk big = rf::fanout::MakeChunk(std::string(40, 'x'));
    std::weak_ptr<const std::string> watch = big;
    std::vector<Chunk> got;
    for (int i = 0; i < 3; ++i) {
      Subscriber::PublishAll(SubList{slow, fast}, {big});
      fast->TakePending(got);  // the fast one reads every time
      CHECK(got.size() == 1);
    }
    CHECK(aborted == 1);
    CHECK(slow->overflowed());
    CHECK_FALSE(slow->has_pending());
    CHECK_FALSE(fast->overflowed());
    // Once cut off, nothing more is queued for it.
    Subscriber::PublishAll(SubList{slow, fast}, {big});
    CHECK_FALSE(slow->has_pending());
    CHECK(aborted == 1);
    fast->TakePending(got);
    got.clear();
    big.reset();
    CHECK(watch.expired());
    co_return;
  });
}
}
