#include "engine/detail/step_parser.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <unordered_map>

namespace rf::engine::detail {
namespace {

constexpr std::array<std::string_view, kStepTypes> kStepTypeNames = {
    "noop", "transform", "delay", "http", "approval", "workflow", "map"};
constexpr std::array<std::string_view, 6> kMethodNames = {"GET", "HEAD",  "POST",
                                                          "PUT", "PATCH", "DELETE"};

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsValidStepId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxStepIdLength &&
         std::all_of(id.begin(), id.end(), IsIdChar);
}

// RFC 9110 tchar.
bool IsTokenChar(char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// Framing and connection headers belong to the HTTP client: letting a template
// set them would allow a body and its Content-Length to disagree.
bool IsClientManagedHeader(std::string_view name) {
  for (std::string_view h : {"content-length", "transfer-encoding", "connection", "upgrade",
                             "keep-alive", "te", "trailer", "proxy-connection"})
    if (EqualsIgnoreCase(name, h)) return true;
  return false;
}

// A workflow step's child: whether that workflow exists is checked when the step starts
// (workflow_not_found then), so definitions may be registered in any order.
void ParseWorkflowStep(const json::Value& v, const std::string& ptr, Step& step, Checker& checker,
                       std::vector<StepRef>& refs) {
  const std::string name_ptr = Child(ptr, "workflow");
  if (const json::Value* name = v.Find("workflow"); name == nullptr) {
    checker.Add(name_ptr, "a workflow step requires 'workflow' (the name of the workflow to run)");
  } else if (const std::string* text = checker.String(name, name_ptr, "workflow")) {
    if (!IsValidWorkflowName(*text)) {
      checker.Add(name_ptr, "workflow " + Quote(*text) +
                                " must be 1 to 128 characters of A-Z a-z 0-9 . _ - (a workflow of "
                                "the same namespace)");
    } else {
      step.workflow = *text;
    }
  }
  if (auto version = checker.Integer(v.Find("version"), Child(ptr, "version"), "version", 1,
                                     INT64_C(1) << 53)) {
    step.workflow_version = *version;
  }
  if (const json::Value* input = v.Find("input")) {
    step.input = CompileTemplateAt(*input, Child(ptr, "input"), checker, refs);
  }
}

}  // namespace

std::optional<HttpRequestSpec> ParseRequest(const json::Value& v, const std::string& ptr,
                                            Checker& checker, std::vector<StepRef>& refs) {
  if (!v.is_object()) {
    checker.Add(ptr, "request must be an object");
    return std::nullopt;
  }
  checker.UnknownKeys(v, ptr, {"method", "url", "headers", "body", "connect_timeout_ms"});
  HttpRequestSpec spec;
  bool ok = true;

  const std::string method_ptr = Child(ptr, "method");
  if (const std::string* method = checker.String(v.Find("method"), method_ptr, "method")) {
    auto it = std::find(kMethodNames.begin(), kMethodNames.end(), *method);
    if (it == kMethodNames.end()) {
      checker.Add(method_ptr, "method " + Quote(*method) +
                                  " is not supported (expected GET, HEAD, POST, PUT, PATCH or "
                                  "DELETE, in capitals)");
      ok = false;
    } else {
      spec.method = static_cast<HttpMethod>(it - kMethodNames.begin());
    }
  } else if (v.Find("method")) {
    ok = false;
  }

  const std::string url_ptr = Child(ptr, "url");
  const json::Value* url = v.Find("url");
  if (url == nullptr) {
    checker.Add(url_ptr, "an http step's request requires 'url'");
    ok = false;
  } else if (const std::string* text = checker.String(url, url_ptr, "url")) {
    // A URL that starts with a reference is checked when it is rendered; a
    // literal start must already name the scheme.
    if (!text->starts_with("{{") && !StartsWithIgnoreCase(*text, "http://") &&
        !StartsWithIgnoreCase(*text, "https://")) {
      checker.Add(url_ptr, "url must start with http:// or https://");
      ok = false;
    }
    if (auto t = CompileTemplateAt(*url, url_ptr, checker, refs, SecretRefs::kAllow)) {
      spec.url = std::move(*t);
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }

  if (const json::Value* headers = v.Find("headers")) {
    const std::string headers_ptr = Child(ptr, "headers");
    if (!headers->is_object()) {
      checker.Add(headers_ptr, "headers must be an object of header names to string templates");
      ok = false;
    } else if (headers->as_object().size() > kMaxHttpHeaders) {
      checker.Add(headers_ptr, "a request has at most 100 headers, not " +
                                   std::to_string(headers->as_object().size()));
      ok = false;
    } else {
      const json::Object& members = headers->as_object();
      std::unordered_map<std::string, size_t> seen;  // lower-cased name -> index in members
      for (size_t i = 0; i < members.size(); ++i) {
        const json::Member& m = members[i];
        const std::string header_ptr = Child(headers_ptr, m.first);
        const std::string_view name = m.first;
        if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
          checker.Add(header_ptr, Quote(m.first) + " is not a valid header name");
          ok = false;
          continue;
        }
        if (IsClientManagedHeader(name)) {
          checker.Add(header_ptr, "header " + Quote(m.first) + " is set by the HTTP client");
          ok = false;
          continue;
        }
        std::string lower(name);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto dup = seen.find(lower); dup != seen.end()) {
          checker.Add(header_ptr, "header " + Quote(m.first) + " repeats " +
                                      Quote(members[dup->second].first) +
                                      " (header names are case-insensitive)");
          ok = false;
          continue;
        }
        seen.emplace(std::move(lower), i);
        if (!m.second.is_string()) {
          checker.Add(header_ptr, "header values must be strings, not " +
                                      std::string(json::TypeName(m.second.type())));
          ok = false;
          continue;
        }
        if (auto t = CompileTemplateAt(m.second, header_ptr, checker, refs, SecretRefs::kAllow)) {
          spec.headers.push_back({m.first, std::move(*t)});
        } else {
          ok = false;
        }
      }
    }
  }

