#include "engine/definition.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using rf::kMillis;
using rf::kSeconds;
using rf::engine::Compiled;
using rf::engine::CompileDefinition;
using rf::engine::Definition;
using rf::engine::HttpMethod;
using rf::engine::Step;
using rf::engine::StepType;
using rf::engine::ValidationError;

namespace {

// A definition named "w" with the given steps array body.
std::string Wf(std::string_view steps) {
  return R"({"name": "w", "steps": [)" + std::string(steps) + "]}";
}

// A definition whose one step is http step "a" with request
// {"url": "http://x/", <request>} and the step fields <rest>.
std::string HttpStep(std::string_view request, std::string_view rest = "") {
  std::string step = R"({"id": "a", "type": "http", "request": {"url": "http://x/")";
  if (!request.empty()) step += ", " + std::string(request);
  step += "}";
  if (!rest.empty()) step += ", " + std::string(rest);
  return Wf(step + "}");
}

std::string Dump(const std::vector<ValidationError>& errors) {
  std::string s;
  for (const ValidationError& e : errors) s += "  '" + e.pointer + "': " + e.message + "\n";
  return s;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::vector<std::string_view> Ids(const Definition& def) {
  std::vector<std::string_view> ids;
  for (const Step& s : def.steps) ids.push_back(s.id);
  return ids;
}

// A chain s0 <- s1 <- ... (each depends on the one before), declared in order
// or reversed.
std::string Chain(int n, bool reversed) {
  std::string steps;
  for (int k = 0; k < n; ++k) {
    const int i = reversed ? n - 1 - k : k;
    if (!steps.empty()) steps += ',';
    steps += R"({"id": "s)" + std::to_string(i) + R"(", "type": "noop")";
    if (i > 0) steps += R"(, "depends_on": ["s)" + std::to_string(i - 1) + R"("])";
    steps += '}';
  }
  return Wf(steps);
}

}  // namespace

// The definition has exactly one error, at `ptr`, whose message contains `text`.
#define CHECK_ONLY_ERROR(json_text, ptr, text)      \
  do {                                              \
    Compiled c_ = CompileDefinition("", json_text); \
    INFO("errors:\n" << Dump(c_.errors));           \
    CHECK(c_.def == nullptr);                       \
    REQUIRE(c_.errors.size() == 1);                 \
    CHECK(c_.errors[0].pointer == (ptr));           \
    CHECK(Contains(c_.errors[0].message, text));    \
  } while (false)

TEST_SUITE("engine.definition") {
  TEST_CASE("secrets may be named in an http step's url, headers and body only") {
    Compiled ok = CompileDefinition("", HttpStep(
        R"("method": "POST", "headers": {"Authorization": "Bearer {{secrets.TOKEN}}"},
           "body": {"key": "{{secrets.API_KEY}}", "n": ["{{secrets.TOKEN}}"]})"));
    INFO("errors:\n" << Dump(ok.errors));
    CHECK(ok.def != nullptr);
    Compiled in_url = CompileDefinition("", Wf(R"({"id": "a", "type": "http",
        "request": {"url": "https://x/?k={{secrets.K}}"}})"));
    CHECK(in_url.def != nullptr);
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "transform", "output": {"t": "{{secrets.TOKEN}}"}})"),
                     "/steps/0/output/t", "only in an http step's request url, headers and body");
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "when": "{{secrets.TOKEN}} == 'x'"})"),
                     "/steps/0/when", "{{secrets.TOKEN}} may be used only");
    CHECK_ONLY_ERROR(R"({"name": "w", "output": ["{{secrets.T}}"], "steps": [{"id": "a", "type": "noop"}]})",
                     "/output/0", "{{secrets.T}}");
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "http", "request": {"url": "http://x/"}, "when": "secrets.X"})"),
                     "/steps/0/when", "may be used only");
    CHECK_ONLY_ERROR(HttpStep(R"("headers": {"X": "{{secrets.A.b}}"})"), "/steps/0/request/headers/X",
                     "no fields");
  }

  TEST_CASE("the design example compiles with its fields resolved") {
    constexpr std::string_view kText = R"({
    "name": "order-processing", "description": "optional",
    "timeout_ms": 600000,
    "retry": {"max_attempts": 3, "initial_ms": 100, "max_ms": 10000, "multiplier": 2,
              "jitter": 0.2},
    "output": {"order": "{{steps.reserve.output.body.id}}"},
    "steps": [
      {"id": "reserve", "type": "http", "depends_on": [], "when": "{{input.amount}} > 0",
       "request": {"method": "POST", "url": "http://127.0.0.1:9000/reserve",
                   "headers": {"X-A": "{{input.a}}"}, "body": {"order": "{{input.order_id}}"},
                   "connect_timeout_ms": 1000},
       "retry": {"max_attempts": 5, "on_status": [429]}, "timeout_ms": 2000},
      {"id": "approve", "type": "approval", "depends_on": ["reserve"], "timeout_ms": 86400000},
      {"id": "wait", "type": "delay", "depends_on": ["approve"], "ms": 500},
      {"id": "shape", "type": "transform", "depends_on": ["wait"],
       "output": {"x": "{{steps.reserve.output.status}}"}},
      {"id": "done", "type": "noop", "depends_on": ["shape"]}
    ]})";
    Compiled c = CompileDefinition("order-processing", kText, 7);
    INFO(Dump(c.errors));
    REQUIRE(c.def != nullptr);
    CHECK(c.errors.empty());
    const Definition& d = *c.def;
    CHECK(d.name == "order-processing");
    CHECK(d.version == 7);
    CHECK(d.description == "optional");
    CHECK(d.timeout == 600 * kSeconds);
    CHECK(d.output.has_value());
    CHECK(d.source == kText);
    CHECK(Ids(d) == std::vector<std::string_view>{"reserve", "approve", "wait", "shape", "done"});

    const Step& reserve = d.steps[0];
    CHECK(reserve.type == StepType::kHttp);
    REQUIRE(reserve.request.has_value());
    CHECK(reserve.request->method == HttpMethod::kPost);
    REQUIRE(reserve.request->headers.size() == 1);
    CHECK(reserve.request->headers[0].name == "X-A");
    CHECK(reserve.request->body.has_value());
    CHECK(reserve.request->connect_timeout == 1 * kSeconds);
    CHECK(reserve.when.has_value());
    CHECK(reserve.timeout == 2 * kSeconds);
    CHECK(reserve.retry.max_attempts == 5);
    CHECK(reserve.retry.initial == 100 * kMillis);
    CHECK(reserve.retry.on_status == std::vector<int>{429});

    CHECK(d.steps[1].type == StepType::kApproval);
    CHECK(d.steps[1].timeout == 86'400 * kSeconds);
    CHECK(d.steps[2].type == StepType::kDelay);
    CHECK(d.steps[2].delay == 500 * kMillis);
    CHECK(d.steps[3].type == StepType::kTransform);
    CHECK(d.steps[3].output.has_value());
    CHECK(d.steps[4].type == StepType::kNoop);
    CHECK(d.steps[4].retry.max_attempts == 3);
    CHECK_FALSE(d.steps[4].when.has_value());
  }

  TEST_CASE("defaults apply to what a definition leaves out") {
    Compiled c = CompileDefinition(
        "w", R"({"steps": [{"id": "a", "type": "http", "request": {"url": "https://x/"}}]})");
    INFO(Dump(c.errors));
    REQUIRE(c.def != nullptr);
    CHECK(c.def->name == "w");
    CHECK(c.def->timeout == 0);
    CHECK_FALSE(c.def->output.has_value());
    const Step& a = c.def->steps[0];
    CHECK(a.request->method == HttpMethod::kGet);
    CHECK_FALSE(a.request->body.has_value());
    CHECK(a.request->connect_timeout == 0);
    CHECK(a.timeout == 0);
    CHECK(a.retry == rf::engine::RetryPolicy::Default());
  }

  TEST_CASE("invalid JSON is reported at the document root") {
    CHECK_ONLY_ERROR(R"({"name": "w", "steps": [)", "", "invalid JSON");
  }

  TEST_CASE("a document that is not an object is rejected") {
    CHECK_ONLY_ERROR(R"([{"id": "a"}])", "", "must be a JSON object, not array");
  }

  TEST_CASE("a definition over 1 MiB is rejected before parsing") {
    std::string text = Wf(R"({"id": "a", "type": "noop"})");
    text.insert(text.size() - 1, ", \"description\": \"" + std::string(1 << 20, 'x') + "\"");
    CHECK_ONLY_ERROR(text, "", "limit is 1048576");
  }

  TEST_CASE("a name is required when the URL does not give one") {
    CHECK_ONLY_ERROR(R"({"steps": [{"id": "a", "type": "noop"}]})", "/name", "requires 'name'");
  }

  TEST_CASE("a name must be a string") {
    CHECK_ONLY_ERROR(R"({"name": 5, "steps": [{"id": "a", "type": "noop"}]})", "/name",
                     "name must be a string, not integer");
  }

  TEST_CASE("a name with characters outside the allowed set is rejected") {
    CHECK_ONLY_ERROR(R"({"name": "order processing", "steps": [{"id": "a", "type": "noop"}]})",
                     "/name", "1 to 128 characters");
  }

  TEST_CASE("a name longer than 128 characters is rejected") {
    const std::string text =
        R"({"name": ")" + std::string(129, 'n') + R"(", "steps": [{"id": "a", "type": "noop"}]})";
    CHECK_ONLY_ERROR(text, "/name", "1 to 128 characters");
  }

  TEST_CASE("the body's name must equal the name in the URL") {
    Compiled c = CompileDefinition("other", Wf(R"({"id": "a", "type": "noop"})"));
    REQUIRE(c.errors.size() == 1);
    CHECK(c.errors[0].pointer == "/name");
    CHECK(Contains(c.errors[0].message, "name 'w' does not match 'other' in the URL"));
  }

  TEST_CASE("an invalid name in the URL is reported at /name") {
    Compiled c = CompileDefinition("a b", R"({"steps": [{"id": "a", "type": "noop"}]})");
    REQUIRE(c.errors.size() == 1);
    CHECK(c.errors[0].pointer == "/name");
    CHECK(Contains(c.errors[0].message, "in the URL, 'a b', must be"));
  }

  TEST_CASE("unknown top-level fields are rejected with a suggestion") {
    CHECK_ONLY_ERROR(R"({"name": "w", "descripton": "x", "steps": [{"id": "a", "type": "noop"}]})",
                     "/descripton", "unknown field 'descripton'; did you mean 'description'?");
  }

  TEST_CASE("a description must be a string") {
    CHECK_ONLY_ERROR(R"({"name": "w", "description": [], "steps": [{"id": "a", "type": "noop"}]})",
                     "/description", "description must be a string");
  }

  TEST_CASE("steps are required") {
    CHECK_ONLY_ERROR(R"({"name": "w"})", "/steps", "requires 'steps'");
  }

  TEST_CASE("steps must be an array") {
    CHECK_ONLY_ERROR(R"({"name": "w", "steps": {"a": {}}})", "/steps", "steps must be an array");
  }

  TEST_CASE("steps must not be empty") {
    CHECK_ONLY_ERROR(R"({"name": "w", "steps": []})", "/steps", "must not be empty");
  }

  TEST_CASE("more than 1,000 steps are rejected") {
    std::string steps;
    for (int i = 0; i < 1001; ++i) {
      if (i) steps += ',';
      steps += R"({"id": "s)" + std::to_string(i) + R"(", "type": "noop"})";
    }
    CHECK_ONLY_ERROR(Wf(steps), "/steps", "at most 1000 steps, not 1001");
  }

  TEST_CASE("a step that is not an object is rejected") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop"}, "b")"), "/steps/1",
                     "a step must be an object, not string");
  }

  TEST_CASE("a step without a type is rejected") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a"})"), "/steps/0/type", "requires 'type'");
  }

  TEST_CASE("an unknown step type is rejected and names the known ones") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "htp"})"), "/steps/0/type",
                     "unknown step type 'htp' (expected noop, transform, delay, http, approval, workflow or map)");
  }

  TEST_CASE("a step without an id is rejected") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop"}, {"type": "noop"})"), "/steps/1/id",
                     "requires 'id'");
  }

  TEST_CASE("an id must be a string") {
    CHECK_ONLY_ERROR(Wf(R"({"id": 1, "type": "noop"})"), "/steps/0/id", "id must be a string");
  }

  TEST_CASE("an id with characters outside the allowed set is rejected") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a.b", "type": "noop"})"), "/steps/0/id",
                     "id 'a.b' must be 1 to 64 characters");
  }

  TEST_CASE("an id longer than 64 characters is rejected") {
    const std::string id(65, 'x');
    CHECK_ONLY_ERROR(Wf(R"({"id": ")" + id + R"(", "type": "noop"})"), "/steps/0/id",
                     "must be 1 to 64 characters");
  }

  TEST_CASE("a repeated id is reported at the second step") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop"}, {"id": "b", "type": "noop"},
             {"id": "a", "type": "noop"})"),
                     "/steps/2/id", "duplicate step id 'a' (first used by /steps/0)");
  }

  TEST_CASE("a dependency on an unknown step is rejected") {
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "depends_on": ["a", "x"]})"),
        "/steps/1/depends_on/1", "unknown step 'x'");
  }

  TEST_CASE("a step cannot depend on itself") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "depends_on": ["a"]})"),
                     "/steps/0/depends_on/0", "cannot depend on itself");
  }

  TEST_CASE("a repeated dependency is reported at the repeat") {
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "depends_on": ["a", "a"]})"),
        "/steps/1/depends_on/1", "duplicate dependency 'a' (also at /steps/1/depends_on/0)");
  }

  TEST_CASE("depends_on must be an array of strings") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "depends_on": "b"})"), "/steps/0/depends_on",
                     "must be an array of step ids");
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "depends_on": [0]})"),
        "/steps/1/depends_on/0", "must be step ids (strings), not integer");
  }

  TEST_CASE("a misspelt step field is rejected with a suggestion") {
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "depend_on": ["a"]})"),
        "/steps/1/depend_on", "unknown field 'depend_on'; did you mean 'depends_on'?");
  }

  TEST_CASE("a field of another step type is unknown") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "ms": 5})"), "/steps/0/ms",
                     "unknown field 'ms'");
  }

  TEST_CASE("a field nobody could have meant gets no suggestion") {
    Compiled c = CompileDefinition("", Wf(R"({"id": "a", "type": "noop", "colour": "red"})"));
    REQUIRE(c.errors.size() == 1);
    CHECK(c.errors[0].message == "unknown field 'colour'");
  }

  TEST_CASE("pointer tokens escape slash and tilde") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "a/b~c": 1})"), "/steps/0/a~1b~0c",
                     "unknown field 'a/b~c'");
  }

  TEST_CASE("errors past the limit are counted, not kept") {
    std::string keys;
    for (int i = 0; i < 250; ++i) keys += R"(, "k)" + std::to_string(i) + R"(": 1)";
    Compiled c = CompileDefinition("", Wf(R"({"id": "a", "type": "noop")" + keys + "}"));
    CHECK(c.errors.size() == rf::engine::kMaxValidationErrors);
    CHECK(c.omitted_errors == 150);
    CHECK(c.errors[0].pointer == "/steps/0/k0");
  }

  TEST_CASE("messages quote at most 64 bytes of user input") {
    const std::string key(5000, 'k');
    Compiled c = CompileDefinition("", Wf(R"({"id": "a", "type": "noop", ")" + key + R"(": 1})"));
    REQUIRE(c.errors.size() == 1);
    CHECK(c.errors[0].pointer == "/steps/0/" + key);  // the pointer stays exact
    CHECK(c.errors[0].message == "unknown field '" + std::string(64, 'k') + "...'");
  }

  TEST_CASE("oversized lists are rejected whole instead of entry by entry") {
    std::string deps = R"("x")";
    for (int i = 0; i < 1000; ++i) deps += R"(, "x")";
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "depends_on": [)" + deps + "]}"),
                     "/steps/0/depends_on", "1001 entries; a step can depend on at most 999");
    std::string headers = R"("H0": "v")";
    for (int i = 1; i <= 100; ++i) headers += R"(, "H)" + std::to_string(i) + R"(": "v")";
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "http", "request": {"url": "http://x/", "headers": {)" + headers +
           "}}}"),
        "/steps/0/request/headers", "at most 100 headers, not 101");
  }

  TEST_CASE("a transform step requires an output template") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "transform"})"), "/steps/0/output",
                     "transform step requires 'output'");
  }

  TEST_CASE("a delay step requires ms") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "delay"})"), "/steps/0/ms", "requires 'ms'");
  }

  TEST_CASE("a delay must be whole milliseconds from 0 to 365 days") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "delay", "ms": -1})"), "/steps/0/ms",
                     "from 0 to 31536000000 (365 days)");
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "delay", "ms": 31536000001})"), "/steps/0/ms",
                     "from 0 to 31536000000");
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "delay", "ms": 1.5})"), "/steps/0/ms",
                     "integer number of milliseconds");
    Compiled zero = CompileDefinition("", Wf(R"({"id": "a", "type": "delay", "ms": 0})"));
    CHECK(zero.def != nullptr);
  }

  TEST_CASE("an http step requires a request with a url") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "http"})"), "/steps/0/request",
                     "http step requires 'request'");
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "http", "request": {"method": "GET"}})"),
                     "/steps/0/request/url", "requires 'url'");
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "http", "request": "http://x"})"),
                     "/steps/0/request", "request must be an object");
  }

  TEST_CASE(
      "an http url must be a string starting with a scheme unless it starts with a reference") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "http", "request": {"url": ["http://x"]}})"),
                     "/steps/0/request/url", "url must be a string, not array");
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "http", "request": {"url": "ftp://x/"}})"),
                     "/steps/0/request/url", "must start with http:// or https://");
    Compiled c = CompileDefinition(
        "", Wf(R"({"id": "a", "type": "http", "request": {"url": "{{input.endpoint}}/v1"}})"));
    CHECK(c.def != nullptr);
  }

  TEST_CASE("an unsupported http method is rejected") {
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "http", "request": {"method": "get", "url": "http://x/"}})"),
        "/steps/0/request/method", "method 'get' is not supported");
  }

  TEST_CASE("misspelt request fields are rejected") {
    CHECK_ONLY_ERROR(HttpStep(R"("header": {})"), "/steps/0/request/header",
                     "did you mean 'headers'?");
  }

  TEST_CASE("headers must be an object of string templates with valid names") {
    CHECK_ONLY_ERROR(HttpStep(R"("headers": [])"), "/steps/0/request/headers",
                     "headers must be an object");
    CHECK_ONLY_ERROR(HttpStep(R"("headers": {"X-N": 1})"), "/steps/0/request/headers/X-N",
                     "header values must be strings, not integer");
    CHECK_ONLY_ERROR(HttpStep(R"("headers": {"X N": "1"})"), "/steps/0/request/headers/X N",
                     "'X N' is not a valid header name");
  }

  TEST_CASE("framing headers and case-insensitive repeats are rejected") {
    CHECK_ONLY_ERROR(HttpStep(R"("headers": {"Content-Length": "5"})"),
                     "/steps/0/request/headers/Content-Length", "set by the HTTP client");
    CHECK_ONLY_ERROR(HttpStep(R"("headers": {"X-A": "1", "x-a": "2"})"),
                     "/steps/0/request/headers/x-a", "repeats 'X-A'");
  }

  TEST_CASE("connect_timeout_ms is bounded") {
    CHECK_ONLY_ERROR(HttpStep(R"("connect_timeout_ms": 0)"), "/steps/0/request/connect_timeout_ms",
                     "from 1 to 3600000 (1 hour)");
  }

  TEST_CASE("a bad template is reported at the string inside it") {
    CHECK_ONLY_ERROR(HttpStep(R"("body": {"order": "{{inptu.id}}"})"),
                     "/steps/0/request/body/order", "unknown template root 'inptu'");
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "transform", "output": {"list": ["ok", "{{input.x"]}})"),
        "/steps/0/output/list/1", "unterminated '{{'");
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "http", "request": {"url": "http://x/{{input.}}"}})"),
        "/steps/0/request/url", "expected a name");
  }

  TEST_CASE("every bad string in one template is reported") {
    Compiled c = CompileDefinition(
        "",
        Wf(R"({"id": "a", "type": "transform", "output": {"x": "{{bad}}", "y": ["{{worse}}"]}})"));
    INFO(Dump(c.errors));
    REQUIRE(c.errors.size() == 2);
    CHECK(c.errors[0].pointer == "/steps/0/output/x");
    CHECK(c.errors[1].pointer == "/steps/0/output/y/0");
  }

  TEST_CASE("a template may read the output of a transitive dependency") {
    Compiled c = CompileDefinition("", Wf(R"(
    {"id": "a", "type": "noop"},
    {"id": "b", "type": "noop", "depends_on": ["a"]},
    {"id": "c", "type": "transform", "depends_on": ["b"],
     "output": {"x": "{{steps.a.output}}", "s": "{{steps.b.status}}"}})"));
    INFO(Dump(c.errors));
    CHECK(c.def != nullptr);
  }

  TEST_CASE("a template reading a step that is not a dependency is rejected") {
    CHECK_ONLY_ERROR(Wf(R"(
    {"id": "a", "type": "noop"},
    {"id": "b", "type": "noop"},
    {"id": "c", "type": "transform", "depends_on": ["a"], "output": {"x": "{{steps.b.output}}"}})"),
                     "/steps/2/output/x",
                     "step 'c' references step 'b', which is not among its dependencies");
  }

  TEST_CASE("a template reading a later step that depends on it is rejected") {
    CHECK_ONLY_ERROR(Wf(R"(
    {"id": "a", "type": "http", "request": {"url": "http://x/{{steps.b.output.id}}"}},
    {"id": "b", "type": "noop", "depends_on": ["a"]})"),
                     "/steps/0/request/url", "references step 'b', which is not among");
  }

  TEST_CASE("a template reading an unknown step is rejected") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "transform", "output": "{{steps.nope.output}}"})"),
                     "/steps/0/output", "reference to unknown step 'nope'");
  }

  TEST_CASE("a step cannot read its own result") {
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "transform", "output": {"me": "{{steps.a.status}}"}})"),
        "/steps/0/output/me", "cannot reference its own result");
  }

  TEST_CASE("the workflow output may read any step but not an unknown one") {
    Compiled ok = CompileDefinition("", R"({"name": "w", "output": {"x": "{{steps.b.output}}"},
    "steps": [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]})");
    CHECK(ok.def != nullptr);
    CHECK_ONLY_ERROR(R"({"name": "w", "output": {"order": "{{steps.reserv.output.id}}"},
    "steps": [{"id": "reserve", "type": "noop"}]})",
                     "/output/order", "reference to unknown step 'reserv'");
  }

  TEST_CASE("when must be a valid condition string") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "when": true})"), "/steps/0/when",
                     "when must be a string, not boolean");
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "when": "{{input.amount}} > (1"})"),
                     "/steps/0/when", "invalid condition at byte");
  }

  TEST_CASE("a condition reading a step that is not a dependency is rejected") {
    CHECK_ONLY_ERROR(Wf(R"(
    {"id": "a", "type": "noop"},
    {"id": "b", "type": "noop", "when": "steps.a.status == 'succeeded'"})"),
                     "/steps/1/when", "references step 'a', which is not among its dependencies");
  }

  TEST_CASE("retry values outside their ranges are rejected") {
    auto step = [](std::string_view retry) {
      return Wf(R"({"id": "a", "type": "noop", "retry": )" + std::string(retry) + "}");
    };
    CHECK_ONLY_ERROR(step(R"({"max_attempts": 0})"), "/steps/0/retry/max_attempts",
                     "max_attempts must be an integer from 1 to 100");
    CHECK_ONLY_ERROR(step(R"({"max_attempts": 101})"), "/steps/0/retry/max_attempts",
                     "from 1 to 100");
    CHECK_ONLY_ERROR(step(R"({"max_attempts": 2.5})"), "/steps/0/retry/max_attempts", "integer");
    CHECK_ONLY_ERROR(step(R"({"initial_ms": 0})"), "/steps/0/retry/initial_ms",
                     "from 1 to 3600000 (1 hour)");
    CHECK_ONLY_ERROR(step(R"({"max_ms": 86400001})"), "/steps/0/retry/max_ms",
                     "to 86400000 (1 day)");
    CHECK_ONLY_ERROR(step(R"({"multiplier": 0.5})"), "/steps/0/retry/multiplier",
                     "multiplier must be a number from 1 to 10");
    CHECK_ONLY_ERROR(step(R"({"jitter": 1.5})"), "/steps/0/retry/jitter",
                     "jitter must be a number from 0 to 1");
    CHECK_ONLY_ERROR(step(R"({"jitter": "0.2"})"), "/steps/0/retry/jitter", "must be a number");
    CHECK_ONLY_ERROR(step("[]"), "/steps/0/retry", "retry must be an object");
    CHECK_ONLY_ERROR(step(R"({"max_attempt": 3})"), "/steps/0/retry/max_attempt",
                     "did you mean 'max_attempts'?");
  }

  TEST_CASE("max_ms below initial_ms is rejected, also against inherited values") {
    CHECK_ONLY_ERROR(
        Wf(R"({"id": "a", "type": "noop", "retry": {"initial_ms": 500, "max_ms": 100}})"),
        "/steps/0/retry/max_ms", "max_ms must be at least initial_ms (500)");
    // The built-in max is 10 s.
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "retry": {"initial_ms": 20000}})"),
                     "/steps/0/retry/initial_ms", "must not exceed the inherited max_ms (10000)");
    CHECK_ONLY_ERROR(R"({"name": "w", "retry": {"initial_ms": 1000},
    "steps": [{"id": "a", "type": "noop", "retry": {"max_ms": 500}}]})",
                     "/steps/0/retry/max_ms", "at least the inherited initial_ms (1000)");
  }

  TEST_CASE("step retry overrides the workflow default field by field") {
    Compiled c = CompileDefinition("", R"({"name": "w",
    "retry": {"max_attempts": 7, "max_ms": 60000, "jitter": 0},
    "steps": [{"id": "a", "type": "noop", "retry": {"initial_ms": 250}},
              {"id": "b", "type": "noop"}]})");
    INFO(Dump(c.errors));
    REQUIRE(c.def != nullptr);
    const auto& a = c.def->steps[0].retry;
    CHECK(a.max_attempts == 7);
    CHECK(a.initial == 250 * kMillis);
    CHECK(a.max == 60 * kSeconds);
    CHECK(a.multiplier == 2.0);
    CHECK(a.jitter == 0.0);
    CHECK(c.def->steps[1].retry.initial == 100 * kMillis);
    CHECK(c.def->steps[1].retry.max_attempts == 7);
    CHECK(c.def->retry.max_attempts == 7);
  }

  TEST_CASE("a workflow-wide on_status reaches only the http steps") {
    Compiled c = CompileDefinition("", R"({"name": "w", "retry": {"on_status": [429]},
      "steps": [{"id": "a", "type": "http", "request": {"url": "http://x/"}},
                {"id": "b", "type": "noop"}]})");
    INFO(Dump(c.errors));
    REQUIRE(c.def != nullptr);
    CHECK(c.def->FindStep("a")->retry.on_status == std::vector<int>{429});
    CHECK(c.def->FindStep("b")->retry.on_status.empty());
  }

  TEST_CASE("on_status is only for http steps and only for 4xx codes") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "retry": {"on_status": [429]}})"),
                     "/steps/0/retry/on_status", "applies only to http steps");
    CHECK_ONLY_ERROR(HttpStep("", R"("retry": {"on_status": [429, 503]})"),
                     "/steps/0/retry/on_status/1", "4xx status codes");
    CHECK_ONLY_ERROR(HttpStep("", R"("retry": {"on_status": 429})"), "/steps/0/retry/on_status",
                     "must be an array");
  }

  TEST_CASE("timeouts are bounded") {
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "noop", "timeout_ms": 0})"), "/steps/0/timeout_ms",
                     "from 1 to 2592000000 (30 days)");
    CHECK_ONLY_ERROR(Wf(R"({"id": "a", "type": "approval", "timeout_ms": 2592000001})"),
                     "/steps/0/timeout_ms", "(30 days)");
    CHECK_ONLY_ERROR(R"({"name": "w", "timeout_ms": -5, "steps": [{"id": "a", "type": "noop"}]})",
                     "/timeout_ms", "from 1 to 31536000000 (365 days)");
  }

  TEST_CASE("all errors are reported, sorted by pointer with numeric indexes") {
    std::string steps;
    for (int i = 0; i < 12; ++i) {
      if (i) steps += ',';
      steps += R"({"id": "s)" + std::to_string(i) + R"(", "type": "noop"})";
    }
    steps += R"(, {"id": "bad id", "type": "noop", "depends_on": ["zz"]})";  // /steps/12
    steps.replace(steps.find(R"("s2", "type": "noop")"), 20, R"("s2", "type": "nop")");
    Compiled c = CompileDefinition("", R"({"name": "w", "extra": 1, "steps": [)" + steps + "]}");
    INFO(Dump(c.errors));
    REQUIRE(c.errors.size() == 4);
    CHECK(c.errors[0].pointer == "/extra");
    CHECK(c.errors[1].pointer == "/steps/2/type");
    CHECK(c.errors[2].pointer == "/steps/12/depends_on/0");
    CHECK(c.errors[3].pointer == "/steps/12/id");
  }

  TEST_CASE("a two-step cycle is reported with both steps in order") {
    CHECK_ONLY_ERROR(Wf(R"(
    {"id": "a", "type": "noop", "depends_on": ["b"]},
    {"id": "b", "type": "noop", "depends_on": ["a"]})"),
                     "/steps/0/depends_on/0", "cycle: a -> b -> a");
  }

  TEST_CASE("a long cycle names every step in execution order") {
    // a needs e, e needs d, d needs c, c needs b, b needs a.
    CHECK_ONLY_ERROR(Wf(R"(
    {"id": "a", "type": "noop", "depends_on": ["e"]},
    {"id": "b", "type": "noop", "depends_on": ["a"]},
    {"id": "c", "type": "noop", "depends_on": ["b"]},
    {"id": "d", "type": "noop", "depends_on": ["c"]},
    {"id": "e", "type": "noop", "depends_on": ["d"]})"),
                     "/steps/0/depends_on/0", "cycle: a -> b -> c -> d -> e -> a");
  }

  TEST_CASE("a cycle among valid steps is found and the valid steps are not blamed") {
    CHECK_ONLY_ERROR(Wf(R"(
    {"id": "start", "type": "noop"},
    {"id": "x", "type": "noop", "depends_on": ["start", "z"]},
    {"id": "y", "type": "noop", "depends_on": ["x"]},
    {"id": "z", "type": "noop", "depends_on": ["y"]},
    {"id": "after", "type": "noop", "depends_on": ["z"]},
    {"id": "other", "type": "noop", "depends_on": ["start"]})"),
                     "/steps/1/depends_on/1", "cycle: x -> y -> z -> x");
  }

  TEST_CASE("two separate cycles are both reported") {
    Compiled c = CompileDefinition("", Wf(R"(
    {"id": "a", "type": "noop", "depends_on": ["b"]},
    {"id": "b", "type": "noop", "depends_on": ["a"]},
    {"id": "c", "type": "noop", "depends_on": ["d"]},
    {"id": "d", "type": "noop", "depends_on": ["c"]})"));
    INFO(Dump(c.errors));
    REQUIRE(c.errors.size() == 2);
    CHECK(c.errors[0].message == "cycle: a -> b -> a");
    CHECK(c.errors[1].pointer == "/steps/2/depends_on/0");
    CHECK(c.errors[1].message == "cycle: c -> d -> c");
  }

  TEST_CASE("a diamond is not a cycle") {
    Compiled c = CompileDefinition("", Wf(R"(
    {"id": "top", "type": "noop"},
    {"id": "left", "type": "noop", "depends_on": ["top"]},
    {"id": "right", "type": "noop", "depends_on": ["top"]},
    {"id": "bottom", "type": "transform", "depends_on": ["left", "right"],
     "output": ["{{steps.top.output}}", "{{steps.left.output}}", "{{steps.right.output}}"]})"));
    INFO(Dump(c.errors));
    REQUIRE(c.def != nullptr);
    const Definition& d = *c.def;
    CHECK(d.roots == std::vector<uint32_t>{0});
    CHECK(d.terminals == std::vector<uint32_t>{3});
    CHECK(d.steps[0].dependents == std::vector<uint32_t>{1, 2});
    CHECK(d.steps[3].dependencies == std::vector<uint32_t>{1, 2});
  }

  TEST_CASE("steps are stored in topological order with remapped indexes") {
    Compiled c = CompileDefinition("", Wf(R"(
    {"id": "ship", "type": "noop", "depends_on": ["pay", "pack"]},
    {"id": "pack", "type": "noop", "depends_on": ["order"]},
    {"id": "pay", "type": "noop", "depends_on": ["order"]},
    {"id": "order", "type": "noop"},
    {"id": "audit", "type": "noop"})"));
    INFO(Dump(c.errors));
    REQUIRE(c.def != nullptr);
    const Definition& d = *c.def;
    // Among ready steps the earlier-declared one goes first: ship (declared
    // first) is placed as soon as it is ready, before audit.
    CHECK(Ids(d) == std::vector<std::string_view>{"order", "pack", "pay", "ship", "audit"});
    for (const Step& s : d.steps) {
      CAPTURE(s.id);
      for (uint32_t dep : s.dependencies) CHECK(dep < s.index);
      for (uint32_t next : s.dependents) CHECK(next > s.index);
    }
    const Step* ship = d.FindStep("ship");
    REQUIRE(ship != nullptr);
    CHECK(ship->index == 3);
    CHECK(ship->source_index == 0);
    CHECK(ship->dependencies == std::vector<uint32_t>{1, 2});
    CHECK(d.FindStep("order")->dependents == std::vector<uint32_t>{1, 2});
    CHECK(d.FindStep("audit")->index == 4);
    CHECK(d.FindStep("nope") == nullptr);
    CHECK(d.roots == std::vector<uint32_t>{0, 4});
    CHECK(d.terminals == std::vector<uint32_t>{3, 4});
  }

  // The timeout guards against an exponential walk (it would not end); speed is the benches'.
  TEST_CASE("a 1,000-step chain compiles in either declaration order" * doctest::timeout(30)) {
    for (bool reversed : {false, true}) {
      CAPTURE(reversed);
      Compiled c = CompileDefinition("", Chain(1000, reversed));
      INFO(Dump(c.errors));
      REQUIRE(c.def != nullptr);
      CHECK(c.def->steps.size() == 1000);
      CHECK(c.def->steps.front().id == "s0");
      CHECK(c.def->steps.back().id == "s999");
      CHECK(c.def->steps[500].dependencies == std::vector<uint32_t>{499});
    }
  }

  TEST_CASE("a 1,000-step cycle is found without deep recursion") {
    std::string text = Chain(1000, false);
    // s0 now depends on s999, closing the chain into a cycle.
    text.replace(text.find(R"({"id": "s0", "type": "noop"})"), 28,
                 R"({"id": "s0", "type": "noop", "depends_on": ["s999"]})");
    Compiled c = CompileDefinition("", text);
    REQUIRE(c.errors.size() == 1);
    CHECK(c.errors[0].pointer == "/steps/0/depends_on/0");
    // Long cycles show both ends and the length.
    CHECK(
        c.errors[0].message ==
        "cycle: s0 -> s1 -> s2 -> s3 -> s4 -> s5 -> s6 -> s7 -> s8 -> s9 -> ... -> s990 -> s991 -> "
        "s992 -> s993 -> s994 -> s995 -> s996 -> s997 -> s998 -> s999 -> s0 (1000 steps)");
  }

  TEST_CASE("a template reference far down a 1,000-step chain is a dependency") {
    std::string text = Chain(1000, false);
    text.replace(text.find(R"({"id": "s999", "type": "noop")"), 29,
                 R"({"id": "s999", "type": "transform", "output": "{{steps.s0.output}}")");
    Compiled c = CompileDefinition("", text);
    INFO(Dump(c.errors));
    CHECK(c.def != nullptr);
  }
}
