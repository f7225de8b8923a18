// Each step type run to its end on one engine: noop chains, fan-in, conditions, transforms,
// approvals (signalled or timed out) and delays; and a start whose idempotency key is known.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "coordinator_fixture.h"
#include "test_support.h"

namespace rf::engine::test {
namespace {

constexpr std::string_view kFan = R"({"name":"fan","steps":[
  {"id":"a","type":"noop"},
  {"id":"b","type":"noop","depends_on":["a"]},{"id":"c","type":"noop","depends_on":["a"]},
  {"id":"d","type":"noop","depends_on":["b","c"]},
  {"id":"e","type":"noop","depends_on":["a"]}]})";

constexpr std::string_view kWhen = R"({"name":"when","steps":[
  {"id":"a","type":"noop"},
  {"id":"b","type":"noop","depends_on":["a"],"when":"{{input.go}} == true"},
  {"id":"c","type":"noop","depends_on":["b"]}]})";

constexpr std::string_view kTransform = R"({"name":"xf",
  "output":{"greeting":"{{steps.t.output.greeting}}","n":"{{steps.t.output.n}}"},
  "steps":[{"id":"a","type":"noop"},
  {"id":"t","type":"transform","depends_on":["a"],"output":{
     "greeting":"hello {{input.name}}","n":"{{steps.a.output.n}}","wf":"{{run.workflow}}",
     "run":"{{run.id}}","list":["{{input.name}}",1]}}]})";

constexpr std::string_view kApprovalTimeout = R"({"name":"approve-timeout","steps":[
  {"id":"approve","type":"approval","timeout_ms":50},
  {"id":"after","type":"noop","depends_on":["approve"]}]})";

constexpr std::string_view kDelay = R"({"name":"delay","steps":[
  {"id":"wait","type":"delay","ms":50},{"id":"after","type":"noop","depends_on":["wait"]}]})";

Task<void> NoopChainBody(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  for (unsigned shard = 0; shard < e->shards(); ++shard) {
    CAPTURE(shard);
    auto r =
        co_await Start(e, "chain", J(R"({"x":1,"s":"t"})"), kWait, "", static_cast<int>(shard));
    CO_REQUIRE(r.has_value());
    CHECK(r->created);
    CHECK(r->terminal);
    Value run = J(r->json);
    INFO(r->json);
    CHECK(e->OwnerOf(IdOf(run)) == shard);
    CHECK(Str(run, "/status") == "succeeded");
    CHECK(Str(run, "/workflow") == "chain");
    CHECK(At(run, "/version") == Value(1));
    CHECK(At(run, "/output") == J(R"({"c":{"x":1,"s":"t"}})"));
    CHECK(At(run, "/finished_ms").is_int());
    CO_REQUIRE(Size(run, "/steps") == 3);
    for (const char* id : {"a", "b", "c"}) {
      CAPTURE(id);
      Value s = StepOf(run, id);
      CHECK(Str(s, "/status") == "succeeded");
      CHECK(At(s, "/output") == J(R"({"x":1,"s":"t"})"));
      CO_REQUIRE(Size(s, "/attempts") == 1);
      Value a = At(s, "/attempts/0");
      CHECK(Int(a, "/finished_ms") >= Int(a, "/started_ms"));
      CHECK(Int(a, "/started_ms") > 0);
      CHECK(At(a, "/error").is_null());
    }
    // The same view is there to read afterwards.
    std::string text = co_await GetText(e, IdOf(run));
    CHECK(text == r->json);
  }
}

Task<void> FanBody(Engine* e) {
  if (!co_await Register(e, "fan", std::string(kFan))) co_return;
  Value run = co_await MustStart(e, "fan", J(R"({"n":5})"), kWait);
  INFO(S(run));
  CHECK(Str(run, "/status") == "succeeded");
  // d joins two branches: its input (and noop output) is their outputs by id.
  CHECK(At(StepOf(run, "d"), "/output") == J(R"({"b":{"n":5},"c":{"n":5}})"));
  // The run's default output: every terminal step's output by id.
  CHECK(At(run, "/output") == J(R"({"d":{"b":{"n":5},"c":{"n":5}},"e":{"n":5}})"));
}

Task<void> WhenBody(Engine* e) {
  if (!co_await Register(e, "when", std::string(kWhen))) co_return;
  Value no = co_await MustStart(e, "when", J(R"({"go":false})"), kWait);
  INFO(S(no));
  CHECK(Str(no, "/status") == "succeeded");
  CHECK(Str(StepOf(no, "b"), "/status") == "skipped");
  CHECK(Size(StepOf(no, "b"), "/attempts") == 0);
  CHECK(Str(StepOf(no, "c"), "/status") == "succeeded");
  CHECK(At(no, "/output") == J(R"({"c":null})"));  // a skipped step has no output

  Value yes = co_await MustStart(e, "when", J(R"({"go":true})"), kWait);
  INFO(S(yes));
  CHECK(Str(StepOf(yes, "b"), "/status") == "succeeded");
  CHECK(At(yes, "/output") == J(R"({"c":{"go":true}})"));
}

Task<void> TransformBody(Engine* e) {
  if (!co_await Register(e, "xf", std::string(kTransform))) co_return;
  Value run = co_await MustStart(e, "xf", J(R"({"name":"ada","n":3})"), kWait);
  INFO(S(run));
  CHECK(Str(run, "/status") == "succeeded");
  Value expect = J(R"({"greeting":"hello ada","n":3,"wf":"xf","run":"","list":["ada",1]})");
  expect.Set("run", Str(run, "/id"));
  CHECK(At(StepOf(run, "t"), "/output") == expect);
  CHECK(At(run, "/output") == J(R"({"greeting":"hello ada","n":3})"));
}

