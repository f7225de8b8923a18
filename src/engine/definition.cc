#include "engine/definition.h"

#include <algorithm>
#include <unordered_map>

#include "base/tenancy.h"
#include "engine/dag.h"
#include "engine/detail/checker.h"
#include "engine/detail/step_parser.h"
#include "json/parse.h"
#include "json/value_limits.h"

namespace rf::engine {
namespace {

using detail::Checker;
using detail::Child;
using detail::StepDraft;
using detail::StepRef;

bool IsValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

constexpr const char* kNameRule = "1 to 128 characters of A-Z a-z 0-9 . _ -";

// "triggers": [{"event": "order.created", "when": "input.total > 100"}, ...]. A trigger's
// condition sees the event body as `input`; there are no steps yet.
void ParseTriggers(const json::Value* v, Definition& def, Checker& checker) {
  if (v == nullptr) return;
  if (!v->is_array()) {
    checker.Add("/triggers", "triggers must be an array of {\"event\", \"when\"?, \"secret\"?}");
    return;
  }
  if (v->as_array().size() > kMaxTriggers) {
    checker.Add("/triggers", "a definition has at most " + std::to_string(kMaxTriggers) + " triggers");
    return;
  }
  for (size_t i = 0; i < v->as_array().size(); ++i) {
    const json::Value& t = v->as_array()[i];
    const std::string at = Child("/triggers", i);
    if (!t.is_object()) {
      checker.Add(at, "a trigger must be an object {\"event\", \"when\"?, \"secret\"?}");
      continue;
    }
    checker.UnknownKeys(t, at, {"event", "when", "secret"});
    Trigger trigger;
    const std::string* event = checker.String(t.Find("event"), at + "/event", "event");
    if (t.Find("event") == nullptr) {
      checker.Add(at + "/event", "a trigger requires 'event'");
    } else if (event && !IsValidEventType(*event)) {
      checker.Add(at + "/event", "event " + detail::Quote(*event) +
                                     " must be 1 to 128 characters of A-Z a-z 0-9 . _ : -");
    } else if (event) {
      for (const Trigger& seen : def.triggers)
        if (seen.event == *event) checker.Add(at + "/event", "event " + detail::Quote(*event) + " is listed twice");
      trigger.event = *event;
    }
    if (const std::string* when = checker.String(t.Find("when"), at + "/when", "when")) {
      std::vector<StepRef> refs;
      trigger.when = detail::CompileConditionAt(*when, at + "/when", checker, refs);
      if (!refs.empty()) checker.Add(at + "/when", "a trigger's condition may use input only (the event's body), not steps");
    }
    if (const std::string* secret = checker.String(t.Find("secret"), at + "/secret", "secret")) {
      if (!ValidSecretName(*secret))
        checker.Add(at + "/secret", "secret " + detail::Quote(*secret) + " must name a secret: 1 to 128 characters of A-Z a-z 0-9 _ -");
      else
        trigger.secret = *secret;
    }
    def.triggers.push_back(std::move(trigger));
  }
}

// The workflow name: from the body, from the URL, or both when they agree. The URL's may be
// qualified by a namespace (base/tenancy.h); the body names the plain name, and the result is
// qualified the same way.
std::string CheckName(const json::Value& doc, std::string_view qualified_url_name, Checker& checker) {
  const ScopedName scoped = SplitQualified(qualified_url_name);
  if (!qualified_url_name.empty() && !ValidNamespace(scoped.ns)) {
    checker.Add("/name", "the namespace " + detail::Quote(scoped.ns) + " must be 1 to 63 of a-z 0-9 -");
  }
  const std::string_view url_name = scoped.name;
  if (!url_name.empty() && !IsValidName(url_name)) {
    checker.Add("/name", "the workflow name in the URL, " + detail::Quote(url_name) + ", must be " +
                             kNameRule);
  }
  const json::Value* name = doc.Find("name");
  if (name == nullptr) {
    if (url_name.empty()) checker.Add("/name", "a definition requires 'name'");
    return std::string(qualified_url_name);
  }
  const std::string* text = checker.String(name, "/name", "name");
  if (text == nullptr) return std::string(qualified_url_name);
  if (!IsValidName(*text)) {
    checker.Add("/name", "name " + detail::Quote(*text) + " must be " + kNameRule);
  } else if (!url_name.empty() && *text != url_name) {
    checker.Add("/name", "name " + detail::Quote(*text) + " does not match " +
                             detail::Quote(url_name) + " in the URL");
  }
  return QualifiedName(qualified_url_name.empty() ? kDefaultNamespace : scoped.ns, *text);
}

// Maps every string id (valid or not, so one bad id does not cascade into
// "unknown step" errors) to its first step; reports repeats.
std::unordered_map<std::string_view, uint32_t> IndexIds(const std::vector<StepDraft>& drafts,
                                                        Checker& checker) {
  std::unordered_map<std::string_view, uint32_t> first;
  for (uint32_t i = 0; i < drafts.size(); ++i) {
    if (!drafts[i].has_id) continue;
    auto [it, inserted] = first.emplace(drafts[i].step.id, i);
    if (!inserted) {
      checker.Add(Child(Child("/steps", i), "id"),
                  "duplicate step id " + detail::Quote(drafts[i].step.id) +
                      " (first used by /steps/" + std::to_string(it->second) + ")");
    }
  }
  return first;
}

void ReportCycles(const DagOrder& dag, const std::vector<StepDraft>& drafts, Checker& checker) {
  for (const std::vector<uint32_t>& cycle : dag.cycles) {
    // Long cycles show their two ends; the message stays readable.
    constexpr size_t kShown = 10;
    std::string message = "cycle: ";
    for (size_t k = 0; k < cycle.size(); ++k) {
      if (cycle.size() > 2 * kShown && k == kShown) {
        message += "... -> ";
        k = cycle.size() - kShown;
      }
      message += detail::Clip(drafts[cycle[k]].step.id) + " -> ";
    }
    message += detail::Clip(drafts[cycle.front()].step.id);
    if (cycle.size() > 2 * kShown) message += " (" + std::to_string(cycle.size()) + " steps)";
    // Point at the edge that closes the cycle: the first step's dependency on
    // the last.
    const auto& deps = drafts[cycle.front()].depends_on;
    auto edge = std::find_if(deps.begin(), deps.end(), [&](const detail::DependencyRef& d) {
      return d.index == cycle.back();
    });
    checker.Add(edge != deps.end() ? edge->pointer : Child("/steps", cycle.front()),
                std::move(message));
  }
}

// Template and condition references to other steps: the step must exist and,
// from a step, be a transitive dependency (else it may not have run yet).
// `ancestry` is null when the graph has a cycle; then only existence is checked.
void CheckStepRefs(const std::vector<StepRef>& refs, std::optional<uint32_t> from,
                   const std::vector<StepDraft>& drafts,
                   const std::unordered_map<std::string_view, uint32_t>& ids,
                   const Ancestry* ancestry, Checker& checker) {
  for (const StepRef& ref : refs) {
    auto it = ids.find(ref.step_id);
    if (it == ids.end()) {
      checker.Add(ref.pointer, "reference to unknown step " + detail::Quote(ref.step_id));
      continue;
    }
    if (!from || ancestry == nullptr) continue;
    const std::string self = detail::Quote(drafts[*from].step.id);
    if (it->second == *from) {
      checker.Add(ref.pointer, "step " + self + " cannot reference its own result");
    } else if (!ancestry->DependsOn(*from, it->second)) {
      checker.Add(ref.pointer, "step " + self + " references step " + detail::Quote(ref.step_id) +
                                   ", which is not among its dependencies; add it to "
                                   "depends_on (directly or through another step)");
    }
  }
}

// Moves the drafts into a Definition in topological order.
std::shared_ptr<const Definition> Assemble(std::vector<StepDraft>& drafts,
                                           const std::vector<std::vector<uint32_t>>& deps,
                                           const DagOrder& dag, std::shared_ptr<Definition> def) {
  const uint32_t n = static_cast<uint32_t>(drafts.size());
  std::vector<uint32_t> position(n);  // source index -> topological index
  for (uint32_t i = 0; i < n; ++i) position[dag.order[i]] = i;

  def->steps.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t source = dag.order[i];
    Step& step = def->steps.emplace_back(std::move(drafts[source].step));
    step.index = i;
    for (uint32_t d : deps[source]) step.dependencies.push_back(position[d]);
    std::sort(step.dependencies.begin(), step.dependencies.end());
  }
  for (Step& step : def->steps) {
    for (uint32_t d : step.dependencies) def->steps[d].dependents.push_back(step.index);
  }
  // Dependents were appended in increasing step index: already sorted.
  for (const Step& step : def->steps) {
    if (step.dependencies.empty()) def->roots.push_back(step.index);
    if (step.dependents.empty()) def->terminals.push_back(step.index);
    def->by_id.push_back(step.index);
  }
  std::sort(def->by_id.begin(), def->by_id.end(),
            [&](uint32_t a, uint32_t b) { return def->steps[a].id < def->steps[b].id; });
  return def;
}

}  // namespace

