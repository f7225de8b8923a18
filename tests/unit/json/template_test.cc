#include "json/template.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <utility>

#include "json/fake_steps.h"
#include "json/parse.h"

namespace rf::json {
namespace {

Value J(std::string_view text) {
  auto v = Parse(text);
  REQUIRE_MESSAGE(v.has_value(), v.error().ToString());
  return std::move(*v);
}

Template MustCompile(const Value& source) {
  auto t = Template::Compile(source);
  REQUIRE_MESSAGE(t.has_value(), t.error().ToString());
  return std::move(*t);
}

std::string CompileError(const Value& source) {
  auto t = Template::Compile(source);
  REQUIRE_FALSE(t.has_value());
  CHECK(t.error().code == Errc::kInvalidArgument);
  return t.error().context;
}

using test::FakeSteps;

struct Fixture {
  Fixture() {
    input = J(R"({"order":{"id":"o-7","total":12.5,"qty":3,"tags":["a","b"],"gift":false,
                  "none":null,"0":"zero-key"},"items":[{"sku":"A1"},{"sku":"B2"}]})");
    steps.Add("reserve", J(R"({"status":201,"body":{"id":"res-9","lines":[1,2]}})"), "succeeded");
    steps.Add("notify", Value(), "pending");
    ctx.input = &input;
    ctx.steps = &steps;
    ctx.run_id = "run-42";
    ctx.workflow = "orders";
  }
  Value input;
  FakeSteps steps;
  Context ctx;
};

Value Eval(const Value& source, const Context& ctx) { return MustCompile(source).Evaluate(ctx); }

}  // namespace

