#pragma once
// Workflow definitions: validation of the JSON a user registers and the
// compiled, immutable form the coordinator executes.
//
// A Definition is built once per registered version and shared read-only (by
// shared_ptr) by every run and every shard; a run keeps the version it started
// with. CompileDefinition is pure and synchronous (no I/O, no shard state),
// bounded by the 1 MiB / 1,000-step limits: O(size + steps^2 / 64).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "engine/breaker.h"
#include "engine/retry_policy.h"
#include "json/condition.h"
#include "json/template.h"

namespace rf::engine {

constexpr size_t kMaxDefinitionBytes = 1 << 20;
constexpr size_t kMaxSteps = 1000;
constexpr size_t kMaxNameLength = 128;   // [A-Za-z0-9._-]
constexpr size_t kMaxStepIdLength = 64;  // [A-Za-z0-9_-]
constexpr Nanos kMaxStepTimeout = 30 * 86'400 * kSeconds;
constexpr Nanos kMaxRunTimeout = 365 * 86'400 * kSeconds;  // long enough for any delay step
constexpr Nanos kMaxDelay = 365 * 86'400 * kSeconds;
constexpr Nanos kMaxConnectTimeout = 3'600 * kSeconds;
constexpr size_t kMaxHttpHeaders = 100;
constexpr size_t kMaxTriggers = 16;         // per definition
constexpr size_t kMaxEventTypeLength = 128;  // [A-Za-z0-9._:-]
// Errors kept per compilation: a 1 MiB document can hold ~10^5 mistakes, and
// the API should not echo them all.
constexpr size_t kMaxValidationErrors = 100;

// One problem in a definition. `pointer` is an RFC 6901 JSON pointer into the
// submitted document ("" = the whole document), e.g. "/steps/2/depends_on/0";
// `message` is a sentence for the API's error body.
struct ValidationError {
  std::string pointer;
  std::string message;
  friend bool operator==(const ValidationError&, const ValidationError&) = default;
};

enum class StepType : uint8_t { kNoop, kTransform, kDelay, kHttp, kApproval, kWorkflow, kMap };
constexpr size_t kStepTypes = 7;
std::string_view StepTypeName(StepType t);  // "noop", "transform", ...

enum class HttpMethod : uint8_t { kGet, kHead, kPost, kPut, kPatch, kDelete };
std::string_view HttpMethodName(HttpMethod m);  // "GET", ...

struct HttpHeader {
  std::string name;      // an RFC 9110 token, as written
  json::Template value;  // renders to a string
};

struct HttpRequestSpec {
  HttpMethod method = HttpMethod::kGet;
  json::Template url;  // renders to a string starting with http:// or https://
  std::vector<HttpHeader> headers;
  std::optional<json::Template> body;  // absent: no body
  Nanos connect_timeout = 0;           // 0: the client's default
};

// An http step's "circuit_breaker" (engine/breaker.h has the state machine).
struct BreakerSpec {
  BreakerSettings settings;
  // Renders to the breaker's key (cut at kMaxBreakerKeyBytes); absent: the origin of the
  // rendered URL (scheme://host:port), so each host has its own breaker.
  std::optional<json::Template> key;
};

// A map step's items (engine/map_step.h): `items` renders to an array; each item runs `item_type`
// (noop, transform, http or workflow) with the item as its `input`, at most `concurrency` at once.
// Items: at most --max-map-items (checked for a literal array when the definition is put, and
// for the rendered array when the step starts).
constexpr int64_t kMaxMapConcurrency = 10'000;
constexpr int64_t kDefaultMaxMapItems = 10'000;
constexpr int64_t kMaxMapItemsLimit = 1'000'000;  // the highest --max-map-items
struct MapSpec {
  json::Template items;
  // `items` is a literal array of this many entries (the API checks it against --max-map-items);
  // -1: a template, counted when the step starts.
  int64_t literal_items = -1;
  uint32_t concurrency = 1;
  bool collect = false;  // on_failure "collect": every item runs, failures are in the output
  StepType item_type = StepType::kNoop;
  std::optional<json::Template> output;  // transform items: their output (input = the item)
  std::string workflow;                  // workflow items: the child workflow, version, input
  int64_t workflow_version = 0;
  std::optional<json::Template> input;  // absent: the item
  std::optional<HttpRequestSpec> request;  // http items: the call (input = the item)
  Nanos timeout = 0;                       // http items: per call (0: --http-timeout)
  // http items: the item's "retry" over the workflow's (built-in <- workflow <- item); absent:
  // one call per item. Tries are counted in memory (a restart starts an item's count again).
  std::optional<RetryPolicy> retry;
};

// An http step's "concurrency": at most `limit` attempts at once per rendered `key` (cut at
// kMaxFlowKeyBytes), in the step's own scope or in the namespace's scope named `scope`, shared by
// every step naming it (engine/permit_table.h, coordinator_permits.cc).
struct StepConcurrencySpec {
  json::Template key;  // over input, run and the step's dependencies; rendered at each attempt
  std::string key_source;
  int64_t limit = 1;   // 1 .. kMaxStepConcurrencyLimit (engine/permit_table.h)
  std::string scope;   // [A-Za-z0-9._-]{1,128}; empty: the step's own (workflow, step id)
};

struct Step {
  std::string id;
  StepType type = StepType::kNoop;
  uint32_t index = 0;         // position in Definition::steps
  uint32_t source_index = 0;  // position in the submitted "steps" array
  // Indexes into Definition::steps, ascending. Every dependency has a smaller
  // index than its dependent (the steps are in topological order).
  std::vector<uint32_t> dependencies;
  std::vector<uint32_t> dependents;
  std::optional<json::Condition> when;  // absent: always runs
  RetryPolicy retry;                    // effective: built-in <- workflow <- step
  Nanos timeout = 0;                    // 0: none (http: per attempt; approval: the wait)