bool IsValidWorkflowName(std::string_view name) { return IsValidName(name); }

std::string_view StepTypeName(StepType t) {
  switch (t) {
    case StepType::kNoop:
      return "noop";
    case StepType::kTransform:
      return "transform";
    case StepType::kDelay:
      return "delay";
    case StepType::kHttp:
      return "http";
    case StepType::kApproval:
      return "approval";
    case StepType::kWorkflow:
      return "workflow";
    case StepType::kMap:
      return "map";
  }
  return "unknown";
}

std::string_view HttpMethodName(HttpMethod m) {
  switch (m) {
    case HttpMethod::kGet:
      return "GET";
    case HttpMethod::kHead:
      return "HEAD";
    case HttpMethod::kPost:
      return "POST";
    case HttpMethod::kPut:
      return "PUT";
    case HttpMethod::kPatch:
      return "PATCH";
    case HttpMethod::kDelete:
      return "DELETE";
  }
  return "GET";
}

const Step* Definition::FindStep(std::string_view id) const {
  auto it = std::lower_bound(by_id.begin(), by_id.end(), id,
                             [&](uint32_t i, std::string_view key) { return steps[i].id < key; });
  if (it == by_id.end() || steps[*it].id != id) return nullptr;
  return &steps[*it];
}

bool IsValidEventType(std::string_view type) {
  return !type.empty() && type.size() <= kMaxEventTypeLength &&
         std::all_of(type.begin(), type.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == ':';
         });
}

