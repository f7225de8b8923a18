#include "engine/coordinator.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <coroutine>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/hash_ring.h"
#include "engine/engine.h"
#include "fanout/subscriber.h"
#include "json/parse.h"
#include "json/pointer.h"
#include "json/value_limits.h"
#include "json/writer.h"
#include "reactor/cancel_token.h"
#include "reactor/shard.h"
#include "reactor/submit_to.h"
#include "reactor/task.h"
#include "reactor/test_reactor.h"
#include "store/embedded/crc32c.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/format.h"
#include "store/embedded/journal.h"
#include "store/history/embedded_history.h"
#include "test_support.h"

namespace fs = std::filesystem;
using rf::Errc;
using rf::Error;
using rf::kMillis;
using rf::kSeconds;
using rf::MonoNow;
using rf::Nanos;
using rf::Result;
using rf::Status;
using rf::WallNow;
using rf::engine::CheckLayout;
using rf::engine::Coordinator;
using rf::engine::Engine;
using rf::engine::EngineOptions;
using rf::engine::HttpCall;
using rf::engine::HttpExecutor;
using rf::engine::HttpResult;
using rf::engine::RunId;
using rf::engine::RunPage;
using rf::engine::RunQuery;
using rf::engine::RunView;
using rf::engine::StartCommand;
using rf::fanout::Subscriber;
using rf::json::Value;
using rf::reactor::CancelToken;
using rf::reactor::Reactor;
using rf::reactor::Sleep;
using rf::reactor::SubmitTo;
using rf::reactor::Task;

namespace {

constexpr Nanos kWait = 10 * kSeconds;  // bound of every wait in these tests

struct TempDir : rf::test::TempDir {
  TempDir() : rf::test::TempDir("rf-coordinator") {}
};

Value J(std::string_view text) {
  // A run's JSON wraps values that may be nested up to the limit.
  auto v = rf::json::Parse(
      text, {.max_bytes = rf::json::kReplayMaxBytes, .max_depth = rf::json::kReplayMaxDepth});
  if (!v) {
    FAIL_CHECK("not JSON: " << v.error().ToString() << ": " << text);
    return Value();
  }
  return *v;
}

std::string S(const Value& v) { return rf::json::ToString(v); }

// The value at `pointer` (RFC 6901), or null when there is none.
Value At(const Value& v, std::string_view pointer) {
  const Value* p = rf::json::Resolve(v, pointer);
  return p ? *p : Value();
}

std::string Str(const Value& v, std::string_view pointer) {
  Value x = At(v, pointer);
  return x.is_string() ? x.as_string() : "<" + S(x) + ">";
}

int64_t Int(const Value& v, std::string_view pointer) {
  Value x = At(v, pointer);
  return x.is_int() ? x.as_int() : -1;
}

size_t Size(const Value& v, std::string_view pointer) {
  Value x = At(v, pointer);
  return x.is_array() ? x.as_array().size() : 0;
}

// The step with id `id` from a run's JSON (null when absent).
Value StepOf(const Value& run, std::string_view id) {
  const Value* steps = run.Find("steps");
  if (!steps || !steps->is_array()) return Value();
  for (const Value& s : steps->as_array())
    if (const Value* sid = s.Find("id"); sid && sid->is_string() && sid->as_string() == id)
      return s;
  return Value();
}

RunId IdOf(const Value& run) {
  auto id = rf::engine::ParseRunId(Str(run, "/id"));
  if (!id) {
    FAIL_CHECK("run without a valid id: " << S(run));
    return RunId{};
  }
  return *id;
}

// --- a scripted http executor ------------------------------------------------

// Resumes its coroutine when the token fires or, if one is given, at `deadline`;
// yields whether the token fired.
class UntilFired : public CancelToken::Listener {
 public:
  UntilFired(CancelToken* token, Nanos deadline) : token_(token), deadline_(deadline) {
    on_fire = &OnFire;
    timer_.fire = &OnTimer;
    timer_.self = this;
  }
  bool await_ready() const noexcept { return token_->fired(); }
  void await_suspend(std::coroutine_handle<> h) {
    waiter_ = h;
    token_->Add(this);
    if (deadline_ > 0) rf::reactor::Shard::Current().Arm(&timer_, deadline_);
  }
  bool await_resume() noexcept {
    if (waiter_) {
      token_->Remove(this);
      rf::reactor::Shard::Current().Disarm(&timer_);
    }
    return token_->fired();
  }

 private:
  struct Timer : rf::reactor::Shard::TimerNode {
    UntilFired* self = nullptr;
  };
  static void OnFire(CancelToken::Listener* l) { static_cast<UntilFired*>(l)->Wake(); }
  static void OnTimer(rf::reactor::Shard::TimerNode* n) { static_cast<Timer*>(n)->self->Wake(); }
  void Wake() {
    if (woken_) return;
    woken_ = true;
    rf::reactor::Shard::Current().Schedule(waiter_);
  }
  CancelToken* token_;
  Nanos deadline_;
  Timer timer_;
  std::coroutine_handle<> waiter_;
  bool woken_ = false;
};

HttpResult Reply(int status, Value body = Value()) {
  return HttpResult{Error{Errc::kOk, {}}, status, std::move(body)};
}

// Answers from `script` in order, then with `otherwise`; or, when `block` is
// set, waits until the coordinator fires the call's CancelToken (or, with a
// `block_limit`, until that passes, and then answers). Touched only on its shard.
class ScriptedHttp : public HttpExecutor {
 public:
  struct Seen {
    std::string method;
    std::string url;
    std::string body;
    std::string idempotency_key;
    std::string content_type;
  };

  Task<HttpResult> Call(HttpCall call, CancelToken* cancel) override {
    Seen seen{call.method, call.url, call.body, {}, {}};
    for (const auto& [name, value] : call.headers) {
      if (name == "Idempotency-Key") seen.idempotency_key = value;
      if (name == "Content-Type") seen.content_type = value;
    }
    calls.push_back(std::move(seen));
    if (block) {
      ++in_flight;
      const bool fired = co_await UntilFired(cancel, block_limit ? MonoNow() + block_limit : 0);
      --in_flight;
      if (fired) {
        ++cancels;
        co_return HttpResult{Error{Errc::kCancelled, "cancelled"}, 0, Value()};
      }
    }
    if (script.empty()) co_return otherwise;
    HttpResult r = std::move(script.front());
    script.pop_front();
    co_return r;
  }

  // Scheme and authority, as written (the real executor normalises them; the tests' URLs are).
  std::string Origin(std::string_view url) const override {
    const size_t scheme = url.find("://");
    if (scheme == std::string_view::npos) return {};
    return std::string(url.substr(0, url.find('/', scheme + 3)));
  }

  rf::Result<std::string> Secret(std::string_view ns, std::string_view name) override {
    auto it = secrets.find(std::string(ns) + "/" + std::string(name));
    if (it == secrets.end()) return Error{Errc::kNotFound, "secret '" + std::string(name) + "' is not set"};
    return it->second;
  }

