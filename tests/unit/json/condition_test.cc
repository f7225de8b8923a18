#include "json/condition.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <utility>

#include "json/fake_steps.h"
#include "json/parse.h"

namespace rf::json {
namespace {

using test::FakeSteps;

struct Fixture {
  Fixture() {
    auto parsed = Parse(R"({"amount":250,"rate":0.5,"zero":0,"fzero":0.0,"name":"bob","empty":"",
                            "yes":true,"no":false,"nil":null,"list":[1,2],"none":[],"obj":{"a":1},
                            "blank":{},"one":1.0,"big":"9"})");
    REQUIRE(parsed.has_value());
    input = std::move(*parsed);
    steps.Add("charge", Value(Object{{"code", "ok"}, {"list", Array{1, 2}}}), "succeeded");
    ctx.input = &input;
    ctx.steps = &steps;
    ctx.run_id = "run-1";
    ctx.workflow = "orders";
  }
  bool Eval(std::string_view src) const {
    auto c = Condition::Compile(src);
    REQUIRE_MESSAGE(c.has_value(), c.error().ToString());
    return c->Evaluate(ctx);
  }
  Value input;
  FakeSteps steps;
  Context ctx;
};

std::string CompileError(std::string_view src) {
  auto c = Condition::Compile(src);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().code == Errc::kInvalidArgument);
  return c.error().context;
}

}  // namespace

