// Http steps against a scripted executor: retries and the one Idempotency-Key they share,
// failures that are final, secrets, the dead-letter list and its retry, and a cancel that
// aborts the call in flight.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "coordinator_fixture.h"
#include "test_support.h"

namespace rf::engine::test {
namespace {

constexpr std::string_view kHttp400 = R"({"name":"h400",
  "retry":{"max_attempts":3,"initial_ms":1,"max_ms":5,"jitter":0},
  "steps":[{"id":"call","type":"http","request":{"url":"http://127.0.0.1:9/x"},
            "retry":{"on_status":[400]}}]})";

Task<void> HttpRetryBody(Engine* e) {
  ScriptedHttp& http = g->http0();
  http.script = {Reply(503), Reply(503, Value("busy")), Reply(200, J(R"({"id":"o-7"})"))};
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  Value run = co_await MustStart(e, "h", J(R"({"id":7})"), kWait);
  INFO(S(run));
  CHECK(Str(run, "/status") == "succeeded");
  Value step = StepOf(run, "call");
  CO_REQUIRE(Size(step, "/attempts") == 3);
  CHECK(Str(step, "/attempts/0/error") == "HTTP 503");
  CHECK(Str(step, "/attempts/1/error") == "HTTP 503");
  CHECK(At(step, "/attempts/2/error").is_null());
  CHECK(At(step, "/output") == J(R"({"status":200,"body":{"id":"o-7"}})"));
  CHECK(At(run, "/output") == J(R"({"call":{"status":200,"body":{"id":"o-7"}}})"));
  CO_REQUIRE(http.calls.size() == 3);
  const std::string key = Str(run, "/id") + "/call";
  for (const ScriptedHttp::Seen& c : http.calls) {
    CHECK(c.idempotency_key == key);
    CHECK(c.method == "POST");
    CHECK(c.url == "http://127.0.0.1:9/orders/7");
    CHECK(J(c.body) == J(R"({"order":7})"));
    CHECK(c.content_type == "application/json");
  }
}

Task<void> Http400Body(Engine* e) {
  ScriptedHttp& http = g->http0();
  // Without on_status a 4xx is final.
  http.script = {Reply(400), Reply(200)};
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  Value once = co_await MustStart(e, "h", J(R"({"id":1})"), kWait);
  INFO(S(once));
  CHECK(Str(once, "/status") == "failed");
  CHECK(Size(StepOf(once, "call"), "/attempts") == 1);
  CHECK(Str(StepOf(once, "call"), "/status") == "failed");
  CHECK(Str(once, "/error/message") == "step 'call' failed: HTTP 400");
  CHECK(Str(once, "/error/step") == "call");
  CHECK(http.calls.size() == 1);

  // With on_status [400] it is retried like a 5xx.
  http.calls.clear();
  http.script = {Reply(400), Reply(400), Reply(201)};
  if (!co_await Register(e, "h400", std::string(kHttp400))) co_return;
  Value retried = co_await MustStart(e, "h400", J("{}"), kWait);
  INFO(S(retried));
  CHECK(Str(retried, "/status") == "succeeded");
  CHECK(Size(StepOf(retried, "call"), "/attempts") == 3);
  CHECK(At(StepOf(retried, "call"), "/output/status") == Value(201));
  CHECK(http.calls.size() == 3);
}

Task<void> HttpEgressDeniedBody(Engine* e) {
  ScriptedHttp& http = g->http0();
  // The client refused the address: retrying cannot change that, whatever max_attempts says.
  http.script = {
      HttpResult{Error{Errc::kEgressDenied, "127.0.0.1 is loopback; allow it with --egress-allow"},
                 0, Value()},
      Reply(200)};
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  Value run = co_await MustStart(e, "h", J(R"({"id":1})"), kWait);
  INFO(S(run));
  CHECK(Str(run, "/status") == "failed");
  CHECK(Size(StepOf(run, "call"), "/attempts") == 1);
  CHECK(Str(StepOf(run, "call"), "/attempts/0/error") ==
        "egress_denied: 127.0.0.1 is loopback; allow it with --egress-allow");
  CHECK(http.calls.size() == 1);
}

constexpr std::string_view kSecretHttp = R"({"name":"sec",
  "steps":[{"id":"call","type":"http","request":{"method":"POST",
    "url":"http://127.0.0.1:9/x?k={{secrets.KEY}}",
    "headers":{"Authorization":"Bearer {{secrets.KEY}}"},
    "body":{"key":"{{secrets.KEY}}","id":"{{input.id}}"}}}]})";
constexpr std::string_view kMissingSecret = R"({"name":"nosec",
  "retry":{"max_attempts":5,"initial_ms":1,"max_ms":5,"jitter":0},
  "steps":[{"id":"call","type":"http","request":{"url":"http://127.0.0.1:9/{{secrets.NOPE}}"}}]})";