  std::map<std::string, std::string> secrets;  // "<ns>/<name>" -> value
  std::deque<HttpResult> script;
  HttpResult otherwise = Reply(200, J(R"({"ok":true})"));
  bool block = false;
  Nanos block_limit = 0;
  std::vector<Seen> calls;
  size_t in_flight = 0;
  size_t cancels = 0;
};

// --- one engine per phase ----------------------------------------------------

using Body = Task<void> (*)(Engine*);

// Shared with the reactor bodies, which cannot capture.
struct Ctx {
  explicit Ctx(size_t n) : shards(n) {
    options.data_dir = dir.path();
    options.fsync = false;
    for (size_t i = 0; i < n; ++i) http.push_back(std::make_unique<ScriptedHttp>());
  }
  ScriptedHttp& http0() { return *http[0]; }

  TempDir dir;
  size_t shards;
  EngineOptions options;
  std::vector<std::unique_ptr<ScriptedHttp>> http;  // one per shard
  std::unique_ptr<rf::store::StoreFactory> stores;
  std::unique_ptr<Engine> engine;
  Body body = nullptr;
  std::string open_error;
  Nanos close_took = 0;
  bool inline_page_cache = true;  // false: a read on a shard stops at RocksDB's block cache

  // What a phase hands to the next.
  std::vector<std::string> ids;
  std::vector<std::string> jsons;
  std::string key;
};
Ctx* g = nullptr;

Task<void> Drive() {
  Engine* e = g->engine.get();
  Status st = co_await e->Open();  // suspends
  if (st) {
    co_await g->body(e);  // suspends
  } else {
    g->open_error = st.error().ToString();
  }
  const Nanos t0 = MonoNow();
  co_await e->Close();  // suspends
  g->close_took = MonoNow() - t0;
}

// Opens a fresh Engine on the context's directory, runs `body` on shard 0, closes it.
void Phase(Ctx& c, Body body) {
  REQUIRE(CheckLayout(c.options.data_dir, c.shards).has_value());
  std::vector<HttpExecutor*> http;
  for (auto& h : c.http) http.push_back(h.get());
  // What serve.cc makes: journals under the data dir, history in RocksDB beside them.
  c.stores = std::make_unique<rf::store::embedded::EmbeddedStoreFactory>(
      c.options.data_dir, c.options.fsync,
      std::make_unique<rf::store::history::EmbeddedHistoryStore>(rf::store::history::EmbeddedHistoryOptions{
          c.options.data_dir + "/history", c.options.fsync, c.options.history_cache / 2,
          c.inline_page_cache}));
  c.engine = std::make_unique<Engine>(c.shards, c.options, http, c.stores.get());
  c.body = body;
  c.open_error.clear();
  g = &c;
  rf::test::RunOnReactor(c.shards, [](Reactor&) -> Task<void> { co_await Drive(); });
  CHECK_MESSAGE(c.open_error.empty(), c.open_error);
  c.engine.reset();
  c.stores.reset();
}

// --- commands, run on the owner shard ------------------------------------------

Task<Result<RunView>> StartOn(StartCommand cmd) {
  return Coordinator::Local().Start(std::move(cmd));
}
rf::reactor::Task<Result<RunView>> GetOn(RunId id) { return Coordinator::Local().Get(id); }
Task<Result<RunView>> CancelOn(RunId id) { return Coordinator::Local().Cancel(id); }
Task<Result<RunView>> RetryOn(RunId id) { return Coordinator::Local().Retry(id); }
Task<Result<RunView>> SignalOn(RunId id, std::string name, Value payload) {
  return Coordinator::Local().Signal(id, std::move(name), std::move(payload));
}
Task<Status> SubscribeOn(RunId id, uint64_t after, std::shared_ptr<Subscriber> s) {
  return Coordinator::Local().Subscribe(id, after, std::move(s));
}
size_t RunCountOn() { return Coordinator::Local().run_count(); }

// --- the client side, on shard 0 ---------------------------------------------

Task<bool> Register(Engine* e, std::string name, std::string source) {
  auto r = co_await e->Put(name, source);  // suspends
  if (!r) {
    FAIL_CHECK("Put " << name << ": " << r.error().ToString());
    co_return false;
  }
  if (!r->compiled.errors.empty()) {
    FAIL_CHECK("Put " << name << ": " << r->compiled.errors[0].pointer << " "
                      << r->compiled.errors[0].message);
    co_return false;
  }
  CHECK(r->version >= 1);
  co_return true;
}

// A partition that `shard` owns.
uint32_t PartitionOn(Engine* e, unsigned shard) {
  for (uint32_t p = 0; p < rf::kPartitions; ++p)
    if (e->OwnerOf(p) == shard) return p;
  FAIL_CHECK("shard " << shard << " owns no partition");
  return 0;
}

// Starts a run of the latest `workflow` as the API does; `shard` >= 0 (and no
// key) places it on that shard.
Task<Result<RunView>> Start(Engine* e, std::string workflow, Value input, Nanos wait = 0,
                            std::string key = "", int shard = -1) {
  const auto* def = Coordinator::Local().registry().Latest(workflow);
  if (!def) co_return Error{Errc::kNotFound, "no workflow " + workflow};
  StartCommand cmd;
  cmd.def = *def;
  cmd.input = std::move(input);
  cmd.wait = wait;
  cmd.idempotency_key = key;
  cmd.partition = shard >= 0 && key.empty() ? PartitionOn(e, static_cast<unsigned>(shard))
                                            : e->PartitionForStart(workflow, key);
  auto op = SubmitTo(e->OwnerOf(cmd.partition), &StartOn, std::move(cmd));
  Result<RunView> r = co_await op;  // suspends
  co_return r;
}

// Start that must succeed: the run's JSON, or null (after a failed check).
Task<Value> MustStart(Engine* e, std::string workflow, Value input, Nanos wait = 0,
                      std::string key = "", int shard = -1) {
  Result<RunView> r = co_await Start(e, workflow, std::move(input), wait, key, shard);  // suspends
  if (!r) {
    FAIL_CHECK("Start " << workflow << ": " << r.error().ToString());
    co_return Value();
  }
  co_return J(r->json);
}

Task<Result<Value>> Get(Engine* e, RunId id) {
  auto op = SubmitTo(e->OwnerOf(id), &GetOn, id);
  Result<RunView> r = co_await op;  // suspends
  if (!r) co_return r.error();
  co_return J(r->json);
}

Task<std::string> GetText(Engine* e, RunId id) {
  auto op = SubmitTo(e->OwnerOf(id), &GetOn, id);
  Result<RunView> r = co_await op;  // suspends
  co_return r ? r->json : "error: " + r.error().ToString();
}

// Polls the run until its status is `status` (at most kWait); returns what it saw last.
Task<Value> WaitStatus(Engine* e, RunId id, std::string status) {
  const Nanos until = MonoNow() + kWait;
  Value last;
  while (true) {
    Result<Value> v = co_await Get(e, id);  // suspends
    if (v) last = std::move(*v);
    if (Str(last, "/status") == status || MonoNow() > until) break;
    co_await Sleep(2 * kMillis);  // suspends
  }
  CHECK_MESSAGE(Str(last, "/status") == status, S(last));
  co_return last;
}

// Polls until `*counter` reaches `n` (at most kWait).
Task<bool> WaitCount(const size_t* counter, size_t n) {
  const Nanos until = MonoNow() + kWait;
  while (*counter < n && MonoNow() < until) co_await Sleep(1 * kMillis);  // suspends
  co_return *counter >= n;
}

Task<Result<RunView>> Command(Engine* e, RunId id, int kind, std::string name = "",
                              Value payload = Value()) {
  if (kind == 0) {
    auto op = SubmitTo(e->OwnerOf(id), &CancelOn, id);
    Result<RunView> r = co_await op;  // suspends
    co_return r;
  }
  if (kind == 1) {
    auto op = SubmitTo(e->OwnerOf(id), &SignalOn, id, std::move(name), std::move(payload));
    Result<RunView> r = co_await op;  // suspends
    co_return r;
  }
  auto op = SubmitTo(e->OwnerOf(id), &RetryOn, id);
  Result<RunView> r = co_await op;  // suspends
  co_return r;
}
Task<Result<RunView>> Cancel(Engine* e, RunId id) { return Command(e, id, 0); }
Task<Result<RunView>> Signal(Engine* e, RunId id, std::string name, Value payload) {
  return Command(e, id, 1, std::move(name), std::move(payload));
}
Task<Result<RunView>> Retry(Engine* e, RunId id) { return Command(e, id, 2); }

// Every shard's page, newest first.
// The query by pointer: GCC 12 mis-copies a class-type argument into this coroutine's
// frame (ASan reports a bad free of the string's inline buffer); a pointer sidesteps it.
// A listing as the API makes it: every shard's memory and the history store.
Task<std::vector<Value>> List(Engine* e, const RunQuery* q) {
  auto page = co_await e->List(*q);  // suspends
  std::vector<Value> out;
  if (!page) {
    FAIL_CHECK("List: " << page.error().ToString());
    co_return out;
  }
  for (auto& [id, json] : page->runs) out.push_back(J(json));
  co_return out;
}

const RunQuery kAnyRun{};

Task<size_t> RunCount(Engine* e) {
  size_t n = 0;
  for (unsigned i = 0; i < e->shards(); ++i) {
    auto op = SubmitTo(i, &RunCountOn);
    n += co_await op;  // suspends
  }
  co_return n;
}

void CheckError(const Result<RunView>& r, Errc code) {
  CHECK_FALSE(r.has_value());
  if (!r) CHECK(r.error().code == code);
}

// --- workflows ---------------------------------------------------------------

constexpr std::string_view kChain = R"({"name":"chain","steps":[
  {"id":"a","type":"noop"},{"id":"b","type":"noop","depends_on":["a"]},
  {"id":"c","type":"noop","depends_on":["b"]}]})";

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