TEST_SUITE("json.template") {
  TEST_CASE("a template without references is constant and evaluates to its source") {
    const Value source = J(R"({"a":[1,"two",{"b":null}],"c":"}} {not a ref}"})");
    const Template t = MustCompile(source);
    CHECK(t.constant());
    CHECK(t.refs().empty());
    CHECK(t.Evaluate(Context{}) == source);
    CHECK(Template().Evaluate(Context{}).is_null());
  }

  TEST_CASE("a string that is exactly one reference yields the value with its JSON type") {
    Fixture f;
    CHECK(Eval("{{input.order}}", f.ctx) == *f.input.Find("order"));
    CHECK(Eval("{{ input.order.qty }}", f.ctx).as_int() == 3);
    CHECK(Eval("{{input.order.total}}", f.ctx).as_double() == 12.5);
    CHECK(Eval("{{input.order.gift}}", f.ctx) == Value(false));
    CHECK(Eval("{{input.order.tags}}", f.ctx) == J(R"(["a","b"])"));
    CHECK(Eval("{{input}}", f.ctx) == f.input);
  }

  TEST_CASE("text around references is interpolated with non-strings as compact JSON") {
    Fixture f;
    CHECK(Eval("order {{input.order.id}} x{{input.order.qty}}", f.ctx) == Value("order o-7 x3"));
    CHECK(Eval("{{input.order.total}}/{{input.order.gift}}/{{input.order.none}}", f.ctx) ==
          Value("12.5/false/null"));
    CHECK(Eval("tags={{input.order.tags}}", f.ctx) == Value(R"(tags=["a","b"])"));
    CHECK(Eval("{{input.order.id}}{{input.order.id}}", f.ctx) == Value("o-7o-7"));
  }

  TEST_CASE("array indexes work with dots and with brackets") {
    Fixture f;
    CHECK(Eval("{{input.items.1.sku}}", f.ctx) == Value("B2"));
    CHECK(Eval("{{input.items[1].sku}}", f.ctx) == Value("B2"));
    CHECK(Eval("{{ input.items[0] }}", f.ctx) == J(R"({"sku":"A1"})"));
    CHECK(Eval("{{steps.reserve.output.body.lines[1]}}", f.ctx).as_int() == 2);
    // On an object a numeric segment is a key.
    CHECK(Eval("{{input.order.0}}", f.ctx) == Value("zero-key"));
    CHECK(Eval("{{input.items.2.sku}}", f.ctx).is_null());
    CHECK(Eval("{{input.items.01}}", f.ctx).is_null());
  }

  TEST_CASE("a missing reference is null as a whole value and nothing inside text") {
    Fixture f;
    CHECK(Eval("{{input.order.nope}}", f.ctx).is_null());
    CHECK(Eval("{{input.order.id.deeper}}", f.ctx).is_null());
    CHECK(Eval("[{{input.order.nope}}]", f.ctx) == Value("[]"));
    CHECK(Eval("{{steps.ghost.output}}", f.ctx).is_null());
    CHECK(Eval("{{steps.ghost.status}}", f.ctx).is_null());
    // A context without input or steps reads everything as missing.
    CHECK(Eval(J(R"({"a":"{{input.x}}","b":"{{steps.s.output}}","c":"{{run.id}}"})"), Context{}) ==
          J(R"({"a":null,"b":null,"c":null})"));
  }

  TEST_CASE("step outputs, step statuses and run fields are readable") {
    Fixture f;
    CHECK(Eval("{{steps.reserve.output.body.id}}", f.ctx) == Value("res-9"));
    CHECK(Eval("{{steps.reserve.output.status}}", f.ctx).as_int() == 201);
    CHECK(Eval("{{steps.reserve.status}}", f.ctx) == Value("succeeded"));
    CHECK(Eval("{{ steps.notify.status }}", f.ctx) == Value("pending"));
    CHECK(Eval("{{steps.notify.output}}", f.ctx).is_null());
    CHECK(Eval("{{run.workflow}}/{{run.id}}", f.ctx) == Value("orders/run-42"));
    CHECK(Eval("{{run.id}}", f.ctx) == Value("run-42"));
  }

  TEST_CASE("nested sources replace only their templated strings and keys stay literal") {
    Fixture f;
    const Value source = J(R"({"url":"/orders/{{input.order.id}}","{{input.x}}":"key",)"
                           R"("body":{"lines":["{{steps.reserve.output.body.lines}}",7],)"
                           R"("fixed":[1,2]}})");
    const Template t = MustCompile(source);
    CHECK_FALSE(t.constant());
    CHECK(
        t.Evaluate(f.ctx) ==
        J(R"({"url":"/orders/o-7","{{input.x}}":"key","body":{"lines":[[1,2],7],"fixed":[1,2]}})"));
    // Member order follows the source.
    CHECK(t.Evaluate(f.ctx).as_object()[1].first == "{{input.x}}");
  }

  TEST_CASE("one compiled template serves many contexts") {
    const Template t = MustCompile(J(R"({"id":"{{input.id}}","msg":"hi {{input.id}}"})"));
    for (int i = 0; i < 3; ++i) {
      const Value input = J("{\"id\":" + std::to_string(i) + "}");
      Context ctx;
      ctx.input = &input;
      CHECK(t.Evaluate(ctx) ==
            J("{\"id\":" + std::to_string(i) + ",\"msg\":\"hi " + std::to_string(i) + "\"}"));
    }
  }

  TEST_CASE("refs lists every reference in source order") {
    const Template t = MustCompile(J(R"({"a":"{{input.a}} {{steps.pay.status}}",)"
                                     R"("b":["{{steps.pay.output.x[2].y}}","{{run.id}}"]})"));
    REQUIRE(t.refs().size() == 4);
    CHECK(t.refs()[0] == Ref{RefKind::kInput, "", {"a"}});
    CHECK(t.refs()[1] == Ref{RefKind::kStepStatus, "pay", {}});
    CHECK(t.refs()[2] == Ref{RefKind::kStepOutput, "pay", {"x", "2", "y"}});
    CHECK(t.refs()[3].kind == RefKind::kRunId);
    CHECK(FormatRef(t.refs()[2]) == "steps.pay.output.x.2.y");
    CHECK(FormatRef(t.refs()[1]) == "steps.pay.status");
  }

  TEST_CASE("compile errors start with the JSON pointer of the bad string") {
    CHECK(CompileError(J(R"({"body":{"order":"{{ inptu.order }}"}})")) ==
          "/body/order: unknown template root 'inptu' (expected input, steps, run)");
    CHECK(CompileError(J(R"({"items":["ok","{{input.a}} {{run.nope}}"]})")) ==
          "/items/1: unknown run field 'nope' (expected run.id or run.workflow)");
    CHECK(CompileError(J(R"({"a/b":{"c~d":"{{input"}})")) ==
          "/a~1b/c~0d: unterminated '{{' at offset 0");
    CHECK(CompileError("{{}}") == "empty reference");
  }

  TEST_CASE("malformed reference expressions are rejected with a reason") {
    CHECK(CompileError("{{ steps.reserve }}") ==
          "'steps.reserve' needs a step id and a field: steps.<id>.output or steps.<id>.status");
    CHECK(CompileError("{{steps.reserve.result}}") ==
          "unknown step field 'result' (expected output or status)");
    CHECK(CompileError("{{steps.reserve.status.code}}") ==
          "a step status is a string and has no fields");
    CHECK(CompileError("{{run}}") == "unknown run field '' (expected run.id or run.workflow)");
    CHECK(CompileError("{{run.id.x}}") == "run.id is a string and has no fields");
    CHECK(CompileError("{{input..a}}") == "expected a name at offset 6 in 'input..a'");
    CHECK(CompileError("{{input.a.}}") == "expected a name at offset 8 in 'input.a.'");
    CHECK(CompileError("{{input.a b}}") == "unexpected character ' ' in 'input.a b'");
    CHECK(CompileError("{{input.items[x]}}") ==
          "expected an array index inside '[ ]' in 'input.items[x]'");
    CHECK(CompileError("{{input.items[0}}") == "unterminated '[' in 'input.items[0'");
    CHECK(CompileError("{{$input}}") == "unexpected character '$' in '$input'");
  }

  TEST_CASE("ParseRef accepts both index syntaxes and surrounding whitespace") {
    auto a = ParseRef("  input.items[0].sku\t");
    auto b = ParseRef("input.items.0.sku");
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(*a == *b);
    CHECK(a->path == std::vector<std::string>{"items", "0", "sku"});
    auto w = ParseRef("run.workflow");
    REQUIRE(w.has_value());
    CHECK(w->kind == RefKind::kRunWorkflow);
    CHECK_FALSE(ParseRef("").has_value());
  }

  TEST_CASE("EvaluateString renders string templates as text") {
    Fixture f;
    CHECK(MustCompile("https://api/x/{{input.order.id}}?q={{input.order.qty}}")
              .EvaluateString(f.ctx) == "https://api/x/o-7?q=3");
    CHECK(MustCompile("{{input.order.qty}}").EvaluateString(f.ctx) == "3");
    CHECK(MustCompile("{{input.order.tags}}").EvaluateString(f.ctx) == R"(["a","b"])");
    CHECK(MustCompile("{{input.order.id}}").EvaluateString(f.ctx) == "o-7");
    CHECK(MustCompile("{{input.nope}}").EvaluateString(f.ctx).empty());
    CHECK(MustCompile("plain").EvaluateString(f.ctx) == "plain");
    CHECK(MustCompile(J(R"({"id":"{{input.order.id}}"})")).EvaluateString(f.ctx) ==
          R"({"id":"o-7"})");
    CHECK(MustCompile(Value(5)).EvaluateString(f.ctx) == "5");
  }
  TEST_CASE("secrets.NAME is read only through the context's SecretReader, once per use") {
    struct Reader : SecretReader {
      std::map<std::string, std::string, std::less<>> values{{"TOKEN", "s3cr3t"}};
      std::vector<std::string> asked;
      const std::string* Read(std::string_view name) override {
        asked.emplace_back(name);
        auto it = values.find(name);
        return it == values.end() ? nullptr : &it->second;
      }
    } reader;
    auto ref = ParseRef("secrets.TOKEN");
    REQUIRE(ref.has_value());
    CHECK(ref->kind == RefKind::kSecret);
    CHECK(ref->path == std::vector<std::string>{"TOKEN"});
    CHECK(FormatRef(*ref) == "secrets.TOKEN");
    CHECK(ParseRef("secrets").error().context.find("secrets.NAME") != std::string::npos);
    CHECK(ParseRef("secrets.A.b").error().context.find("no fields") != std::string::npos);
    Fixture f;
    Template t = MustCompile(J(R"({"auth":"Bearer {{secrets.TOKEN}}","raw":"{{secrets.TOKEN}}","x":"{{secrets.NOPE}}"})"));
    CHECK(t.Evaluate(f.ctx) == J(R"({"auth":"Bearer ","raw":null,"x":null})"));  // no reader: missing
    f.ctx.secrets = &reader;
    CHECK(t.Evaluate(f.ctx) == J(R"({"auth":"Bearer s3cr3t","raw":"s3cr3t","x":null})"));
    CHECK(reader.asked == std::vector<std::string>{"TOKEN", "TOKEN", "NOPE"});
  }
}

}  // namespace rf::json