TEST_SUITE("json.condition") {
  TEST_CASE("&& binds tighter than || and parentheses regroup") {
    Fixture f;
    CHECK(f.Eval("true || false && false"));
    CHECK_FALSE(f.Eval("(true || false) && false"));
    CHECK(f.Eval("false && false || true"));
    CHECK_FALSE(f.Eval("false && (false || true)"));
  }

  TEST_CASE("! applies to a whole comparison and can be repeated") {
    Fixture f;
    CHECK(f.Eval("!input.amount == 1"));  // !(250 == 1)
    CHECK_FALSE(f.Eval("!input.yes"));
    CHECK(f.Eval("!!input.yes"));
    CHECK(f.Eval("!(input.amount > 300) && input.amount != 1"));
  }

  TEST_CASE("every comparison operator orders numbers by value") {
    Fixture f;
    CHECK(f.Eval("input.amount == 250"));
    CHECK(f.Eval("input.amount != 251"));
    CHECK(f.Eval("input.amount > 249.5"));
    CHECK(f.Eval("input.amount >= 250"));
    CHECK(f.Eval("input.amount <= 250.0"));
    CHECK(f.Eval("input.rate < 1"));
    CHECK(f.Eval("-1 < input.zero"));
    CHECK(f.Eval("1e3 > input.amount"));
    CHECK_FALSE(f.Eval("input.amount < 250"));
    CHECK_FALSE(f.Eval("input.amount > 250"));
    CHECK(f.Eval("input.one == 1"));
    CHECK(f.Eval("1 == 1.0"));
  }

  TEST_CASE("strings compare bytewise and take either quote") {
    Fixture f;
    CHECK(f.Eval("input.name == 'bob'"));
    CHECK(f.Eval("input.name == \"bob\""));
    CHECK(f.Eval("input.name < 'bobby'"));
    CHECK(f.Eval("'B' < 'a'"));
    CHECK(f.Eval("input.name >= 'bob' && input.name <= 'bob'"));
    CHECK(f.Eval(R"('it\'s' == "it's" && 'a\\b' == "a\\b" && "q\"" == 'q"')"));
    CHECK(f.Eval(R"('tab\there' != 'tab here')"));
  }

  TEST_CASE("ordering between different types is false for every operator") {
    Fixture f;
    CHECK_FALSE(f.Eval("input.big > 1"));
    CHECK_FALSE(f.Eval("input.big < 1"));
    CHECK_FALSE(f.Eval("input.big >= 1"));
    CHECK_FALSE(f.Eval("input.nil < 1"));
    CHECK_FALSE(f.Eval("input.list > 0"));
    CHECK_FALSE(f.Eval("true > false"));
    CHECK_FALSE(f.Eval("input.big == 9"));
    CHECK(f.Eval("input.big != 9"));
    CHECK_FALSE(f.Eval("input.yes == 1"));
  }

  TEST_CASE("equality is deep between arrays and objects") {
    Fixture f;
    CHECK(f.Eval("input.list == steps.charge.output.list"));
    CHECK(f.Eval("{{ input.obj }} != input.blank"));
    CHECK_FALSE(f.Eval("input.list == input.none"));
  }

  TEST_CASE("a lone operand is false only for null, false, 0, empty string, [] and {}") {
    Fixture f;
    for (const char* falsy : {"input.nil", "input.no", "input.zero", "input.fzero", "input.empty",
                              "input.none", "input.blank", "input.missing", "null", "0", "''"}) {
      CHECK_MESSAGE(!f.Eval(falsy), falsy);
    }
    for (const char* truthy :
         {"input.yes", "input.amount", "input.rate", "input.name", "input.list", "input.obj", "'0'",
          "-1", "steps.charge.status", "run.id"}) {
      CHECK_MESSAGE(f.Eval(truthy), truthy);
    }
  }

  TEST_CASE("a missing reference reads as null") {
    Fixture f;
    CHECK(f.Eval("input.missing == null"));
    CHECK(f.Eval("input.nil == input.missing"));
    CHECK_FALSE(f.Eval("input.missing == 0"));
    CHECK_FALSE(f.Eval("steps.ghost.output.x > 0"));
    CHECK(f.Eval("steps.ghost.status == null"));
    CHECK_FALSE(Condition::Compile("input.amount > 1")->Evaluate(Context{}));
  }

  TEST_CASE("braced and bare references read the same data") {
    Fixture f;
    CHECK(f.Eval("{{ steps.charge.output.code }} == 'ok' && steps.charge.output.code == 'ok'"));
    CHECK(f.Eval("steps.charge.status == 'succeeded'"));
    CHECK(f.Eval("{{steps.charge.status}} > 'a'"));
    CHECK(f.Eval("run.workflow == 'orders' && {{run.id}} == \"run-1\""));
    CHECK(f.Eval("input.list[1] == 2 && input.list.0 == 1"));
  }

  TEST_CASE("a parenthesized operand keeps its value and a parenthesized test is a boolean") {
    Fixture f;
    CHECK(f.Eval("(input.amount) > 100"));
    CHECK(f.Eval("((input.name)) == 'bob'"));
    CHECK(f.Eval("(input.amount > 100) == true"));
    CHECK(f.Eval("(input.amount > 1000) == (input.amount < 0)"));
    CHECK(f.Eval("(!input.yes) == false"));
  }

  TEST_CASE("refs lists every reference in source order") {
    auto c = Condition::Compile("input.a > 1 || {{steps.pay.status}} == 'failed' || run.id");
    REQUIRE(c.has_value());
    REQUIRE(c->refs().size() == 3);
    CHECK(c->refs()[0] == Ref{RefKind::kInput, "", {"a"}});
    CHECK(c->refs()[1] == Ref{RefKind::kStepStatus, "pay", {}});
    CHECK(c->refs()[2].kind == RefKind::kRunId);
  }

  TEST_CASE("a default condition is always true and has no references") {
    const Condition c;
    CHECK(c.Evaluate(Context{}));
    CHECK(c.refs().empty());
  }

  TEST_CASE("long chains of && and || do not nest") {
    Fixture f;
    std::string any = "input.zero";
    std::string all = "input.yes";
    for (int i = 0; i < 250; ++i) {
      any += " || input.zero";
      all += " && input.yes";
    }
    CHECK_FALSE(f.Eval(any));
    CHECK(f.Eval(any + " || 1"));
    CHECK(f.Eval(all));
    CHECK_FALSE(f.Eval(all + " && 0"));
  }

  TEST_CASE("compile errors give the byte offset and what was expected") {
    const std::string value =
        "expected a value (number, string, true, false, null, reference or '(')";
    CHECK(CompileError("") == "invalid condition at byte 0: " + value);
    CHECK(CompileError("input.a ==") == "invalid condition at byte 10: " + value);
    CHECK(CompileError("input.a == )") == "invalid condition at byte 11: " + value);
    CHECK(CompileError("(input.a") ==
          "invalid condition at byte 8: expected ')' to close the '(' at byte 0");
    CHECK(CompileError("(input.a 1)") ==
          "invalid condition at byte 9: expected an operator or ')' to close the '(' at byte 0");
    CHECK(CompileError("input.a)") == "invalid condition at byte 7: unmatched ')'");
    CHECK(CompileError("input.a = 1") ==
          "invalid condition at byte 8: expected '==' ('=' alone is not an operator)");
    CHECK(CompileError("true & false") == "invalid condition at byte 5: expected '&&'");
    CHECK(CompileError("true | false") == "invalid condition at byte 5: expected '||'");
    CHECK(CompileError("input.a 'b'") ==
          "invalid condition at byte 8: expected an operator or the end of the condition");
    CHECK(CompileError("1 < input.a < 3") ==
          "invalid condition at byte 12: comparisons do not chain; join them with '&&'");
  }

  TEST_CASE("bad literals and references are reported where they start") {
    CHECK(CompileError("input.a == 'abc") == "invalid condition at byte 11: unterminated string");
    CHECK(CompileError(R"(input.a == 'a\qb')") ==
          R"(invalid condition at byte 13: unknown escape (expected \\, \', \", \n or \t))");
    CHECK(CompileError("12abc > 1") == "invalid condition at byte 0: invalid number");
    CHECK(CompileError("1. > 1") == "invalid condition at byte 0: invalid number");
    CHECK(CompileError("1e999 > 1") == "invalid condition at byte 0: number out of range");
    CHECK(CompileError("x == 1 && inptu.amount > 1") ==
          "invalid condition at byte 0: unknown template root 'x' (expected input, steps, run)");
    CHECK(
        CompileError("input.a > 1 && inptu.amount > 1") ==
        "invalid condition at byte 15: unknown template root 'inptu' (expected input, steps, run)");
    CHECK(CompileError("input.a > {{ input.b ") ==
          "invalid condition at byte 10: unterminated '{{'");
    CHECK(
        CompileError("{{ steps.x }}") ==
        "invalid condition at byte 0: 'steps.x' needs a step id and a field: steps.<id>.output or "
        "steps.<id>.status");
  }

  TEST_CASE("source length and nesting depth are bounded") {
    CHECK(CompileError(std::string(Condition::kMaxLength + 1, ' ')) ==
          "condition of 4097 bytes is longer than 4096");
    CHECK(Condition::Compile(std::string(32, '(') + "true" + std::string(32, ')')).has_value());
    CHECK(CompileError(std::string(33, '(') + "true" + std::string(33, ')')) ==
          "invalid condition at byte 32: nesting deeper than 32");
    CHECK(Condition::Compile(std::string(32, '!') + "true").has_value());
    CHECK(CompileError(std::string(33, '!') + "true") ==
          "invalid condition at byte 32: nesting deeper than 32");
    CHECK(CompileError(std::string(20, '!') + std::string(20, '(') + "1" + std::string(20, ')')) ==
          "invalid condition at byte 32: nesting deeper than 32");
  }
}

}  // namespace rf::json