// One http step; tiny backoff so retries take milliseconds.
constexpr std::string_view kHttp = R"({"name":"h",
  "retry":{"max_attempts":3,"initial_ms":1,"max_ms":5,"jitter":0},
  "steps":[{"id":"call","type":"http","request":{"method":"POST",
    "url":"http://127.0.0.1:9/orders/{{input.id}}","body":{"order":"{{input.id}}"}}}]})";

constexpr std::string_view kHttp400 = R"({"name":"h400",
  "retry":{"max_attempts":3,"initial_ms":1,"max_ms":5,"jitter":0},
  "steps":[{"id":"call","type":"http","request":{"url":"http://127.0.0.1:9/x"},
            "retry":{"on_status":[400]}}]})";

constexpr std::string_view kApproval = R"({"name":"approve","steps":[
  {"id":"approve","type":"approval"},{"id":"after","type":"noop","depends_on":["approve"]}]})";

constexpr std::string_view kApprovalTimeout = R"({"name":"approve-timeout","steps":[
  {"id":"approve","type":"approval","timeout_ms":50},
  {"id":"after","type":"noop","depends_on":["approve"]}]})";

constexpr std::string_view kDelay = R"({"name":"delay","steps":[
  {"id":"wait","type":"delay","ms":50},{"id":"after","type":"noop","depends_on":["wait"]}]})";

// --- bodies --------------------------------------------------------------------

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
  http.script = {HttpResult{Error{Errc::kEgressDenied,
                                  "127.0.0.1 is loopback; allow it with --egress-allow"},
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
    "url":"http://127.0.0.1:9/x?k={{secrets.KEY}}","headers":{"Authorization":"Bearer {{secrets.KEY}}"},
    "body":{"key":"{{secrets.KEY}}","id":"{{input.id}}"}}}]})";
constexpr std::string_view kMissingSecret = R"({"name":"nosec",
  "retry":{"max_attempts":5,"initial_ms":1,"max_ms":5,"jitter":0},
  "steps":[{"id":"call","type":"http","request":{"url":"http://127.0.0.1:9/{{secrets.NOPE}}"}}]})";