Task<void> ApprovalBody(Engine* e) {
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  Value run = co_await MustStart(e, "approve", J(R"({"order":1})"));
  RunId id = IdOf(run);
  Value waiting = co_await WaitStatus(e, id, "waiting");
  CHECK(Str(StepOf(waiting, "approve"), "/status") == "waiting");
  CHECK(Str(StepOf(waiting, "after"), "/status") == "pending");
  CheckError(co_await Signal(e, id, "after", Value()), Errc::kNotFound);  // not an approval step
  CheckError(co_await Signal(e, id, "nope", Value()), Errc::kNotFound);

  const Value payload = J(R"({"approved":true,"by":"ann"})");
  auto signalled = co_await Signal(e, id, "approve", payload);
  CO_REQUIRE(signalled.has_value());
  Value done = co_await WaitStatus(e, id, "succeeded");
  INFO(S(done));
  CHECK(At(StepOf(done, "approve"), "/output") == payload);
  CHECK(At(done, "/output") == J(R"({"after":{"approved":true,"by":"ann"}})"));
  CheckError(co_await Signal(e, id, "approve", payload), Errc::kConflict);
}

Task<void> ApprovalTimeoutBody(Engine* e) {
  if (!co_await Register(e, "approve-timeout", std::string(kApprovalTimeout))) co_return;
  Value run = co_await MustStart(e, "approve-timeout", J("{}"), kWait);
  INFO(S(run));
  CHECK(Str(run, "/status") == "failed");
  CHECK(Str(run, "/error/message") == "step 'approve' failed: approval timed out");
  CHECK(Str(run, "/error/step") == "approve");
  CHECK(Str(StepOf(run, "approve"), "/status") == "failed");
  CHECK(Str(StepOf(run, "after"), "/status") == "cancelled");
  CHECK(Int(run, "/finished_ms") - Int(run, "/created_ms") >= 50);
  CheckError(co_await Signal(e, IdOf(run), "approve", Value(true)), Errc::kConflict);
}

Task<void> DelayBody(Engine* e) {
  if (!co_await Register(e, "delay", std::string(kDelay))) co_return;
  Value run = co_await MustStart(e, "delay", J(R"({"d":1})"), kWait);
  INFO(S(run));
  CHECK(Str(run, "/status") == "succeeded");
  Value wait = StepOf(run, "wait");
  CHECK(Str(wait, "/status") == "succeeded");
  CO_REQUIRE(Size(wait, "/attempts") == 1);
  CHECK(Int(wait, "/attempts/0/finished_ms") - Int(wait, "/attempts/0/started_ms") >= 50);
  CHECK(At(wait, "/output").is_null());  // a delay outputs null
  CHECK(At(run, "/output") == J(R"({"after":null})"));
}

Task<void> IdempotentBody(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  if (!co_await Register(e, "fan", std::string(kFan))) co_return;
  auto first = co_await Start(e, "chain", J(R"({"v":1})"), kWait, "order-42");
  auto again = co_await Start(e, "chain", J(R"({"v":2})"), kWait, "order-42");
  auto other = co_await Start(e, "chain", J(R"({"v":3})"), kWait, "order-43");
  auto other_wf = co_await Start(e, "fan", J(R"({"v":4})"), kWait, "order-42");
  CO_REQUIRE(first.has_value());
  CO_REQUIRE(again.has_value());
  CO_REQUIRE(other.has_value());
  CO_REQUIRE(other_wf.has_value());
  CHECK(first->created);
  CHECK_FALSE(again->created);
  CHECK(other->created);
  CHECK(other_wf->created);  // keys are per workflow
  Value a = J(first->json), b = J(again->json);
  CHECK(Str(a, "/id") == Str(b, "/id"));
  CHECK(At(b, "/input") == J(R"({"v":1})"));  // the first start's input, not the second's
  CHECK(Str(b, "/idempotency_key") == "order-42");
  CHECK(Str(J(other->json), "/id") != Str(a, "/id"));
  CHECK(Str(J(other_wf->json), "/id") != Str(a, "/id"));
  const size_t count1 = co_await RunCount(e);
  CHECK(count1 == 3);
}

}  // namespace

TEST_SUITE("engine.coordinator") {
  TEST_CASE("a noop chain started with wait succeeds with its output and one attempt per step" *
            doctest::timeout(30)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      Phase(c, &NoopChainBody);
    }
  }

  TEST_CASE("fan-in gets the branch outputs by id and the run output has every terminal step" *
            doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &FanBody);
  }

  TEST_CASE("a false when skips the step and its dependent still runs" * doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &WhenBody);
  }

  TEST_CASE("a transform step renders its template from the input, steps and run" *
            doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &TransformBody);
  }

  TEST_CASE("an approval step completes with the signal's payload" * doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &ApprovalBody);
  }

  TEST_CASE("an approval that times out fails the run" * doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &ApprovalTimeoutBody);
  }

  TEST_CASE("a delay step completes when its timer fires" * doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &DelayBody);
  }

  TEST_CASE("a start with a known idempotency key returns the existing run" *
            doctest::timeout(30)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      Phase(c, &IdempotentBody);
    }
  }
}

}  // namespace rf::engine::test