  // Type-specific; only the field of the step's type is set.
  std::optional<json::Template> output;    // transform: its output
  Nanos delay = 0;                         // delay: how long
  std::optional<HttpRequestSpec> request;  // http
  // http: the step's breaker; absent: the daemon's default (--circuit-breaker), unless the
  // step said "circuit_breaker": false (breaker_off).
  std::optional<BreakerSpec> breaker;
  bool breaker_off = false;
  std::optional<StepConcurrencySpec> permits;  // http: the step's per-key concurrency limit
  // workflow: a run of `workflow` (a plain name, in the parent's namespace), version
  // `workflow_version` (0: the latest when the step starts), with `input` rendered (absent: the
  // step's input, as a noop would output it).
  std::string workflow;
  int64_t workflow_version = 0;
  std::optional<json::Template> input;
  std::shared_ptr<const MapSpec> map;  // map steps only
};

// A start of the workflow by an event: POST /v1/events/{event} (in the workflow's namespace)
// starts a run with the event's body as input when `when` holds for it.
struct Trigger {
  std::string event;
  std::optional<json::Condition> when;  // over `input` only; absent: every event of the type
  // A secret of the workflow's namespace: the event must then be signed with it, X-Signature:
  // sha256=<hex HMAC-SHA256 of the body> (webhooks from outside). Empty: no signature asked.
  std::string secret;
};

// A workflow's "concurrency": at most `limit` live (started, unfinished) runs per value of `key`;
// the others wait in order, queued (engine/flow_control.h).
constexpr int64_t kMaxConcurrencyLimit = 1'000'000;
struct ConcurrencySpec {
  json::Template key;  // a string template over input (and run); rendered once, at the start
  std::string key_source;
  int64_t limit = 1;
};
// A workflow's "debounce": of the starts of one key less than `ms` apart only the last runs;
// the earlier ones end cancelled ("debounced: ..."). Not combined with concurrency/rate_limit.
constexpr int64_t kMaxDebounceMs = 86'400'000;
struct DebounceSpec {
  json::Template key;
  std::string key_source;
  int64_t ms = 0;
};
// A workflow's "rate_limit": starts per key beyond `per_second` (a token bucket of `burst`) are
// queued and released at the rate. With "concurrency" too, both use the same key.
constexpr double kMaxRatePerSecond = 1'000'000;
struct RateLimitSpec {
  json::Template key;
  std::string key_source;
  double per_second = 1;
  int64_t burst = 1;
};

// Event type names: 1 to 128 of A-Z a-z 0-9 . _ : -
bool IsValidEventType(std::string_view type);
// Workflow names: 1 to 128 of A-Z a-z 0-9 . _ -
bool IsValidWorkflowName(std::string_view name);

struct Definition {
  std::string name;
  int64_t version = 0;
  std::string description;
  Nanos timeout = 0;  // run timeout; 0: none
  RetryPolicy retry;  // the workflow default (built-in <- "retry")
  // The run's output; absent: an object of the terminal steps' outputs by id.
  std::optional<json::Template> output;
  std::vector<Step> steps;          // topological order, declaration order among ties
  std::vector<Trigger> triggers;    // events that start it
  std::optional<ConcurrencySpec> concurrency;
  std::optional<RateLimitSpec> rate_limit;
  std::optional<DebounceSpec> debounce;
  // Starts are gated per key (concurrency and/or rate_limit): engine/flow_control.h.
  bool flow_controlled() const { return concurrency || rate_limit || debounce; }
  std::vector<uint32_t> roots;      // steps without dependencies, ascending
  std::vector<uint32_t> terminals;  // steps without dependents, ascending
  std::string source;               // the submitted JSON text, as given (for GET)

  // The step with `id`, or nullptr. O(log steps).
  const Step* FindStep(std::string_view id) const;

  // Step indexes sorted by id, for FindStep.
  std::vector<uint32_t> by_id;
};

// Either a definition or the errors found, never both. `errors` holds the
// first kMaxValidationErrors found (in document order, roughly), sorted by
// pointer (numeric tokens by value) and then in the order found;
// `omitted_errors` counts the ones past that.
struct Compiled {
  std::shared_ptr<const Definition> def;
  std::vector<ValidationError> errors;
  size_t omitted_errors = 0;
};

// Validates and compiles `json_text`. `url_name` is the name from the request
// path ("" when there is none, e.g. tests); the body's "name" is optional when
// it is given and must equal it when both are. `version` is stored as is (the
// registry assigns versions).
Compiled CompileDefinition(std::string_view url_name, std::string_view json_text,
                           int64_t version = 0);

// The daemon-wide default breaker of http steps (--circuit-breaker): a JSON object with the
// fields of a step's "circuit_breaker" except "key" (the default breaks per host). Errors
// (kInvalidArgument) list each problem as "<pointer>: <message>".
Result<BreakerSettings> ParseDefaultBreaker(std::string_view json_text);

}  // namespace rf::engine