Task<void> HttpSecretsBody(Engine* e) {
  ScriptedHttp& http = g->http0();
  http.secrets["default/KEY"] = "v4lue-0f-key";
  http.secrets["other/NOPE"] = "another namespace's";
  // The server echoes the key back, in the body and in a header-like field.
  http.script = {Reply(200, J(R"({"echo":{"key":"v4lue-0f-key"},"v4lue-0f-key":"seen as a key"})"))};
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

// Durability across a restart.
Task<void> ReopenBefore(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  g->http.back()->script = {Reply(404)};
  const int last = static_cast<int>(e->shards()) - 1;
  Value done = co_await MustStart(e, "chain", J(R"({"k":"v"})"), kWait, "durable-1");
  Value waiting = co_await MustStart(e, "approve", J(R"({"n":2})"), 0, "", last);
  Value failed = co_await MustStart(e, "h", J(R"({"id":9})"), kWait, "", last);
  CHECK(Str(done, "/status") == "succeeded");
  CHECK(Str(failed, "/status") == "failed");
  waiting = co_await WaitStatus(e, IdOf(waiting), "waiting");
  for (const Value* v : {&done, &waiting, &failed}) {
    g->ids.push_back(Str(*v, "/id"));
    g->jsons.push_back(S(*v));
  }
}

Task<void> ReopenAfter(Engine* e) {
  std::vector<Value> listed = co_await List(e, &kAnyRun);
  CHECK(listed.size() == 3);
  for (size_t i = 0; i < g->ids.size(); ++i) {
    auto id = rf::engine::ParseRunId(g->ids[i]);
    CO_REQUIRE(id.has_value());
    Result<Value> v = co_await Get(e, *id);
    CO_REQUIRE(v.has_value());
    CHECK(*v == J(g->jsons[i]));
  }
  // The registry came back too: the same source is not a new version.
  auto put = co_await e->Put("chain", std::string(kChain));
  CO_REQUIRE(put.has_value());
  CHECK_FALSE(put->created);
  CHECK(put->version == 1);
  // The idempotency key still names the first run.
  auto again = co_await Start(e, "chain", J(R"({"k":"other"})"), kWait, "durable-1");
  CO_REQUIRE(again.has_value());
  CHECK_FALSE(again->created);
  CHECK(Str(J(again->json), "/id") == g->ids[0]);
  // The waiting run still waits and takes its signal.
  RunId waiting = *rf::engine::ParseRunId(g->ids[1]);
  auto signalled = co_await Signal(e, waiting, "approve", J(R"({"ok":1})"));
  CO_REQUIRE(signalled.has_value());
  Value done = co_await WaitStatus(e, waiting, "succeeded");
  CHECK(At(done, "/output") == J(R"({"after":{"ok":1}})"));
  // The failed run is still in the dead-letter list.
  RunQuery q;
  q.dead_letter = true;
  std::vector<Value> dead = co_await List(e, &q);
  CO_REQUIRE(dead.size() == 1);
  CHECK(Str(dead[0], "/id") == g->ids[2]);
  CHECK(Str(dead[0], "/error") == "step 'call' failed: HTTP 404");
}

Task<void> InFlightBefore(Engine* e) {
  ScriptedHttp& http = g->http0();
  http.block = true;
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  Value run = co_await MustStart(e, "h", J(R"({"id":5})"));
  g->ids.push_back(Str(run, "/id"));
  const bool in_flight = co_await WaitCount(&http.in_flight, 1);
  CHECK(in_flight);
  // Close (after this body) cancels the call; the attempt stays open in the journal.
}

Task<void> InFlightAfter(Engine* e) {
  RunId id = *rf::engine::ParseRunId(g->ids.at(0));
  Value done = co_await WaitStatus(e, id, "succeeded");
  INFO(S(done));
  Value step = StepOf(done, "call");
  CO_REQUIRE(Size(step, "/attempts") == 2);
  CHECK(Str(step, "/attempts/0/error") == "interrupted by a restart");
  CHECK(At(step, "/attempts/0/finished_ms").is_int());
  CHECK(At(step, "/attempts/1/error").is_null());
  CO_REQUIRE(g->http0().calls.size() == 1);
  CHECK(g->http0().calls[0].idempotency_key == g->ids[0] + "/call");
}

constexpr int kSnapshotRuns = 40;

Task<void> SnapshotBefore(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  Value waiting = co_await MustStart(e, "approve", J("{}"), 0, "", 0);
  waiting = co_await WaitStatus(e, IdOf(waiting), "waiting");
  g->ids.push_back(Str(waiting, "/id"));
  g->jsons.push_back(S(waiting));
  for (int i = 0; i < kSnapshotRuns; ++i) {
    Value run = co_await MustStart(e, "chain", J("{\"i\":" + std::to_string(i) + "}"), kWait,
                                   "snap-" + std::to_string(i));
    CHECK(Str(run, "/status") == "succeeded");
    g->ids.push_back(Str(run, "/id"));
    g->jsons.push_back(S(run));
  }
}

Task<void> SnapshotAfter(Engine* e) {
  std::vector<Value> listed = co_await List(e, &kAnyRun);
  CHECK(listed.size() == kSnapshotRuns + 1);
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    Result<Value> v = co_await Get(e, *rf::engine::ParseRunId(g->ids[i]));
    CO_REQUIRE(v.has_value());
    CHECK(*v == J(g->jsons[i]));
  }
  auto again = co_await Start(e, "chain", J("{}"), kWait, "snap-7");
  CO_REQUIRE(again.has_value());
  CHECK_FALSE(again->created);
  CHECK(Str(J(again->json), "/id") == g->ids[8]);
  RunId waiting = *rf::engine::ParseRunId(g->ids[0]);
  auto signalled = co_await Signal(e, waiting, "approve", Value(7));
  CO_REQUIRE(signalled.has_value());
  Value done = co_await WaitStatus(e, waiting, "succeeded");
  CHECK(At(done, "/output") == J(R"({"after":7})"));
}

// Polls until the run is gone (kNotFound), at most 5 s.
Task<bool> WaitGone(Engine* e, RunId id) {
  const Nanos until = MonoNow() + 5 * kSeconds;
  while (MonoNow() < until) {
    co_await Sleep(20 * kMillis);  // suspends
    Result<Value> v = co_await Get(e, id);
    if (!v && v.error().code == Errc::kNotFound) co_return true;
  }
  co_return false;
}

Task<void> RetentionBody(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  Value waiting = co_await MustStart(e, "approve", J("{}"));
  Value run = co_await MustStart(e, "chain", J("{}"), kWait, "keep-1");
  RunId id = IdOf(run);
  CO_REQUIRE(Str(run, "/status") == "succeeded");
  const int64_t finished = Int(run, "/finished_ms");
  const bool kept = (co_await Get(e, id)).has_value();
  CHECK(kept);  // not at once
  const bool gone = co_await WaitGone(e, id);
  CO_REQUIRE(gone);
  CHECK(WallNow() / kMillis > finished + 200);  // not before the retention period
  // An unfinished run stays, however old.
  Result<Value> still = co_await Get(e, IdOf(waiting));
  CO_REQUIRE(still.has_value());
  CHECK(Str(*still, "/status") == "waiting");
  // The key was released with the run.
  auto again = co_await Start(e, "chain", J("{}"), kWait, "keep-1");
  CO_REQUIRE(again.has_value());
  CHECK(again->created);
  CHECK(Str(J(again->json), "/id") != Str(run, "/id"));
}

Task<void> RemovedBefore(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  Value run = co_await MustStart(e, "chain", J("{}"), kWait);
  g->ids.push_back(Str(run, "/id"));
  const bool gone = co_await WaitGone(e, IdOf(run));
  CHECK(gone);
}

Task<void> RemovedAfter(Engine* e) {
  // Right after Open, before any retention pass.
  Result<Value> v = co_await Get(e, *rf::engine::ParseRunId(g->ids.at(0)));
  CHECK_MESSAGE(!v.has_value(), "a run removed by retention is back after a restart");
  const size_t count4 = co_await RunCount(e);
  CHECK(count4 == 0);
}

Task<void> ReusedKeyBefore(Engine* e) {
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  Value first = co_await MustStart(e, "approve", J("{}"), 0, "k");
  RunId id1 = IdOf(first);
  auto signalled = co_await Signal(e, id1, "approve", Value(1));
  CO_REQUIRE(signalled.has_value());
  co_await WaitStatus(e, id1, "succeeded");
  const bool gone = co_await WaitGone(e, id1);
  CO_REQUIRE(gone);
  // The key was released: it now names a second run, which waits (so retention keeps it).
  auto second = co_await Start(e, "approve", J("{}"), 0, "k");
  CO_REQUIRE(second.has_value());
  CHECK(second->created);
  g->ids = {Str(first, "/id"), Str(J(second->json), "/id")};
}

Task<void> ReusedKeyAfter(Engine* e) {
  co_await Sleep(500 * kMillis);  // suspends: several retention passes
  auto again = co_await Start(e, "approve", J("{}"), 0, "k");
  CO_REQUIRE(again.has_value());
  CHECK_MESSAGE(!again->created, "the key no longer finds the run it names: a duplicate run");
  CHECK(Str(J(again->json), "/id") == g->ids.at(1));
}

Task<void> QueuedAtCloseBefore(Engine* e) {
  ScriptedHttp& http = g->http0();
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  Value a = co_await MustStart(e, "h", J(R"({"id":1})"));
  Value b = co_await MustStart(e, "h", J(R"({"id":2})"));
  g->ids = {Str(a, "/id"), Str(b, "/id")};
  const bool started = co_await WaitCount(&http.in_flight, 1);
  CO_REQUIRE(started);
  co_await Sleep(20 * kMillis);   // suspends
  CHECK(http.calls.size() == 1);  // the second waits for the one slot
  Result<Value> queued = co_await Get(e, IdOf(b));
  CO_REQUIRE(queued.has_value());
  CHECK(Str(StepOf(*queued, "call"), "/status") == "running");
}

