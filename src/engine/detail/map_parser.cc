// A map step's fields ("items", "concurrency", "on_failure", "step"). Whether a workflow item's
// workflow exists is checked when an item starts, as for a workflow step; whether a literal array
// fits --max-map-items is checked by the engine when the definition is put (a flag may change
// between restarts, and a definition once accepted must compile again at replay).

#include "engine/detail/step_parser.h"

namespace rf::engine::detail {
namespace {

void ParseItemStep(const json::Value& v, const std::string& ptr, MapSpec& spec, Checker& checker,
                   std::vector<StepRef>& refs, const RetryPolicy& workflow_retry) {
  if (!v.is_object()) {
    checker.Add(ptr, "step must be an object such as {\"type\": \"noop\"}");
    return;
  }
  const std::string type_ptr = Child(ptr, "type");
  const std::string* type = nullptr;
  if (const json::Value* t = v.Find("type"); t == nullptr) {
    checker.Add(type_ptr, "a map's step requires 'type' (noop, transform, http or workflow)");
    return;
  } else if (type = checker.String(t, type_ptr, "type"); type == nullptr) {
    return;
  }
  if (*type == "noop") {
    spec.item_type = StepType::kNoop;
    checker.UnknownKeys(v, ptr, {"type"});
  } else if (*type == "transform") {
    spec.item_type = StepType::kTransform;
    checker.UnknownKeys(v, ptr, {"type", "output"});
    if (const json::Value* output = v.Find("output")) {
      spec.output = CompileTemplateAt(*output, Child(ptr, "output"), checker, refs);
    } else {
      checker.Add(Child(ptr, "output"), "a transform step requires 'output'");
    }
  } else if (*type == "http") {
    // Without "retry" one call per item: a failed call fails its item (on_failure decides the
    // rest).
    spec.item_type = StepType::kHttp;
    checker.UnknownKeys(v, ptr, {"type", "request", "timeout_ms", "retry"});
    if (const json::Value* request = v.Find("request")) {
      spec.request = ParseRequest(*request, Child(ptr, "request"), checker, refs);
    } else {
      checker.Add(Child(ptr, "request"), "an http step requires 'request'");
    }
    if (auto t = checker.Millis(v.Find("timeout_ms"), Child(ptr, "timeout_ms"), "timeout_ms",
                                1 * kMillis, kMaxStepTimeout)) {
      spec.timeout = *t;
    }
    if (const json::Value* retry = v.Find("retry")) {
      if (auto o = ParseRetry(*retry, Child(ptr, "retry"), true, workflow_retry, checker))
        spec.retry = workflow_retry.With(*o);
    }
  } else if (*type == "workflow") {
    spec.item_type = StepType::kWorkflow;
    checker.UnknownKeys(v, ptr, {"type", "workflow", "version", "input"});
    const std::string name_ptr = Child(ptr, "workflow");
    if (const json::Value* name = v.Find("workflow"); name == nullptr) {
      checker.Add(name_ptr,
                  "a workflow step requires 'workflow' (the name of the workflow to run)");
    } else if (const std::string* text = checker.String(name, name_ptr, "workflow")) {
      if (!IsValidWorkflowName(*text)) {
        checker.Add(name_ptr,
                    "workflow " + Quote(*text) +
                        " must be 1 to 128 characters of A-Z a-z 0-9 . _ - (a workflow of "
                        "the same namespace)");
      } else {
        spec.workflow = *text;
      }
    }
    if (auto version = checker.Integer(v.Find("version"), Child(ptr, "version"), "version", 1,
                                       INT64_C(1) << 53)) {
      spec.workflow_version = *version;
    }
    if (const json::Value* input = v.Find("input")) {
      spec.input = CompileTemplateAt(*input, Child(ptr, "input"), checker, refs);
    }
  } else {
    checker.Add(type_ptr,
                "a map runs noop, transform, http or workflow steps per item, not " + Quote(*type));
  }
}

}  // namespace

void ParseMapStep(const json::Value& v, const std::string& ptr, Step& step, Checker& checker,
                  std::vector<StepRef>& refs, const RetryPolicy& workflow_retry) {
  auto spec = std::make_shared<MapSpec>();
  const std::string items_ptr = Child(ptr, "items");
  if (const json::Value* items = v.Find("items"); items == nullptr) {
    checker.Add(items_ptr,
                "a map step requires 'items' (an array, or a template that renders to one)");
  } else if (items->is_array() ||
             (items->is_string() && items->as_string().find("{{") != std::string::npos)) {
    if (items->is_array()) spec->literal_items = static_cast<int64_t>(items->as_array().size());
    if (auto t = CompileTemplateAt(*items, items_ptr, checker, refs)) spec->items = std::move(*t);
  } else {
    checker.Add(items_ptr, "items must be an array or a template such as \"{{input.list}}\", not " +
                               std::string(json::TypeName(items->type())));
  }
  if (auto n = checker.Integer(v.Find("concurrency"), Child(ptr, "concurrency"), "concurrency", 1,
                               kMaxMapConcurrency)) {
    spec->concurrency = static_cast<uint32_t>(*n);
  }
  const std::string policy_ptr = Child(ptr, "on_failure");
  if (const std::string* policy = checker.String(v.Find("on_failure"), policy_ptr, "on_failure")) {
    if (*policy == "collect") {
      spec->collect = true;
    } else if (*policy != "fail_fast") {
      checker.Add(policy_ptr, "on_failure " + Quote(*policy) + " is not fail_fast or collect");
    }
  }
  if (const json::Value* inner = v.Find("step")) {
    ParseItemStep(*inner, Child(ptr, "step"), *spec, checker, refs, workflow_retry);
  } else {
    checker.Add(Child(ptr, "step"),
                "a map step requires 'step' (what runs per item, e.g. {\"type\": \"noop\"})");
  }
  step.map = std::move(spec);
}

}  // namespace rf::engine::detail
