#include "trace/tracer.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "json/parse.h"
#include "reactor/shard.h"
#include "reactor/test_reactor.h"

using namespace rf;
using namespace rf::trace;
using reactor::Reactor;
using reactor::Task;

namespace {

// What the fake receiver answers, one entry per request (the last one repeats), and what it got.
struct FakeReceiver {
  std::vector<int> answers;  // an HTTP status, or -1: a transport error
  std::vector<size_t> spans_per_request;
  size_t calls = 0;
};
FakeReceiver g_rx;

Task<Result<int>> FakePost(std::string body, Deadline) {
  const int answer = g_rx.answers[std::min(g_rx.calls, g_rx.answers.size() - 1)];
  ++g_rx.calls;
  auto doc = json::Parse(body);
  size_t n = 0;
  if (doc) n = doc->Find("resourceSpans")->as_array()[0].Find("scopeSpans")->as_array()[0].Find("spans")->as_array().size();
  g_rx.spans_per_request.push_back(n);
  if (answer < 0) co_return Error{Errc::kUnavailable, "connection refused"};
  co_return answer;
}

TraceOptions FastOptions() {
  TraceOptions o;
  o.endpoint = "http://127.0.0.1:1/v1/traces";
  o.buffer_spans = 4;
  o.batch_spans = 2;
  o.batch_delay = 20 * kMillis;
  o.max_retries = 2;
  o.retry_initial = 5 * kMillis;
  return o;
}

void Put(Tracer& t, SpanId id) {
  Span* s = t.Record();
  REQUIRE(s != nullptr);
  s->trace = TraceId{1, 2};
  s->id = id;
  s->name = "span";
}

struct Case {
  TraceOptions options;
  TraceStats stats;
  size_t spans = 0;
};
Case* g_case = nullptr;

Task<void> RecordAndExport(Reactor&) {
  Tracer t(g_case->options, &g_case->stats);
  for (size_t i = 0; i < g_case->spans; ++i) Put(t, i + 1);
  reactor::TaskGroup group;
  reactor::Spawn(t.Export(&FakePost), &group);
  const Deadline until = Deadline::After(5 * kSeconds);
  while (g_case->stats.exported.Get() + g_case->stats.failed.Get() < g_case->spans && !until.Expired())
    co_await reactor::Sleep(5 * kMillis);
  t.Stop();
  co_await group.Wait();
}

void Run(Case& c, std::vector<int> answers) {
  g_rx = FakeReceiver{};
  g_rx.answers = std::move(answers);
  g_case = &c;
  test::RunOnReactor(1, &RecordAndExport);
}

}  // namespace

TEST_SUITE("trace.tracer") {
  TEST_CASE("spans are sent in batches of at most batch_spans and counted as exported" * doctest::timeout(20)) {
    Case c;
    c.options = FastOptions();
    c.spans = 3;
    Run(c, {200});
    CHECK(c.stats.exported.Get() == 3);
    CHECK(c.stats.failed.Get() == 0);
    CHECK(c.stats.batches.Get() == 2);
    REQUIRE(g_rx.spans_per_request.size() == 2);
    CHECK(g_rx.spans_per_request[0] == 2);
    CHECK(g_rx.spans_per_request[1] == 1);
  }

  TEST_CASE("a receiver that is down or overloaded is retried, then the batch counts as failed" * doctest::timeout(20)) {
    Case c;
    c.options = FastOptions();
    c.spans = 2;
    Run(c, {-1, 503, 200});  // two failures, then accepted: within max_retries
    CHECK(c.stats.exported.Get() == 2);
    CHECK(g_rx.calls == 3);

    Case d;
    d.options = FastOptions();
    d.spans = 2;
    Run(d, {-1});  // never reachable: 1 try + 2 retries, then failed
    CHECK(d.stats.failed.Get() == 2);
    CHECK(d.stats.exported.Get() == 0);
    CHECK(g_rx.calls == 3);
  }

  TEST_CASE("a 4xx other than 429 is not retried" * doctest::timeout(20)) {
    Case c;
    c.options = FastOptions();
    c.spans = 1;
    Run(c, {400});
    CHECK(c.stats.failed.Get() == 1);
    CHECK(g_rx.calls == 1);
  }

  TEST_CASE("a full ring drops the span and counts it; a tracer without endpoint records nothing") {
    TraceOptions o = FastOptions();
    TraceStats stats;
    Tracer t(o, &stats);
    for (int i = 0; i < 4; ++i) CHECK(t.Record() != nullptr);
    CHECK(t.Record() == nullptr);
    CHECK(stats.dropped.Get() == 1);
    CHECK(stats.buffered.Get() == 4);

    TraceOptions off;
    Tracer none(off, &stats);
    CHECK_FALSE(none.enabled());
    CHECK_FALSE(none.Sampled(TraceId{1, 2}));
    CHECK(none.Record() == nullptr);
    CHECK(stats.dropped.Get() == 1);  // not a drop: nothing is traced
  }

  TEST_CASE("sample ratio 0 samples no trace even with an endpoint") {
    TraceOptions o = FastOptions();
    o.sample_ratio = 0;
    TraceStats stats;
    Tracer t(o, &stats);
    CHECK(t.enabled());
    CHECK_FALSE(t.Sampled(TraceId{1, 2}));
    CHECK_FALSE(t.Sampled(TraceId{~0ULL, ~0ULL}));
  }
}