Task<void> QueuedAtCloseAfter(Engine* e) {
  for (const std::string& id : g->ids) {
    Value done = co_await WaitStatus(e, *rf::engine::ParseRunId(id), "succeeded");
    INFO(S(done));
    CHECK(Str(StepOf(done, "call"), "/attempts/0/error") == "interrupted by a restart");
  }
}

// --- events ---------------------------------------------------------------------

struct Frame {
  uint64_t seq = 0;
  std::string type;
  Value data;
};

std::vector<Frame> Frames(std::string_view text) {
  std::vector<Frame> out;
  while (!text.empty()) {
    size_t end = text.find("\n\n");
    CHECK_MESSAGE(end != std::string_view::npos, "a frame without its end: " << text);
    if (end == std::string_view::npos) break;
    std::string_view frame = text.substr(0, end);
    text.remove_prefix(end + 2);
    Frame f;
    while (!frame.empty()) {
      size_t nl = frame.find('\n');
      std::string_view line = frame.substr(0, nl);
      frame = nl == std::string_view::npos ? std::string_view() : frame.substr(nl + 1);
      if (line.starts_with("id: ")) f.seq = std::stoull(std::string(line.substr(4)));
      if (line.starts_with("event: ")) f.type = line.substr(7);
      if (line.starts_with("data: ")) f.data = J(line.substr(6));
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<std::string> Types(const std::vector<Frame>& frames) {
  std::vector<std::string> out;
  for (const Frame& f : frames) out.push_back(f.type);
  return out;
}

// Collects what reaches `s` (on this, its home shard) until it holds `frames` frames (and, if
// `until_end`, the stream ended), at most kWait.
Task<std::string> Collect(std::shared_ptr<Subscriber> s, size_t frames, bool until_end) {
  std::string text;
  const Nanos until = MonoNow() + kWait;
  while (MonoNow() < until) {
    std::vector<rf::fanout::Chunk> got;
    s->TakePending(got);
    text += rf::fanout::Join(got);
    size_t n = 0;
    for (size_t p = text.find("\n\n"); p != std::string::npos; p = text.find("\n\n", p + 2)) ++n;
    if (n >= frames && (!until_end || s->ended())) break;
    co_await Sleep(1 * kMillis);  // suspends
  }
  co_return text;
}

Task<Status> Subscribe(Engine* e, RunId id, uint64_t after, std::shared_ptr<Subscriber> s) {
  auto op = SubmitTo(e->OwnerOf(id), &SubscribeOn, id, after, std::move(s));
  Status st = co_await op;  // suspends
  co_return st;
}

const std::vector<std::string> kApprovalEvents = {
    "run.created",  "step.started",   "run.waiting",  "step.succeeded",
    "step.started", "step.succeeded", "run.succeeded"};

Task<void> SubscribeBody(Engine* e) {
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  const int last = static_cast<int>(e->shards()) - 1;  // with 2 shards the events cross over
  Value run = co_await MustStart(e, "approve", J(R"({"n":1})"), 0, "", last);
  RunId id = IdOf(run);
  co_await WaitStatus(e, id, "waiting");
  const unsigned home = rf::reactor::Shard::Current().id();
  auto sub = std::make_shared<Subscriber>(home, 1 << 20);
  Status st = co_await Subscribe(e, id, 0, sub);
  CO_REQUIRE(st.has_value());
  std::string history = co_await Collect(sub, 3, false);
  CHECK_FALSE(sub->ended());
  std::vector<Frame> h = Frames(history);
  CHECK(Types(h) == std::vector<std::string>(kApprovalEvents.begin(), kApprovalEvents.begin() + 3));

  auto signalled = co_await Signal(e, id, "approve", J(R"({"yes":true})"));
  CO_REQUIRE(signalled.has_value());
  std::string live = co_await Collect(sub, 4, true);
  CHECK(sub->ended());
  std::vector<Frame> l = Frames(live);
  CHECK(Types(l) == std::vector<std::string>(kApprovalEvents.begin() + 3, kApprovalEvents.end()));
  // One stream, numbered without gaps or repeats.
  h.insert(h.end(), l.begin(), l.end());
  for (size_t i = 0; i < h.size(); ++i) {
    CHECK(h[i].seq == i + 1);
    CHECK(Str(h[i].data, "/run") == Str(run, "/id"));
    CHECK(At(h[i].data, "/seq") == Value(static_cast<int64_t>(i + 1)));
  }
  CO_REQUIRE(h.size() == kApprovalEvents.size());
  CHECK(Str(h[1].data, "/step") == "approve");
  CHECK(At(h[3].data, "/data/output") == J(R"({"yes":true})"));
  CHECK(At(h[6].data, "/data/output") == J(R"({"after":{"yes":true}})"));
  CHECK_FALSE(sub->has_pending());

  // Subscribing to a finished run replays it all and ends at once.
  auto late = std::make_shared<Subscriber>(home, 1 << 20);
  st = co_await Subscribe(e, id, 0, late);
  CO_REQUIRE(st.has_value());
  std::string all = co_await Collect(late, kApprovalEvents.size(), true);
  CHECK(late->ended());
  CHECK(Types(Frames(all)) == kApprovalEvents);
  RunId unknown = rf::engine::NewRunId(0, WallNow() / kMillis);
  Status missing = co_await Subscribe(e, unknown, 0, late);
  CO_REQUIRE(!missing.has_value());
  CHECK(missing.error().code == Errc::kNotFound);
}

Task<void> AfterSeqBody(Engine* e) {
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  const int last = static_cast<int>(e->shards()) - 1;
  Value run = co_await MustStart(e, "approve", J("{}"), 0, "", last);
  RunId id = IdOf(run);
  co_await WaitStatus(e, id, "waiting");
  const unsigned home = rf::reactor::Shard::Current().id();

  // A reconnect that saw events 1 and 2 gets 3 from history, then the live ones.
  auto sub = std::make_shared<Subscriber>(home, 1 << 20);
  Status st = co_await Subscribe(e, id, 2, sub);
  CO_REQUIRE(st.has_value());
  std::vector<Frame> h = Frames(co_await Collect(sub, 1, false));
  CO_REQUIRE(h.size() == 1);
  CHECK(h[0].seq == 3);
  CHECK(h[0].type == "run.waiting");
  auto signalled = co_await Signal(e, id, "approve", Value(1));
  CO_REQUIRE(signalled.has_value());
  std::vector<Frame> l = Frames(co_await Collect(sub, 4, true));
  CO_REQUIRE(l.size() == 4);
  CHECK(l.front().seq == 4);
  CHECK(l.back().seq == 7);
  CHECK(sub->ended());

  // On a finished run: only what comes after the given event.
  auto tail = std::make_shared<Subscriber>(home, 1 << 20);
  st = co_await Subscribe(e, id, 5, tail);
  CO_REQUIRE(st.has_value());
  std::vector<Frame> t = Frames(co_await Collect(tail, 2, true));
  CO_REQUIRE(t.size() == 2);
  CHECK(t[0].seq == 6);
  CHECK(t[1].type == "run.succeeded");
  CHECK(tail->ended());

  auto none = std::make_shared<Subscriber>(home, 1 << 20);
  st = co_await Subscribe(e, id, 7, none);
  CO_REQUIRE(st.has_value());
  std::string nothing = co_await Collect(none, 0, true);
  CHECK(nothing.empty());
  CHECK(none->ended());
}

bool HasSnapshot(const std::string& dir) {
  for (const auto& f : fs::directory_iterator(dir))
    if (rf::store::embedded::ParseSnapshotFileName(f.path().filename().string())) return true;
  return false;
}

// --- poison records and quarantine ----------------------------------------------

// Rewrites the `nth` (from 0) record in shard `shard`'s journal whose payload contains `find`:
// its first `find` becomes `replace` (the same length), and the record's CRC is fixed, so the
// journal layer accepts it and only the engine's decoder sees the damage.
bool RewriteRecord(const std::string& data_dir, unsigned shard, std::string_view find, size_t nth,
                   std::string_view replace) {
  namespace emb = rf::store::embedded;
  REQUIRE(find.size() == replace.size());
  std::vector<std::string> segments;
  for (const auto& f : fs::directory_iterator(emb::JournalDir(data_dir, shard)))
    if (emb::ParseSegmentFileName(f.path().filename().string())) segments.push_back(f.path());
  std::sort(segments.begin(), segments.end());
  size_t seen = 0;
  for (const std::string& path : segments) {
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    emb::RecordView rec;
    for (size_t off = 0; emb::ReadRecord(data, off, rec) == emb::RecordCheck::kOk;
         off += rec.size) {
      const size_t at = rec.payload.find(find);
      if (rec.type == emb::kBatchFrameType || at == std::string_view::npos || seen++ < nth)
        continue;
      char* payload = data.data() + off + emb::kRecordHeaderBytes;
      std::memcpy(payload + at, replace.data(), replace.size());
      const char type = static_cast<char>(rec.type);
      emb::PutU32(data.data() + off + 4,
                  emb::Crc32cExtend(emb::Crc32c(std::string_view(&type, 1)), rec.payload));
      std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
      return true;
    }
  }
  return false;
}

const rf::engine::ShardEngineStats& Stats0(Engine* e) { return e->metrics().shards[0]; }

RunQuery DeadLetterQuery() {
  RunQuery q;
  q.dead_letter = true;
  return q;
}
const RunQuery kDeadLetter = DeadLetterQuery();

Task<Value> DeadLetter(Engine* e) {
  std::vector<Value> runs = co_await List(e, &kDeadLetter);  // suspends
  co_return Value(rf::json::Array(runs.begin(), runs.end()));
}

// Two chain runs, one carrying the marker POISON through every record that holds its input.
Task<void> TwoRunsBody(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  for (const char* input : {R"({"m":"POISON"})", R"({"m":"fine"})"}) {
    Value run = co_await MustStart(e, "chain", J(input), kWait);
    CHECK(Str(run, "/status") == "succeeded");
    g->ids.push_back(Str(run, "/id"));
    g->jsons.push_back(co_await GetText(e, IdOf(run)));
  }
}

// After the poisoned run's 3rd record (step a's output) was made undecodable.
Task<void> QuarantinedBody(Engine* e) {
  CO_REQUIRE(g->ids.size() == 2);
  RunId bad = *rf::engine::ParseRunId(g->ids[0]);
  Value run = J(co_await GetText(e, bad));
  INFO(S(run));
  CHECK(Str(run, "/status") == "failed");
  CHECK(Str(run, "/error/message").starts_with("quarantined: record 3 cannot be decoded: "));
  CHECK(Str(run, "/workflow") == "chain");
  CHECK(At(run, "/input") == J(R"({"m":"POISON"})"));  // what replay applied before the damage
  CHECK(Str(StepOf(run, "a"), "/status") == "cancelled");
  // The other run reads back exactly as before.
  CHECK(co_await GetText(e, *rf::engine::ParseRunId(g->ids[1])) == g->jsons[1]);
  Value dead = co_await DeadLetter(e);
  CO_REQUIRE(Size(dead, "") == 1);
  CHECK(Str(dead, "/0/id") == g->ids[0]);
  CHECK(Str(dead, "/0/error") == Str(run, "/error/message"));
  CHECK(Stats0(e).runs_quarantined.Get() == 1);
  CHECK(Stats0(e).records_ignored.Get() == 5);  // records 4..8 of the run
  CHECK(Stats0(e).records_unreadable.Get() == 0);
  // A quarantined run does not change.
  CheckError(co_await Retry(e, bad), Errc::kConflict);
  CheckError(co_await Cancel(e, bad), Errc::kConflict);
  // Its event stream is what replay applied, then the failure.
  auto sub = std::make_shared<Subscriber>(rf::reactor::Shard::Current().id(), 1 << 20);
  Status st = co_await Subscribe(e, bad, 0, sub);
  CO_REQUIRE(st.has_value());
  std::vector<Frame> frames = Frames(co_await Collect(sub, 3, true));
  CHECK(sub->ended());
  CHECK(Types(frames) == std::vector<std::string>{"run.created", "step.started", "run.failed"});
  if (frames.size() == 3) CHECK(Str(frames[2].data, "/data/error") == Str(run, "/error/message"));
  g->jsons.push_back(S(run));
}

// A later start reaches the same verdict, also from a snapshot written after the quarantine.
Task<void> QuarantinedAgainBody(Engine* e) {
  CO_REQUIRE(g->jsons.size() == 3);
  CHECK(co_await GetText(e, *rf::engine::ParseRunId(g->ids[0])) == g->jsons[2]);
  CHECK(co_await GetText(e, *rf::engine::ParseRunId(g->ids[1])) == g->jsons[1]);
  CHECK(Stats0(e).runs_quarantined.Get() == 1);
  // More work, so that a snapshot (tiny threshold) rewrites every log, the damaged one included.
  Value more = co_await MustStart(e, "chain", J(R"({"m":"later"})"), kWait);
  CHECK(Str(more, "/status") == "succeeded");
  g->ids.push_back(Str(more, "/id"));
  g->jsons.push_back(co_await GetText(e, IdOf(more)));
  const Nanos until = MonoNow() + kWait;
  while (!HasSnapshot(rf::store::embedded::JournalDir(g->dir.path(), 0)) && MonoNow() < until)
    co_await Sleep(2 * kMillis);  // suspends
}

Task<void> MissingVersionBody(Engine* e) {
  CO_REQUIRE(g->ids.size() == 2);
  for (const std::string& id : g->ids) {
    Value run = J(co_await GetText(e, *rf::engine::ParseRunId(id)));
    INFO(S(run));
    CHECK(Str(run, "/status") == "failed");
    CHECK(Str(run, "/workflow") == "chain");
    CHECK(Str(run, "/error/message") ==
          "quarantined: workflow 'chain' version 1 is not in the definitions log");
  }
  CHECK(Stats0(e).runs_quarantined.Get() == 2);
  Value dead = co_await DeadLetter(e);
  CHECK(Size(dead, "") == 2);
}

Task<void> NoRunIdBody(Engine* e) {
  CO_REQUIRE(g->ids.size() == 2);
  Value run = J(co_await GetText(e, *rf::engine::ParseRunId(g->ids[0])));
  INFO(S(run));
  CHECK(Str(run, "/status") == "failed");
  CHECK(Str(run, "/workflow") == "(unknown)");
  CHECK(Str(run, "/error/message") == "quarantined: record 1 comes before the run's creation");
  CHECK(Stats0(e).records_unreadable.Get() == 1);  // the creation, whose run id is unreadable
  CHECK(Stats0(e).runs_quarantined.Get() == 1);
  CHECK(Stats0(e).records_ignored.Get() == 6);
  CHECK(co_await GetText(e, *rf::engine::ParseRunId(g->ids[1])) == g->jsons[1]);
}

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

  TEST_CASE("secrets are rendered into the call only: the output is redacted, a missing one fails at once" *
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

  TEST_CASE("runs, keys and waiting approvals survive closing and reopening the engine" *
            doctest::timeout(30)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      c.options.fsync = true;
      Phase(c, &ReopenBefore);
      REQUIRE(c.ids.size() == 3);
      Phase(c, &ReopenAfter);
    }
  }

  TEST_CASE("an http step in flight at close gets a new attempt after reopen" *
            doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &InFlightBefore);
    REQUIRE(c.ids.size() == 1);
    CHECK(c.http0().cancels == 1);  // Close aborted the call
    c.http0().block = false;
    c.http0().calls.clear();
    Phase(c, &InFlightAfter);
  }

  TEST_CASE("with a tiny snapshot threshold snapshots are written and a reopen restores all runs" *
            doctest::timeout(30)) {
    Ctx c(1);
    c.options.snapshot_bytes = 1;
    Phase(c, &SnapshotBefore);
    REQUIRE(c.ids.size() == kSnapshotRuns + 1);
    CHECK(HasSnapshot(rf::store::embedded::JournalDir(c.dir.path(), 0)));
    Phase(c, &SnapshotAfter);
  }

  TEST_CASE("a finished run is removed after the retention period, an unfinished one is kept" *
            doctest::timeout(30)) {
    Ctx c(1);
    c.options.retention = 200 * kMillis;
    Phase(c, &RetentionBody);
  }

  TEST_CASE("a run removed by retention stays removed after a restart" * doctest::timeout(30)) {
    Ctx c(1);
    c.options.retention = 200 * kMillis;
    Phase(c, &RemovedBefore);
    REQUIRE(c.ids.size() == 1);
    Phase(c, &RemovedAfter);
  }

  TEST_CASE("after a restart, removing an old run keeps the key of the newer run that reused it" *
            doctest::timeout(30)) {
    Ctx c(1);
    c.options.retention = 200 * kMillis;
    Phase(c, &ReusedKeyBefore);
    REQUIRE(c.ids.size() == 2);
    Phase(c, &ReusedKeyAfter);
  }

  TEST_CASE("closing the engine starts no queued http step and does not wait for one" *
            doctest::timeout(30)) {
    Ctx c(1);
    c.options.http_concurrency = 1;
    c.http0().block = true;
    c.http0().block_limit = 3 * kSeconds;  // a call Close did not cancel ends by itself
    Phase(c, &QueuedAtCloseBefore);
    REQUIRE(c.ids.size() == 2);
    CHECK_MESSAGE(c.http0().calls.size() == 1, "Close started the queued call");
    CHECK(c.http0().cancels == 1);
    CHECK(c.close_took < 1 * kSeconds);
    c.http0().block = false;
    c.http0().calls.clear();
    Phase(c, &QueuedAtCloseAfter);
  }

  TEST_CASE("a subscriber gets the run's history, then its live events, then the end" *
            doctest::timeout(30)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      Phase(c, &SubscribeBody);
    }
  }

  TEST_CASE("a subscription from an event sequence skips the events up to it" *
            doctest::timeout(30)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      Phase(c, &AfterSeqBody);
    }
  }
  TEST_CASE("a run with an undecodable record is quarantined at start, the others read back" *
            doctest::timeout(30)) {
    Ctx c(1);
    // Finished runs whose records are still in the journal: a crash came before their move
    // into history (here: no history store at all).
    c.options.history = false;
    Phase(c, &TwoRunsBody);
    // The 2nd record holding the marker is the run's 3rd (step a succeeded): invalid UTF-8.
    REQUIRE(RewriteRecord(c.dir.path(), 0, "POISON", 1, "POIS\xff\xfe"));
    Phase(c, &QuarantinedBody);
    c.options.snapshot_bytes = 1;
    Phase(c, &QuarantinedAgainBody);
    REQUIRE(HasSnapshot(rf::store::embedded::JournalDir(c.dir.path(), 0)));
    // From the snapshot: the same verdict, the same runs.
    c.jsons.resize(3);
    c.ids.resize(2);
    Phase(c, &QuarantinedAgainBody);
  }

  TEST_CASE("runs whose workflow version is missing from the definitions log are quarantined" *
            doctest::timeout(30)) {
    Ctx c(1);
    // Finished runs whose records are still in the journal: a crash came before their move
    // into history (here: no history store at all).
    c.options.history = false;
    Phase(c, &TwoRunsBody);
    fs::remove_all(c.dir.path() + "/definitions");
    Phase(c, &MissingVersionBody);
  }

  TEST_CASE("an undecodable record that names no run is counted and skipped" *
            doctest::timeout(30)) {
    Ctx c(1);
    // Finished runs whose records are still in the journal: a crash came before their move
    // into history (here: no history store at all).
    c.options.history = false;
    Phase(c, &TwoRunsBody);
    // The poisoned run's creation loses its run id; its later records quarantine it.
    REQUIRE(RewriteRecord(c.dir.path(), 0, "\"run\":\"", 0, "\"rux\":\""));
    Phase(c, &NoRunIdBody);
  }

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