  if (const json::Value* body = v.Find("body")) {
    if (auto t = CompileTemplateAt(*body, Child(ptr, "body"), checker, refs, SecretRefs::kAllow)) {
      spec.body = std::move(*t);
    } else {
      ok = false;
    }
  }

  const json::Value* connect = v.Find("connect_timeout_ms");
  if (auto t = checker.Millis(connect, Child(ptr, "connect_timeout_ms"), "connect_timeout_ms",
                              1 * kMillis, kMaxConnectTimeout)) {
    spec.connect_timeout = *t;
  } else if (connect) {
    ok = false;
  }

  if (!ok) return std::nullopt;
  return spec;
}

std::optional<RetryOverrides> ParseRetry(const json::Value& v, const std::string& ptr,
                                         bool allow_on_status, const RetryPolicy& base,
                                         Checker& checker) {
  if (!v.is_object()) {
    checker.Add(ptr, "retry must be an object");
    return std::nullopt;
  }
  checker.UnknownKeys(
      v, ptr, {"max_attempts", "initial_ms", "max_ms", "multiplier", "jitter", "on_status"});
  const size_t errors_before = checker.size();
  RetryOverrides o;
  if (auto n = checker.Integer(v.Find("max_attempts"), Child(ptr, "max_attempts"), "max_attempts",
                               kMinRetryAttempts, kMaxRetryAttempts)) {
    o.max_attempts = static_cast<int>(*n);
  }
  o.initial = checker.Millis(v.Find("initial_ms"), Child(ptr, "initial_ms"), "initial_ms",
                             kMinRetryInitial, kMaxRetryInitial);
  o.max = checker.Millis(v.Find("max_ms"), Child(ptr, "max_ms"), "max_ms", kMinRetryInitial,
                         kMaxRetryMax);
  o.multiplier = checker.Number(v.Find("multiplier"), Child(ptr, "multiplier"), "multiplier",
                                kMinRetryMultiplier, kMaxRetryMultiplier);
  o.jitter = checker.Number(v.Find("jitter"), Child(ptr, "jitter"), "jitter", kMinRetryJitter,
                            kMaxRetryJitter);

  if (const json::Value* on_status = v.Find("on_status")) {
    const std::string list_ptr = Child(ptr, "on_status");
    if (!allow_on_status) {
      checker.Add(list_ptr, "on_status applies only to http steps");
    } else if (!on_status->is_array()) {
      checker.Add(list_ptr, "on_status must be an array of 4xx status codes");
    } else if (on_status->as_array().size() > 100) {
      // There are only 100 codes in 4xx; the bound keeps a huge array cheap.
      checker.Add(list_ptr, "on_status has " + std::to_string(on_status->as_array().size()) +
                                " entries; there are only 100 4xx status codes");
    } else {
      std::vector<int> codes;
      for (size_t i = 0; i < on_status->as_array().size(); ++i) {
        const json::Value& code = on_status->as_array()[i];
        if (!code.is_int() || code.as_int() < 400 || code.as_int() > 499) {
          checker.Add(Child(list_ptr, i),
                      "on_status entries must be 4xx status codes (5xx are always retried)");
          continue;
        }
        codes.push_back(static_cast<int>(code.as_int()));
      }
      o.on_status = std::move(codes);
    }
  }

  if (checker.size() != errors_before) return std::nullopt;
  // Checked on the effective values: a step that raises only initial_ms can
  // pass the workflow's max_ms.
  if (o.initial && o.max && *o.initial > *o.max) {
    checker.Add(Child(ptr, "max_ms"), "max_ms must be at least initial_ms (" +
                                          std::to_string(*o.initial / kMillis) + ")");
  } else if (o.initial && !o.max && *o.initial > base.max) {
    checker.Add(Child(ptr, "initial_ms"), "initial_ms must not exceed the inherited max_ms (" +
                                              std::to_string(base.max / kMillis) + ")");
  } else if (o.max && !o.initial && *o.max < base.initial) {
    checker.Add(Child(ptr, "max_ms"), "max_ms must be at least the inherited initial_ms (" +
                                          std::to_string(base.initial / kMillis) + ")");
  }
  if (checker.size() != errors_before) return std::nullopt;
  return o;
}

