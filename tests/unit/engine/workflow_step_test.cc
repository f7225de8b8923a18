// Workflow steps (a child run of another workflow): the definition's fields, the records that
// link parent and child, and the state machine's waiting and recovery.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "compile_helpers.h"
#include "engine/definition.h"
#include "engine/machine.h"
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

}  // namespace

TEST_SUITE("engine.workflow_step") {
  TEST_CASE("a workflow step compiles with its name, version and input template") {
    Compiled c = CompileDefinition("", Wf(R"({"id": "a", "type": "noop"},
        {"id": "call", "type": "workflow", "workflow": "child.v2_x-y", "version": 3,
         "depends_on": ["a"], "input": {"n": "{{steps.a.output.n}}", "k": [1, "{{input.k}}"]}})"));
    INFO(Dump(c));
    REQUIRE(c.def != nullptr);
    const Step* s = c.def->FindStep("call");
    REQUIRE(s != nullptr);
    CHECK(s->type == StepType::kWorkflow);
    CHECK(StepTypeName(s->type) == "workflow");
    CHECK(s->workflow == "child.v2_x-y");
    CHECK(s->workflow_version == 3);
    REQUIRE(s->input.has_value());

    Compiled bare = CompileDefinition("", Wf(R"({"id": "call", "type": "workflow", "workflow": "c"})"));
    REQUIRE(bare.def != nullptr);
    CHECK(bare.def->steps[0].workflow_version == 0);  // the latest when the step starts
    CHECK_FALSE(bare.def->steps[0].input.has_value());
  }

  TEST_CASE("bad workflow steps are reported at their field") {
    auto c = [](std::string_view step) { return CompileDefinition("", Wf(step)); };
    CHECK(HasError(c(R"({"id": "c", "type": "workflow"})"), "/steps/0/workflow", "requires 'workflow'"));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": 1})"), "/steps/0/workflow", "string"));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": ""})"), "/steps/0/workflow", "1 to 128"));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": "a/b"})"), "/steps/0/workflow", "1 to 128"));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": ")" +
                     std::string(129, 'x') + "\"}"),
                   "/steps/0/workflow", "1 to 128"));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": "w", "version": 0})"), "/steps/0/version", ""));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": "w", "version": -2})"), "/steps/0/version", ""));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": "w", "version": "1"})"), "/steps/0/version", ""));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": "w", "input": "{{steps.x.output}}"})"),
                   "/steps/0/input", ""));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": "w", "input": "{{secrets.T}}"})"),
                   "/steps/0/input", "may be used only"));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": "w", "retry": {}})"), "/steps/0/retry", ""));
    CHECK(HasError(c(R"({"id": "c", "type": "workflow", "workflow": "w", "timeout_ms": 5})"), "/steps/0/timeout_ms", ""));
    CHECK(HasError(c(R"({"id": "c", "type": "workflw"})"), "/steps/0/type", "workflow"));
    // The workflow field belongs to workflow steps only.
    CHECK(HasError(c(R"({"id": "c", "type": "noop", "workflow": "w"})"), "/steps/0/workflow", ""));
  }

  TEST_CASE("the parent link and the child id survive the record encoding") {
    Record r;
    r.type = RecordType::kRunCreated;
    r.run = NewRunId(5, 1'700'000'000'000);
    r.at_ms = 1'700'000'000'000;
    r.workflow = "child";
    r.version = 2;
    r.parent.run = NewRunId(5, 1'699'999'999'000);
    r.parent.run_text = r.parent.run.ToString();
    r.parent.step = "call";
    r.parent.attempt = 3;
    r.parent.depth = 4;
    auto back = DecodeRecord(EncodeRecord(r, nullptr));
    REQUIRE_MESSAGE(back.has_value(), back.error().ToString());
    CHECK(back->parent.valid());
    CHECK(back->parent.run == r.parent.run);
    CHECK(back->parent.run_text == r.parent.run_text);
    CHECK(back->parent.step == "call");
    CHECK(back->parent.attempt == 3);
    CHECK(back->parent.depth == 4);

    Record top = r;
    top.parent = {};
    auto plain = DecodeRecord(EncodeRecord(top, nullptr));
    REQUIRE(plain.has_value());
    CHECK_FALSE(plain->parent.valid());

    // A damaged link quarantines (kCorrupt), it is never read as another run's.
    std::string bad = EncodeRecord(r, nullptr);
    bad.replace(bad.find("\"attempt\":3"), 11, "\"attempt\":\"x\"");
    CHECK_FALSE(DecodeRecord(bad).has_value());
  }

  TEST_CASE("the step waits for its child, takes its output and is executed again after a restart") {
    auto def = Def(R"({"steps": [{"id": "call", "type": "workflow", "workflow": "c"},
                                 {"id": "next", "type": "noop", "depends_on": ["call"]}]})");
    Run run;
    run.def = def;
    std::vector<Record> records;
    std::vector<Event> events;
    Effects fx = Machine::Create(run, NewRunId(1, 1000), Value(rf::json::Object{}), Priority::kDefault,
                                 "", 1000, records, &events).effects();
    REQUIRE(fx.execute == std::vector<uint32_t>{0});
    CHECK(run.steps[0].status == StepStatus::kRunning);

    Machine m(run, 1100, records, &events);
    m.ChildStarted(0, 1, "child-id");
    CHECK(run.steps[0].status == StepStatus::kWaiting);
    CHECK(run.steps[0].child_run == "child-id");
    CHECK(run.status == RunStatus::kWaiting);
    bool named = false;
    for (const Event& e : events)
      named = named || (e.type == "step.waiting" && e.data == Value(rf::json::Object{{"child_run_id", "child-id"}}));
    CHECK(named);
    CHECK(RunJson(run).find("\"child_run_id\":\"child-id\"") != std::string::npos);

    // A stale attempt is ignored.
    Machine(run, 1150, records, &events).ChildStarted(0, 2, "other");
    CHECK(run.steps[0].child_run == "child-id");

    // Replayed, the waiting step is executed again as the same attempt (no new attempt, so
    // the child's idempotency key is the same).
    Run replay;
    replay.def = def;
    for (const Record& r : records) Apply(replay, r, nullptr);
    std::vector<Record> more;
    Machine rec(replay, 1200, more, nullptr);
    rec.Recover();
    CHECK(rec.effects().execute == std::vector<uint32_t>{0});
    CHECK(replay.steps[0].attempts.size() == 1);
    CHECK(replay.steps[0].child_run == "child-id");
    CHECK(more.empty());

    Machine done(run, 1300, records, &events);
    done.StepSucceeded(0, 1, Value(7));
    CHECK(run.steps[0].status == StepStatus::kSucceeded);
    CHECK(run.steps[0].output == Value(7));
    CHECK(done.effects().execute == std::vector<uint32_t>{1});
  }

  TEST_CASE("a child's failure is final for the step and fails the run") {
    auto def = Def(R"({"steps": [{"id": "call", "type": "workflow", "workflow": "c"}]})");
    Run run;
    run.def = def;
    std::vector<Record> records;
    Machine::Create(run, NewRunId(1, 1000), Value(rf::json::Object{}), Priority::kDefault, "", 1000,
                    records, nullptr);
    Machine(run, 1100, records, nullptr).ChildStarted(0, 1, "kid");
    Machine(run, 1200, records, nullptr).StepFailed(0, 1, "child run kid failed: boom", false, 0.5);
    CHECK(run.status == RunStatus::kFailed);
    CHECK(run.steps[0].status == StepStatus::kFailed);
    CHECK(run.failed_step == "call");
  }
}