// --- finished runs in the history store ---------------------------------------

namespace {

constexpr int kHistoryRuns = 12;

// Until no run is held in memory (every finished one moved and evicted), at most kWait.
Task<bool> WaitEvicted(Engine* e, size_t live) {
  const Nanos until = MonoNow() + kWait;
  while (MonoNow() < until) {
    if (co_await RunCount(e) == live) co_return true;
    co_await Sleep(5 * kMillis);  // suspends
  }
  co_return false;
}

Task<std::optional<Result<RunView>>> FinishedOn(Engine* e, RunId id, std::string ns) {
  return e->GetFinished(id, std::move(ns));
}

// GET on any shard without the owner (Engine::GetFinished): every succeeded run, on every
// shard, reads back what its finish answered; a run of another namespace is not found; a failed
// run (it may be retried) is left to its owner.
Task<void> CheckFinished(Engine* e) {
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    const RunId id = *rf::engine::ParseRunId(g->ids[i]);
    for (unsigned s = 0; s < e->shards(); ++s) {
      CAPTURE(s);
      auto now = co_await SubmitTo(s, &FinishedOn, e, id, std::string());
      CO_REQUIRE(now.has_value());  // just written: in RocksDB's memtables
      CO_REQUIRE(now->has_value());
      CHECK(J((*now)->json) == J(g->jsons[i]));
      auto other = co_await SubmitTo(s, &FinishedOn, e, id, std::string("other"));
      CO_REQUIRE(other.has_value());
      CO_REQUIRE(!other->has_value());
      CHECK(other->error().code == Errc::kNotFound);
      auto same = co_await SubmitTo(s, &FinishedOn, e, id, std::string("default"));
      CHECK((same.has_value() && same->has_value()));
    }
  }
  for (unsigned s = 0; s < e->shards(); ++s) {
    auto failed = co_await SubmitTo(s, &FinishedOn, e, *rf::engine::ParseRunId(g->key), std::string());
    CHECK_FALSE(failed.has_value());
  }
}