StepDraft ParseStep(const json::Value& v, const std::string& ptr, uint32_t source_index,
                    const RetryPolicy& workflow_retry, Checker& checker) {
  StepDraft draft;
  Step& step = draft.step;
  step.source_index = source_index;
  if (!v.is_object()) {
    checker.Add(ptr, "a step must be an object, not " + std::string(json::TypeName(v.type())));
    return draft;
  }

  const std::string id_ptr = Child(ptr, "id");
  if (const json::Value* id = v.Find("id"); id == nullptr) {
    checker.Add(id_ptr, "a step requires 'id'");
  } else if (const std::string* text = checker.String(id, id_ptr, "id")) {
    step.id = *text;
    draft.has_id = true;
    if (!IsValidStepId(*text)) {
      checker.Add(id_ptr, "id " + Quote(*text) + " must be 1 to 64 characters of A-Z a-z 0-9 _ -");
    }
  }

  const std::string type_ptr = Child(ptr, "type");
  bool type_known = false;
  if (const json::Value* type = v.Find("type"); type == nullptr) {
    checker.Add(type_ptr, "a step requires 'type'");
  } else if (const std::string* text = checker.String(type, type_ptr, "type")) {
    auto it = std::find(kStepTypeNames.begin(), kStepTypeNames.end(), *text);
    if (it == kStepTypeNames.end()) {
      checker.Add(type_ptr, "unknown step type " + Quote(*text) +
                                " (expected noop, transform, delay, http, approval, workflow or map)");
    } else {
      step.type = static_cast<StepType>(it - kStepTypeNames.begin());
      type_known = true;
    }
  }

  if (type_known) {
    switch (step.type) {
      case StepType::kNoop:
      case StepType::kApproval:
        checker.UnknownKeys(v, ptr, {"id", "type", "depends_on", "when", "retry", "timeout_ms", "concurrency"});
        break;
      case StepType::kTransform:
        checker.UnknownKeys(v, ptr,
                            {"id", "type", "depends_on", "when", "retry", "timeout_ms", "output",
                             "concurrency"});
        break;
      case StepType::kDelay:
        checker.UnknownKeys(v, ptr,
                            {"id", "type", "depends_on", "when", "retry", "timeout_ms", "ms",
                             "concurrency"});
        break;
      case StepType::kHttp:
        checker.UnknownKeys(v, ptr, {"id", "type", "depends_on", "when", "retry", "timeout_ms",
                                     "request", "circuit_breaker", "concurrency"});
        break;
      case StepType::kWorkflow:
        // No retry, no timeout: the child run has its own (a failed child is final for the
        // step; retrying the parent run starts a new child).
        checker.UnknownKeys(v, ptr, {"id", "type", "depends_on", "when", "workflow", "version", "input",
                                     "concurrency"});
        break;
      case StepType::kMap:
        // No retry, no timeout on the map: a failed map is final for the step. Only http items
        // retry (their own "retry"): pure ones would compute the same, workflow items have their
        // own.
        checker.UnknownKeys(v, ptr,
                            {"id", "type", "depends_on", "when", "items", "concurrency", "on_failure", "step"});
        break;
    }
    // A map's "concurrency" is its own (items in flight); elsewhere only http steps take a
    // per-key limit, and saying so beats "unknown key".
    if (step.type != StepType::kHttp && step.type != StepType::kMap && v.Find("concurrency"))
      checker.Add(Child(ptr, "concurrency"),
                  "a per-key concurrency limit applies to http steps only (workflows take a "
                  "top-level \"concurrency\" for their runs)");
  }

  if (const json::Value* deps = v.Find("depends_on")) {
    const std::string deps_ptr = Child(ptr, "depends_on");
    if (!deps->is_array()) {
      checker.Add(deps_ptr, "depends_on must be an array of step ids");
    } else if (deps->as_array().size() >= kMaxSteps) {
      // Checked first so a huge list costs nothing: a step can depend on at
      // most every other step.
      checker.Add(deps_ptr, "depends_on has " + std::to_string(deps->as_array().size()) +
                                " entries; a step can depend on at most 999 others");
    } else {
      const json::Array& list = deps->as_array();
      std::unordered_map<std::string_view, size_t> seen;  // id -> position in depends_on
      for (size_t i = 0; i < list.size(); ++i) {
        std::string dep_ptr = Child(deps_ptr, i);
        if (!list[i].is_string()) {
          checker.Add(dep_ptr, "depends_on entries must be step ids (strings), not " +
                                   std::string(json::TypeName(list[i].type())));
          continue;
        }
        const std::string& dep = list[i].as_string();
        if (draft.has_id && dep == step.id) {
          checker.Add(dep_ptr, "step " + Quote(dep) + " cannot depend on itself");
          continue;
        }
        auto [first, inserted] = seen.emplace(dep, draft.depends_on.size());
        if (!inserted) {
          checker.Add(dep_ptr, "duplicate dependency " + Quote(dep) + " (also at " +
                                   draft.depends_on[first->second].pointer + ")");
          continue;
        }
        draft.depends_on.push_back({std::move(dep_ptr), dep});
      }
    }
  }

  if (const json::Value* when = v.Find("when")) {
    const std::string when_ptr = Child(ptr, "when");
    if (const std::string* text = checker.String(when, when_ptr, "when")) {
      step.when = CompileConditionAt(*text, when_ptr, checker, draft.refs);
    }
  }

  step.retry = workflow_retry;
  if (const json::Value* retry = v.Find("retry")) {
    const bool allow_on_status = !type_known || step.type == StepType::kHttp;
    if (auto o =
            ParseRetry(*retry, Child(ptr, "retry"), allow_on_status, workflow_retry, checker)) {
      step.retry = workflow_retry.With(*o);
    }
  }
  // A workflow-wide on_status is meant for the http steps; keep the others'
  // effective policy truthful.
  if (type_known && step.type != StepType::kHttp) step.retry.on_status.clear();

  if (auto t = checker.Millis(v.Find("timeout_ms"), Child(ptr, "timeout_ms"), "timeout_ms",
                              1 * kMillis, kMaxStepTimeout)) {
    step.timeout = *t;
  }

  if (!type_known) return draft;
  switch (step.type) {
    case StepType::kNoop:
    case StepType::kApproval:
      break;
    case StepType::kTransform:
      if (const json::Value* output = v.Find("output")) {
        step.output = CompileTemplateAt(*output, Child(ptr, "output"), checker, draft.refs);
      } else {
        checker.Add(Child(ptr, "output"), "a transform step requires 'output'");
      }
      break;
    case StepType::kDelay:
      if (const json::Value* ms = v.Find("ms")) {
        step.delay = checker.Millis(ms, Child(ptr, "ms"), "ms", 0, kMaxDelay).value_or(0);
      } else {
        checker.Add(Child(ptr, "ms"), "a delay step requires 'ms'");
      }
      break;
    case StepType::kHttp:
      if (const json::Value* request = v.Find("request")) {
        step.request = ParseRequest(*request, Child(ptr, "request"), checker, draft.refs);
      } else {
        checker.Add(Child(ptr, "request"), "an http step requires 'request'");
      }
      if (const json::Value* breaker = v.Find("circuit_breaker")) {
        if (breaker->is_bool() && !breaker->as_bool()) {
          step.breaker_off = true;
        } else {
          step.breaker = ParseBreaker(*breaker, Child(ptr, "circuit_breaker"), true, checker,
                                      draft.refs);
        }
      }
      if (const json::Value* c = v.Find("concurrency"))
        step.permits = ParseStepConcurrency(*c, Child(ptr, "concurrency"), checker, draft.refs);
      break;
    case StepType::kWorkflow:
      ParseWorkflowStep(v, ptr, step, checker, draft.refs);
      break;
    case StepType::kMap:
      ParseMapStep(v, ptr, step, checker, draft.refs, workflow_retry);
      break;
  }
  return draft;
}

}  // namespace rf::engine::detail