Compiled CompileDefinition(std::string_view url_name, std::string_view json_text, int64_t version) {
  Compiled out;
  if (json_text.size() > kMaxDefinitionBytes) {
    out.errors.push_back({"", "definition is " + std::to_string(json_text.size()) +
                                  " bytes; the limit is 1048576 (1 MiB)"});
    return out;
  }
  auto doc =
      json::Parse(json_text, {.max_bytes = kMaxDefinitionBytes, .max_depth = json::kMaxDepth});
  if (!doc) {
    out.errors.push_back({"", doc.error().context});
    return out;
  }
  if (!doc->is_object()) {
    out.errors.push_back({"", "a definition must be a JSON object, not " +
                                  std::string(json::TypeName(doc->type()))});
    return out;
  }

  Checker checker;
  auto def = std::make_shared<Definition>();
  def->version = version;
  checker.UnknownKeys(*doc, "", {"name", "description", "timeout_ms", "retry", "output", "steps", "triggers",
                                     "concurrency", "rate_limit", "debounce"});
  def->name = CheckName(*doc, url_name, checker);
  if (const std::string* d =
          checker.String(doc->Find("description"), "/description", "description"))
    def->description = *d;
  if (auto t = checker.Millis(doc->Find("timeout_ms"), "/timeout_ms", "timeout_ms", 1 * kMillis,
                              kMaxRunTimeout)) {
    def->timeout = *t;
  }
  def->retry = RetryPolicy::Default();
  if (const json::Value* retry = doc->Find("retry")) {
    if (auto o = detail::ParseRetry(*retry, "/retry", true, def->retry, checker))
      def->retry = def->retry.With(*o);
  }
  ParseTriggers(doc->Find("triggers"), *def, checker);
  if (const json::Value* c = doc->Find("concurrency")) def->concurrency = detail::ParseConcurrency(*c, checker);
  if (const json::Value* r = doc->Find("rate_limit")) def->rate_limit = detail::ParseRateLimit(*r, checker);
  if (const json::Value* b = doc->Find("debounce")) {
    def->debounce = detail::ParseDebounce(*b, checker);
    if (doc->Find("concurrency") || doc->Find("rate_limit"))
      checker.Add("/debounce", "debounce cannot be combined with concurrency or rate_limit");
  }
  if (def->concurrency && def->rate_limit && def->concurrency->key_source != def->rate_limit->key_source)
    checker.Add("/rate_limit/key", "rate_limit must use the same key as concurrency (" +
                                       detail::Quote(def->concurrency->key_source) + "): a run waits in one queue");
  std::vector<StepRef> output_refs;
  if (const json::Value* output = doc->Find("output"))
    def->output = detail::CompileTemplateAt(*output, "/output", checker, output_refs);

  const json::Value* steps = doc->Find("steps");
  std::vector<StepDraft> drafts;
  if (steps == nullptr) {
    checker.Add("/steps", "a definition requires 'steps'");
  } else if (!steps->is_array()) {
    checker.Add("/steps", "steps must be an array");
  } else if (steps->as_array().empty()) {
    checker.Add("/steps", "steps must not be empty");
  } else if (steps->as_array().size() > kMaxSteps) {
    checker.Add("/steps", "a definition has at most 1000 steps, not " +
                              std::to_string(steps->as_array().size()));
  } else {
    const json::Array& list = steps->as_array();
    drafts.reserve(list.size());
    for (uint32_t i = 0; i < list.size(); ++i)
      drafts.push_back(detail::ParseStep(list[i], Child("/steps", i), i, def->retry, checker));
  }

  const auto ids = IndexIds(drafts, checker);
  std::vector<std::vector<uint32_t>> deps(drafts.size());
  for (uint32_t i = 0; i < drafts.size(); ++i) {
    for (detail::DependencyRef& d : drafts[i].depends_on) {
      auto it = ids.find(d.id);
      if (it == ids.end()) {
        checker.Add(d.pointer, "unknown step " + detail::Quote(d.id));
        continue;
      }
      d.index = it->second;
      deps[i].push_back(it->second);
    }
  }

  const DagOrder dag = TopologicalOrder(deps);
  ReportCycles(dag, drafts, checker);
  std::optional<Ancestry> ancestry;
  if (dag.cycles.empty()) ancestry.emplace(deps, dag.order);
  for (uint32_t i = 0; i < drafts.size(); ++i)
    CheckStepRefs(drafts[i].refs, i, drafts, ids, ancestry ? &*ancestry : nullptr, checker);
  CheckStepRefs(output_refs, std::nullopt, drafts, ids, nullptr, checker);

  if (!checker.empty()) {
    out.omitted_errors = checker.omitted();
    out.errors = checker.Take();
    return out;
  }
  def->source = std::string(json_text);
  out.def = Assemble(drafts, deps, dag, std::move(def));
  return out;
}

Result<BreakerSettings> ParseDefaultBreaker(std::string_view json_text) {
  auto doc = json::Parse(json_text, {.max_bytes = 64 * 1024, .max_depth = 8});
  if (!doc) return Error{Errc::kInvalidArgument, doc.error().context};
  Checker checker;
  std::vector<StepRef> refs;
  auto spec = detail::ParseBreaker(*doc, "", false, checker, refs);
  if (spec) return spec->settings;
  std::string message;
  for (const ValidationError& e : checker.Take()) {
    if (!message.empty()) message += "; ";
    message += (e.pointer.empty() ? "" : e.pointer + ": ") + e.message;
  }
  return Error{Errc::kInvalidArgument, std::move(message)};
}

}  // namespace rf::engine