Task<std::vector<std::string>> DeadIdsOn(Engine* e) {
  RunQuery q;
  q.dead_letter = true;
  std::vector<std::string> ids;
  for (const Value& v : co_await List(e, &q)) ids.push_back(Str(v, "/id"));
  co_return ids;
}

int64_t FailedListedOn() { return Coordinator::Local().FailedListed(); }

// Dead-letter read on every shard (Engine::List does not ask a shard whose FailedListed is 0):
// lists exactly `want`; `counted`: the shards' FailedListed summed (-1: not checked).
Task<void> CheckDeadEverywhere(Engine* e, std::vector<std::string> want, int64_t counted) {
  int64_t sum = 0;
  for (unsigned s = 0; s < e->shards(); ++s) {
    CAPTURE(s);
    std::vector<std::string> ids = co_await SubmitTo(s, &DeadIdsOn, e);
    CHECK(ids == want);
    sum += co_await SubmitTo(s, &FailedListedOn);
  }
  if (counted >= 0) CHECK(sum == counted);
}

Task<void> HistoryBefore(Engine* e) {
  ScriptedHttp& http = g->http0();
  http.script = {Reply(500), Reply(500), Reply(500)};
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  for (int i = 0; i < kHistoryRuns; ++i) {
    Value run = co_await MustStart(e, "chain", J("{\"i\":" + std::to_string(i) + "}"), kWait,
                                   "hist-" + std::to_string(i));
    CHECK(Str(run, "/status") == "succeeded");
    g->ids.push_back(Str(run, "/id"));
    g->jsons.push_back(S(run));
  }
  Value failed = co_await MustStart(e, "h", J("{}"), kWait, "", 0);
  CO_REQUIRE(Str(failed, "/status") == "failed");
  g->key = Str(failed, "/id");
  const std::vector<std::string> only_failed(1, g->key);
  co_await CheckDeadEverywhere(e, only_failed, -1);  // in memory or moved: listed either way
  const bool evicted = co_await WaitEvicted(e, 0);
  INFO("finished runs still in memory with a zero cache");
  CO_REQUIRE(evicted);
  co_await CheckFinished(e);
  co_await CheckDeadEverywhere(e, only_failed, 0);  // history alone answers

  // GET: every run reads back unchanged from history.
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    Result<Value> v = co_await Get(e, *rf::engine::ParseRunId(g->ids[i]));
    CO_REQUIRE(v.has_value());
    CHECK(*v == J(g->jsons[i]));
  }
  // Listings page through history newest first, without repeats.
  RunQuery q;
  q.workflow = "chain";
  q.limit = 5;
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    auto p = co_await e->List(q);  // suspends
    CO_REQUIRE(p.has_value());
    for (auto& [id, json] : p->runs) seen.push_back(Str(J(json), "/id"));
    if (!p->more) break;
    q.before = p->runs.back().first;
  }
  // Newest id first (ids made on two shards in one millisecond need not follow the start order).
  std::vector<std::string> want = g->ids;
  std::sort(want.begin(), want.end(), std::greater<>());
  CHECK(seen == want);
  RunQuery dead;
  dead.dead_letter = true;
  std::vector<Value> dl = co_await List(e, &dead);
  CO_REQUIRE(dl.size() == 1);
  CHECK(Str(dl[0], "/id") == g->key);
  CHECK(Str(dl[0], "/step") == "call");
  // A repeated start finds its key in history.
  auto again = co_await Start(e, "chain", J("{}"), kWait, "hist-3");
  CO_REQUIRE(again.has_value());
  CHECK_FALSE(again->created);
  CHECK(J(again->json) == J(g->jsons[3]));
  // SSE history of a run that left memory: every event, then the end.
  auto sub = std::make_shared<Subscriber>(rf::reactor::Shard::Current().id(), 1 << 20);
  RunId first = *rf::engine::ParseRunId(g->ids[0]);
  Status st = co_await Subscribe(e, first, 0, sub);
  CO_REQUIRE(st.has_value());
  std::string text = co_await Collect(sub, 8, true);
  CHECK(sub->ended());
  CHECK(Frames(text).size() == 8);  // created, 3 x (started, succeeded), succeeded
  // A retry brings the failed run back from history and finishes it. While it runs, history
  // still holds it as failed: no shard lists it in dead-letter.
  http.block = true;
  http.block_limit = 300 * kMillis;
  auto retried = co_await Retry(e, *rf::engine::ParseRunId(g->key));
  CO_REQUIRE(retried.has_value());
  CHECK(Str(J(retried->json), "/status") != "failed");
  co_await CheckDeadEverywhere(e, std::vector<std::string>(), 1);
  http.block = false;
  Value done = co_await WaitStatus(e, *rf::engine::ParseRunId(g->key), "succeeded");
  CHECK(Size(StepOf(done, "call"), "/attempts") == 4);
  g->jsons.push_back(S(done));
  const bool moved_again = co_await WaitEvicted(e, 0);
  CHECK(moved_again);
  dl = co_await List(e, &dead);
  CHECK(dl.empty());
}

