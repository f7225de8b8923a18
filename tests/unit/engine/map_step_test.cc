// Map steps: the definition's fields and their errors, the records of finished items, and the
// machine's dispatch (concurrency, order, fail_fast / collect, recovery after a restart).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "compile_helpers.h"
#include "engine/definition.h"
#include "engine/machine.h"
#include "engine/map_step.h"
#include "engine/record.h"
#include "json/parse.h"

using namespace rf::engine;
using rf::json::Value;

using rf::engine::test::Def;
using rf::engine::test::Dump;
using rf::engine::test::HasError;

namespace {

std::string Wf(std::string_view steps) {
  return R"({"name": "w", "steps": [)" + std::string(steps) + "]}";
}

Value Parse(std::string_view text) {
  auto v = rf::json::Parse(text);
  REQUIRE(v.has_value());
  return std::move(*v);
}

std::vector<uint32_t> Items(const Effects& fx) {
  std::vector<uint32_t> out;
  for (const MapItemRef& r : fx.items) out.push_back(r.item);
  return out;
}

}  // namespace

TEST_SUITE("engine.map_step") {
  TEST_CASE("a map step compiles with its items, concurrency, policy and item step") {
    Compiled c = CompileDefinition("", Wf(R"({"id": "a", "type": "noop"},
        {"id": "m", "type": "map", "depends_on": ["a"], "items": "{{steps.a.output.list}}",
         "concurrency": 7, "on_failure": "collect",
         "step": {"type": "transform", "output": {"x": "{{input}}"}}})"));
    INFO(Dump(c));
    REQUIRE(c.def != nullptr);
    const Step* s = c.def->FindStep("m");
    REQUIRE(s != nullptr);
    CHECK(StepTypeName(s->type) == "map");
    REQUIRE(s->map != nullptr);
    CHECK(s->map->concurrency == 7);
    CHECK(s->map->collect);
    CHECK(s->map->item_type == StepType::kTransform);
    CHECK(s->map->literal_items == -1);

    Compiled lit = CompileDefinition("", Wf(R"({"id": "m", "type": "map", "items": [1, "{{input.x}}", 3],
        "step": {"type": "workflow", "workflow": "child", "version": 2, "input": {"v": "{{input}}"}}})"));
    INFO(Dump(lit));
    REQUIRE(lit.def != nullptr);
    const MapSpec& m = *lit.def->steps[0].map;
    CHECK(m.literal_items == 3);
    CHECK(m.concurrency == 1);  // the default: one at a time
    CHECK_FALSE(m.collect);     // fail_fast by default
    CHECK(m.item_type == StepType::kWorkflow);
    CHECK(m.workflow == "child");
    CHECK(m.workflow_version == 2);
    CHECK(m.input.has_value());

    Compiled http = CompileDefinition("", Wf(R"({"id": "m", "type": "map", "items": "{{input.ids}}",
        "step": {"type": "http", "timeout_ms": 250,
                 "request": {"method": "POST", "url": "http://h/{{input}}", "body": {"id": "{{input}}"}}}})"));
    INFO(Dump(http));
    REQUIRE(http.def != nullptr);
    CHECK(http.def->steps[0].map->item_type == StepType::kHttp);
    CHECK(http.def->steps[0].map->request.has_value());
    CHECK(http.def->steps[0].map->timeout == 250 * rf::kMillis);
  }

  TEST_CASE("bad map steps are reported at their field") {
    auto c = [](std::string_view step) { return CompileDefinition("", Wf(step)); };
    CHECK(HasError(c(R"({"id": "m", "type": "map", "step": {"type": "noop"}})"), "/steps/0/items", "requires 'items'"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": 5, "step": {"type": "noop"}})"), "/steps/0/items", "array"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": "plain", "step": {"type": "noop"}})"), "/steps/0/items", "array"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": {"a": 1}, "step": {"type": "noop"}})"), "/steps/0/items", "array"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": "{{inptu.x}}", "step": {"type": "noop"}})"), "/steps/0/items", "inptu"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": "{{steps.zz.output}}", "step": {"type": "noop"}})"), "/steps/0/items", ""));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "concurrency": 0, "step": {"type": "noop"}})"), "/steps/0/concurrency", ""));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "concurrency": 10001, "step": {"type": "noop"}})"), "/steps/0/concurrency", ""));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "concurrency": "2", "step": {"type": "noop"}})"), "/steps/0/concurrency", ""));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "on_failure": "ignore", "step": {"type": "noop"}})"), "/steps/0/on_failure", "fail_fast or collect"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": []})"), "/steps/0/step", "requires 'step'"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": "noop"})"), "/steps/0/step", "object"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {}})"), "/steps/0/step/type", "requires 'type'"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "delay"}})"), "/steps/0/step/type", "noop, transform, http or workflow"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "http"}})"), "/steps/0/step/request", "requires 'request'"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "http", "request": {"url": "x"}}})"), "/steps/0/step/request/url", "http://"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "transform"}})"), "/steps/0/step/output", "requires 'output'"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "noop", "output": 1}})"), "/steps/0/step/output", ""));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "workflow"}})"), "/steps/0/step/workflow", "requires 'workflow'"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "workflow", "workflow": "a b"}})"), "/steps/0/step/workflow", "1 to 128"));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "workflow", "workflow": "w", "version": 0}})"), "/steps/0/step/version", ""));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "noop"}, "retry": {}})"), "/steps/0/retry", ""));
    CHECK(HasError(c(R"({"id": "m", "type": "map", "items": [], "step": {"type": "noop"}, "timeout_ms": 5})"), "/steps/0/timeout_ms", ""));
    CHECK(HasError(c(R"({"id": "m", "type": "mapp"})"), "/steps/0/type", "map"));
  }

  TEST_CASE("items go at most `concurrency` at a time and the outputs keep the item order") {
    auto def = Def(R"({"steps": [{"id": "m", "type": "map", "items": "{{input.list}}", "concurrency": 2,
                                  "step": {"type": "noop"}},
                                 {"id": "next", "type": "noop", "depends_on": ["m"]}]})");
    Run run;
    run.def = def;
    std::vector<Record> records;
    std::vector<Event> events;
    Effects fx = Machine::Create(run, NewRunId(1, 1000), Parse(R"({"list": [10, 20, 30, 40]})"),
                                 Priority::kDefault, "", 1000, records, &events).effects();
    CHECK(fx.execute.empty());
    CHECK(Items(fx) == std::vector<uint32_t>{0, 1});
    REQUIRE(run.steps[0].map != nullptr);
    CHECK(run.steps[0].map->total() == 4);

    Machine m1(run, 1100, records, &events);
    m1.MapItemSucceeded(0, 1, 1, Value(21));  // out of order
    CHECK(Items(m1.effects()) == std::vector<uint32_t>{2});
    Machine(run, 1150, records, &events).MapItemSucceeded(0, 1, 1, Value(99));  // not in flight: ignored
    Machine(run, 1160, records, &events).MapItemSucceeded(0, 2, 0, Value(99));  // another attempt
    Machine m2(run, 1200, records, &events);
    m2.MapItemSucceeded(0, 1, 0, Value(11));
    CHECK(Items(m2.effects()) == std::vector<uint32_t>{3});
    Machine(run, 1300, records, &events).MapItemSucceeded(0, 1, 3, Value(41));
    CHECK(run.steps[0].status == StepStatus::kRunning);
    Machine last(run, 1400, records, &events);
    last.MapItemSucceeded(0, 1, 2, Value(31));
    CHECK(run.steps[0].status == StepStatus::kSucceeded);
    CHECK(run.steps[0].output == Parse("[11, 21, 31, 41]"));
    CHECK(last.effects().execute == std::vector<uint32_t>{1});  // the dependent starts
    size_t item_events = 0;
    for (const Event& e : events) item_events += e.type == "map.item_succeeded";
    CHECK(item_events == 4);

    // The records alone give the same run back.
    Run replay;
    replay.def = def;
    for (const Record& r : records) {
      auto back = DecodeRecord(EncodeRecord(r, &run));
      REQUIRE(back.has_value());
      Apply(replay, *back, nullptr);
    }
    CHECK(replay.steps[0].output == run.steps[0].output);
    CHECK(replay.steps[0].map->succeeded == 4);
  }

  TEST_CASE("after a restart finished items stay finished and the in-flight ones run again") {
    auto def = Def(R"({"steps": [{"id": "m", "type": "map", "items": [1, 2, 3, 4, 5], "concurrency": 3,
                                  "step": {"type": "noop"}}]})");
    Run run;
    run.def = def;
    std::vector<Record> records;
    Machine::Create(run, NewRunId(1, 1000), Value(), Priority::kDefault, "", 1000, records, nullptr);
    Machine(run, 1100, records, nullptr).MapItemSucceeded(0, 1, 1, Value("b"));  // 0, 2 and 3 in flight

    Run replay;
    replay.def = def;
    for (const Record& r : records) Apply(replay, r, nullptr);
    std::vector<Record> more;
    Machine rec(replay, 1200, more, nullptr);
    rec.Recover();
    CHECK(Items(rec.effects()) == std::vector<uint32_t>{0, 2, 3});  // item 1 is not run again
    CHECK(replay.steps[0].attempts.size() == 1);
    CHECK(more.empty());
    for (uint32_t i : {0u, 2u, 3u}) Machine(replay, 1300, more, nullptr).MapItemSucceeded(0, 1, i, Value(static_cast<int64_t>(i)));
    Machine(replay, 1400, more, nullptr).MapItemSucceeded(0, 1, 4, Value(4));
    CHECK(replay.steps[0].output == Parse(R"([0, "b", 2, 3, 4])"));
  }

  TEST_CASE("fail_fast fails the step at the first failed item; collect runs them all") {
    auto fast = Def(R"({"steps": [{"id": "m", "type": "map", "items": [1, 2, 3], "concurrency": 3,
                                   "step": {"type": "noop"}}]})");
    Run run;
    run.def = fast;
    std::vector<Record> records;
    Machine::Create(run, NewRunId(1, 1000), Value(), Priority::kDefault, "", 1000, records, nullptr);
    Machine(run, 1100, records, nullptr).MapItemFailed(0, 1, 1, "boom");
    CHECK(run.steps[0].status == StepStatus::kFailed);
    CHECK(run.status == RunStatus::kFailed);
    CHECK(run.steps[0].error == "item 1 failed: boom");

    auto coll = Def(R"({"steps": [{"id": "m", "type": "map", "items": [1, 2], "concurrency": 2,
                                   "on_failure": "collect", "step": {"type": "noop"}}]})");
    Run c;
    c.def = coll;
    records.clear();
    Machine::Create(c, NewRunId(1, 1000), Value(), Priority::kDefault, "", 1000, records, nullptr);
    Machine(c, 1100, records, nullptr).MapItemFailed(0, 1, 0, "boom");
    CHECK(c.steps[0].status == StepStatus::kRunning);
    Machine(c, 1200, records, nullptr).MapItemSucceeded(0, 1, 1, Value(2));
    CHECK(c.steps[0].status == StepStatus::kSucceeded);
    CHECK(c.steps[0].output ==
          Parse(R"([{"ok": false, "error": "boom"}, {"ok": true, "output": 2}])"));
    CHECK(RunJson(c).find(R"("map":{"total":2,"succeeded":1,"failed":1,"in_flight":0,"pending":0,)") !=
          std::string::npos);
  }

  TEST_CASE("an empty array succeeds at once; a non-array or too many items fail the step") {
    auto def = Def(R"({"steps": [{"id": "m", "type": "map", "items": "{{input.list}}", "step": {"type": "noop"}},
                                 {"id": "after", "type": "noop", "depends_on": ["m"]}]})");
    auto start = [&](std::string_view input) {
      Run run;
      run.def = def;
      std::vector<Record> records;
      Machine::Create(run, NewRunId(1, 1000), Parse(input), Priority::kDefault, "", 1000, records, nullptr);
      return run;
    };
    Run empty = start(R"({"list": []})");
    CHECK(empty.steps[0].status == StepStatus::kSucceeded);
    CHECK(empty.steps[0].output == Parse("[]"));
    CHECK(empty.steps[1].status == StepStatus::kRunning);  // in the same pass
    Run scalar = start(R"({"list": 5})");
    CHECK(scalar.status == RunStatus::kFailed);
    CHECK(scalar.steps[0].error.starts_with("map_items_not_array"));
    CHECK(scalar.steps[1].status == StepStatus::kCancelled);
    SetMaxMapItems(2);
    Run many = start(R"({"list": [1, 2, 3]})");
    SetMaxMapItems(kDefaultMaxMapItems);
    CHECK(many.status == RunStatus::kFailed);
    CHECK(many.steps[0].error.starts_with("map_too_many_items"));
  }

  TEST_CASE("a workflow item's child key names parent, step, attempt and item") {
    auto def = Def(R"({"steps": [{"id": "m", "type": "map", "items": [1], "step": {"type": "noop"}}]})");
    Run run;
    run.def = def;
    run.id = NewRunId(3, 1000);
    run.id_text = run.id.ToString();
    const std::string key = MapChildKey(run, def->steps[0], 2, 17);
    CHECK(key == "map-item:" + run.id_text + "/m/2/17");
    CHECK(MapItemOfChildKey(key) == 17);
    CHECK(MapItemOfChildKey("workflow-step:x/m/2") == -1);
    CHECK(MapItemOfChildKey("map-item:x/m/2/") == -1);
    CHECK(MapItemOfChildKey("map-item:x/m/2/1a") == -1);
  }
}
