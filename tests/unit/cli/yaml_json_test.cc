#include <doctest/doctest.h>

#include <string>

#include "cli/yaml_json.h"
#include "json/parse.h"
#include "json/writer.h"

namespace rf::cli {
namespace {

std::string Json(std::string_view yaml) {
  auto v = YamlToJson(yaml);
  REQUIRE_MESSAGE(v.has_value(), (v ? "" : v.error().context));
  return json::ToString(*v);
}

std::string ErrorOf(std::string_view yaml) {
  auto v = YamlToJson(yaml);
  REQUIRE_FALSE(v.has_value());
  CHECK(v.error().code == Errc::kInvalidArgument);
  return v.error().context;
}

}  // namespace

TEST_SUITE("cli.yaml_json") {
  TEST_CASE("plain scalars follow the core schema, quoted ones stay strings") {
    CHECK(Json("a: 1\nb: -2\nc: 0x1f\nd: 0o17\ne: 1.5\nf: 1e3\ng: true\nh: False\ni: ~\nj: null\nk:\n") ==
          R"({"a":1,"b":-2,"c":31,"d":15,"e":1.5,"f":1000.0,"g":true,"h":false,"i":null,"j":null,"k":null})");
    CHECK(Json("a: '1'\nb: \"true\"\nc: yes\nd: on\ne: 1.2.3\nf: !!str 12\ng: !!float 2\n") ==
          R"({"a":"1","b":"true","c":"yes","d":"on","e":"1.2.3","f":"12","g":2.0})");
  }

  TEST_CASE("integers beyond int64 become doubles") {
    CHECK(Json("n: 9223372036854775807\nm: -9223372036854775808\no: 99999999999999999999\n") ==
          R"({"n":9223372036854775807,"m":-9223372036854775808,"o":1e+20})");
  }

  TEST_CASE("block and flow collections nest, keys keep their order") {
    CHECK(Json("steps:\n  - id: a\n    depends_on: [x, y]\n  - {id: b, ms: 5}\nz: {}\nw: []\n") ==
          R"({"steps":[{"id":"a","depends_on":["x","y"]},{"id":"b","ms":5}],"z":{},"w":[]})");
  }

  TEST_CASE("block scalars keep their text") {
    CHECK(Json("a: |\n  one\n  two\nb: >\n  one\n  two\n") == R"({"a":"one\u000atwo\u000a","b":"one two\u000a"})");
  }

  TEST_CASE("anchors and aliases are expanded, also as keys") {
    CHECK(Json("r: &r {n: 1}\ns: *r\nk: &k key\n*k : v\n") == R"({"r":{"n":1},"s":{"n":1},"k":"key","key":"v"})");
  }

  TEST_CASE("errors name the line and column") {
    CHECK(ErrorOf("a: [1, 2\n").starts_with("line 2"));
    CHECK(ErrorOf("a: 1\na: 2\n") == "line 2, column 1: key 'a' appears twice in this mapping");
    CHECK(ErrorOf("? [a]\n: 1\n").find("mapping keys must be scalars") != std::string::npos);
    CHECK(ErrorOf("a: *nope\n").find("unknown alias *nope") != std::string::npos);
    CHECK(ErrorOf("a: .inf\n").find("no JSON form") != std::string::npos);
    CHECK(ErrorOf("a: !!int x\n").find("not a valid !!int") != std::string::npos);
    CHECK(ErrorOf("a: !thing 1\n").find("unsupported tag !thing") != std::string::npos);
    CHECK(ErrorOf("--- 1\n--- 2\n").find("more than one document") != std::string::npos);
    CHECK(ErrorOf("# only a comment\n") == "the file holds no YAML document");
  }

  TEST_CASE("an alias bomb stops at the value budget") {
    std::string doc = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 9; ++i) {
      doc += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
      for (int j = 0; j < 10; ++j) doc += (j ? ", *a" : "*a") + std::to_string(i - 1);
      doc += "]\n";
    }
    CHECK(ErrorOf(doc).find("more than 1000000 values") != std::string::npos);
  }

  TEST_CASE("nesting is bounded") {
    std::string deep(kMaxYamlDepth + 1, '[');
    CHECK(ErrorOf(deep).find("nested deeper than") != std::string::npos);
  }

  TEST_CASE("what YamlToJson gives, the JSON parser reads back the same") {
    auto v = YamlToJson("a: [1, 2.5, 'x', {b: null}]\n");
    REQUIRE(v.has_value());
    auto back = json::Parse(json::ToString(*v));
    REQUIRE(back.has_value());
    CHECK(*back == *v);
  }
}

}  // namespace rf::cli