int64_t InlineFallbacks(Engine* e) {
  int64_t n = 0;
  for (const auto& slot : e->history_stats()->inline_reads) n += slot.fallback.Get();
  return n;
}

Task<void> HistoryAfter(Engine* e) {
  // Opened again with reads on the shards stopping at the (empty) block cache: a shard that is
  // not the owner reads a succeeded run from the disk itself, through the helpers.
  const int64_t fallbacks = InlineFallbacks(e);
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    const RunId id = *rf::engine::ParseRunId(g->ids[i]);
    for (unsigned s = 0; s < e->shards(); ++s) {
      if (s == e->OwnerOf(id)) continue;
      auto away = co_await SubmitTo(s, &FinishedOn, e, id, std::string());
      CO_REQUIRE(away.has_value());
      CO_REQUIRE(away->has_value());
      CHECK(J((*away)->json) == J(g->jsons[i]));
    }
  }
  if (e->shards() > 1) CHECK(InlineFallbacks(e) > fallbacks);
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    Result<Value> v = co_await Get(e, *rf::engine::ParseRunId(g->ids[i]));
    CO_REQUIRE(v.has_value());
    CHECK(*v == J(g->jsons[i]));
  }
  Result<Value> retried = co_await Get(e, *rf::engine::ParseRunId(g->key));
  CO_REQUIRE(retried.has_value());
  CHECK(*retried == J(g->jsons.back()));
  std::vector<Value> all = co_await List(e, &kAnyRun);
  CHECK(all.size() == kHistoryRuns + 1);
  auto again = co_await Start(e, "chain", J("{}"), kWait, "hist-5");
  CO_REQUIRE(again.has_value());
  CHECK_FALSE(again->created);
  CHECK(Str(J(again->json), "/id") == g->ids[5]);
}

}  // namespace

TEST_SUITE("engine.history") {
  TEST_CASE("finished runs that left memory are served from history before and after a restart" *
            doctest::timeout(60)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      c.options.history_cache = 0;  // every run leaves memory once history has it
      Phase(c, &HistoryBefore);
      REQUIRE(c.ids.size() == kHistoryRuns);
      c.inline_page_cache = false;
      Phase(c, &HistoryAfter);
    }
  }
}
