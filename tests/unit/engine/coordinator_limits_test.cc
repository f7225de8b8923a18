// Values over the JSON limits (size, depth, UTF-8) are refused at start and signal, or fail
// the step that made them: nothing over them reaches the journal.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "coordinator_fixture.h"
#include "json/value.h"
#include "json/value_limits.h"
#include "test_support.h"

namespace rf::engine::test {
namespace {

// Step outputs over the limits fail their attempt; nothing over them reaches the journal.
constexpr std::string_view kDeepTransform = R"({"name":"deep","steps":[
  {"id":"t","type":"transform","output":{"wrapped":"{{input}}"}}]})";

Value Nest(size_t depth) {
  Value v = Value(1);
  for (size_t i = 0; i < depth; ++i) v = Value(rf::json::Array{std::move(v)});
  return v;
}

Task<void> OutputLimitsBody(Engine* e) {
  if (!co_await Register(e, "deep", std::string(kDeepTransform))) co_return;
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  // Input at the limit: accepted; the transform nests it one level deeper: the step fails, at
  // once (a pure step would compute the same again).
  Value run = co_await MustStart(e, "deep", Nest(rf::json::kMaxDepth), kWait);
  INFO(S(run));
  CHECK(Str(run, "/status") == "failed");
  CHECK(Size(StepOf(run, "t"), "/attempts") == 1);
  CHECK(Str(StepOf(run, "t"), "/error") == "step output nests deeper than 64");
  g->ids.push_back(Str(run, "/id"));
  g->jsons.push_back(S(run));
  // One level less fits the step, but the run's output {"t": output} is one level deeper again.
  Value out = co_await MustStart(e, "deep", Nest(rf::json::kMaxDepth - 1), kWait);
  CHECK(Str(out, "/status") == "failed");
  CHECK(Str(StepOf(out, "t"), "/status") == "succeeded");
  CHECK(Str(out, "/error/message") == "run output nests deeper than 64");
  g->ids.push_back(Str(out, "/id"));
  g->jsons.push_back(S(out));
  Value ok = co_await MustStart(e, "deep", Nest(rf::json::kMaxDepth - 2), kWait);
  CHECK(Str(ok, "/status") == "succeeded");
  g->ids.push_back(Str(ok, "/id"));
  g->jsons.push_back(S(ok));
  // Input over the limits: refused.
  CheckError(co_await Start(e, "deep", Nest(rf::json::kMaxDepth + 1)), Errc::kTooDeep);
  CheckError(co_await Start(e, "deep", Value(std::string(rf::json::kMaxValueBytes, 'x'))),
             Errc::kTooLarge);
  CheckError(co_await Start(e, "deep", Value(std::string("\xed\xa0\x80"))), Errc::kInvalidArgument);
  // An http body that is too large, then one whose output {"status","body"} nests too deep: two
  // failed attempts that the retry policy retries; the third fits.
  ScriptedHttp& http = g->http0();
  http.script = {Reply(200, Value(std::string(rf::json::kMaxValueBytes, 'y'))),
                 Reply(200, Nest(rf::json::kMaxDepth)), Reply(200, J(R"({"id":1})"))};
  Value h = co_await MustStart(e, "h", J(R"({"id":1})"), kWait);
  INFO(S(h));
  CHECK(Str(h, "/status") == "succeeded");
  Value step = StepOf(h, "call");
  CO_REQUIRE(Size(step, "/attempts") == 3);
  CHECK(Str(step, "/attempts/0/error") == "step output exceeds 1 MiB once encoded");
  CHECK(Str(step, "/attempts/1/error") == "step output nests deeper than 64");
  g->ids.push_back(Str(h, "/id"));
  g->jsons.push_back(S(h));
}

// Every run of OutputLimitsBody reads back the same after a restart.
Task<void> OutputLimitsAfterBody(Engine* e) {
  CO_REQUIRE(g->ids.size() == 4);
  for (size_t i = 0; i < g->ids.size(); ++i)
    CHECK(S(J(co_await GetText(e, *rf::engine::ParseRunId(g->ids[i])))) == g->jsons[i]);
  CHECK(Stats0(e).runs_quarantined.Get() == 0);
}

Task<void> SignalLimitsBody(Engine* e) {
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  Value run = co_await MustStart(e, "approve", Value());
  RunId id = IdOf(run);
  co_await WaitStatus(e, id, "waiting");
  CheckError(co_await Signal(e, id, "approve", Nest(rf::json::kMaxDepth + 1)), Errc::kTooDeep);
  CheckError(co_await Signal(e, id, "approve", Value(std::string(rf::json::kMaxValueBytes, 'z'))),
             Errc::kTooLarge);
  auto r = co_await Signal(e, id, "approve", Nest(rf::json::kMaxDepth));
  CHECK(r.has_value());
}

}  // namespace

TEST_SUITE("engine.coordinator") {
  TEST_CASE(
      "inputs and step outputs over the limits are refused or fail their step, and read back" *
      doctest::timeout(60)) {
    Ctx c(1);
    Phase(c, &OutputLimitsBody);
    Phase(c, &OutputLimitsAfterBody);
  }

  TEST_CASE("a signal payload over the limits is refused" * doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &SignalLimitsBody);
  }
}

}  // namespace rf::engine::test