Task<void> HttpSecretsBody(Engine* e) {
  ScriptedHttp& http = g->http0();
  http.secrets["default/KEY"] = "v4lue-0f-key";
  http.secrets["other/NOPE"] = "another namespace's";
  // The server echoes the key back, in the body and in a header-like field.
  http.script = {
      Reply(200, J(R"({"echo":{"key":"v4lue-0f-key"},"v4lue-0f-key":"seen as a key"})"))};
  if (!co_await Register(e, "sec", std::string(kSecretHttp))) co_return;
  if (!co_await Register(e, "nosec", std::string(kMissingSecret))) co_return;
  Value run = co_await MustStart(e, "sec", J(R"({"id":1})"), kWait);
  CO_REQUIRE(http.calls.size() == 1);
  CHECK(http.calls[0].url == "http://127.0.0.1:9/x?k=v4lue-0f-key");
  CHECK(http.calls[0].body == R"({"key":"v4lue-0f-key","id":1})");
  const std::string text = S(run);
  INFO(text);
  CHECK(Str(run, "/status") == "succeeded");
  CHECK(text.find("v4lue-0f-key") == std::string::npos);
  CHECK(Str(StepOf(run, "call"), "/output/body/echo/key") == "[redacted]");
  // A secret that is not set in the run's namespace: the step fails at once, never called.
  Value failed = co_await MustStart(e, "nosec", J("{}"), kWait);
  INFO(S(failed));
  CHECK(Str(failed, "/status") == "failed");
  CHECK(Size(StepOf(failed, "call"), "/attempts") == 1);
  CHECK(Str(StepOf(failed, "call"), "/attempts/0/error") == "not_found: secret 'NOPE' is not set");
  CHECK(http.calls.size() == 1);
}

Task<void> DeadLetterBody(Engine* e) {
  ScriptedHttp& http = g->http0();
  http.script = {Reply(503), Reply(502), Reply(500)};
  http.otherwise = Reply(200, Value("fine"));
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  Value ok = co_await MustStart(e, "chain", J("{}"), kWait);
  Value run = co_await MustStart(e, "h", J(R"({"id":2})"), kWait);
  INFO(S(run));
  CHECK(Str(run, "/status") == "failed");
  CHECK(Str(run, "/error/message") == "step 'call' failed: HTTP 500");
  CHECK(Size(StepOf(run, "call"), "/attempts") == 3);
  CHECK(http.calls.size() == 3);

  RunQuery q;
  q.dead_letter = true;
  std::vector<Value> dead = co_await List(e, &q);
  CO_REQUIRE(dead.size() == 1);  // the succeeded chain run is not there
  CHECK(Str(dead[0], "/id") == Str(run, "/id"));
  CHECK(Str(dead[0], "/status") == "failed");
  CHECK(Str(dead[0], "/step") == "call");
  CHECK(Str(dead[0], "/error") == "step 'call' failed: HTTP 500");
  std::vector<Value> all = co_await List(e, &kAnyRun);
  CHECK(all.size() == 2);

  // The upstream recovered: a retry runs the failed step again, and it succeeds.
  auto retried = co_await Retry(e, IdOf(run));
  CO_REQUIRE(retried.has_value());
  CHECK(Str(J(retried->json), "/status") != "failed");
  Value done = co_await WaitStatus(e, IdOf(run), "succeeded");
  INFO(S(done));
  Value step = StepOf(done, "call");
  CO_REQUIRE(Size(step, "/attempts") == 4);
  CHECK(At(step, "/attempts/3/error").is_null());
  CHECK(At(step, "/output") == J(R"({"status":200,"body":"fine"})"));
  CHECK(At(done, "/error").is_null());
  CHECK(http.calls.size() == 4);
  std::vector<Value> dead_after = co_await List(e, &q);
  CHECK(dead_after.empty());
  // Only failed runs can be retried.
  CheckError(co_await Retry(e, IdOf(done)), Errc::kConflict);
  CheckError(co_await Retry(e, IdOf(ok)), Errc::kConflict);
}

Task<void> CancelBody(Engine* e) {
  ScriptedHttp& http = g->http0();
  http.block = true;
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  Value run = co_await MustStart(e, "h", J(R"({"id":3})"));
  const bool started = co_await WaitCount(&http.in_flight, 1);
  CO_REQUIRE(started);
  auto cancelled = co_await Cancel(e, IdOf(run));
  CO_REQUIRE(cancelled.has_value());
  Value view = J(cancelled->json);
  INFO(cancelled->json);
  CHECK(Str(view, "/status") == "cancelled");
  CHECK(Str(view, "/error/message") == "cancelled");
  // The executor hears of it once the cancellation is durable.
  const bool cancel_seen = co_await WaitCount(&http.cancels, 1);
  CHECK(cancel_seen);
  CHECK(http.in_flight == 0);
  Result<Value> after = co_await Get(e, IdOf(run));
  CO_REQUIRE(after.has_value());
  Value step = StepOf(*after, "call");
  CHECK(Str(step, "/status") == "cancelled");
  CO_REQUIRE(Size(step, "/attempts") == 1);
  CHECK(Str(step, "/attempts/0/error") == "run cancelled");
  CHECK(http.calls.size() == 1);
  CheckError(co_await Cancel(e, IdOf(run)), Errc::kConflict);
  RunId unknown = rf::engine::NewRunId(0, WallNow() / kMillis);
  CheckError(co_await Cancel(e, unknown), Errc::kNotFound);
}

}  // namespace

TEST_SUITE("engine.coordinator") {
  TEST_CASE("an http step retried after 503s succeeds, sending one Idempotency-Key throughout" *
            doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &HttpRetryBody);
  }

  TEST_CASE("a 4xx fails an http step at once unless its on_status lists it" *
            doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &Http400Body);
  }

  TEST_CASE("an http attempt the egress policy denied is final, not retried" *
            doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &HttpEgressDeniedBody);
  }

  TEST_CASE(
      "secrets are rendered into the call only: the output is redacted, a missing one fails at "
      "once" *
      doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &HttpSecretsBody);
  }

  TEST_CASE("a run whose retries are exhausted is dead-lettered and a retry can finish it" *
            doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &DeadLetterBody);
  }

  TEST_CASE("cancelling a run aborts its http call in flight" * doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &CancelBody);
  }
}

}  // namespace rf::engine::test
