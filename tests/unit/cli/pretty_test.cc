#include <doctest/doctest.h>

#include "cli/pretty.h"
#include "json/parse.h"

namespace rf::cli {

TEST_SUITE("cli.pretty") {
  TEST_CASE("one member or element per line, two spaces a level, empty containers inline") {
    auto v = json::Parse(R"({"a":1,"b":[true,null,"x\n"],"c":{},"d":[],"e":{"f":2.0}})");
    REQUIRE(v.has_value());
    CHECK(Pretty(*v) ==
          "{\n"
          "  \"a\": 1,\n"
          "  \"b\": [\n"
          "    true,\n"
          "    null,\n"
          "    \"x\\u000a\"\n"
          "  ],\n"
          "  \"c\": {},\n"
          "  \"d\": [],\n"
          "  \"e\": {\n"
          "    \"f\": 2.0\n"
          "  }\n"
          "}\n");
  }

  TEST_CASE("the text parses back to the same value") {
    auto v = json::Parse(R"([{"k":"\u00e9\"q"},[[1]],-0.5,"\u0001"])");
    REQUIRE(v.has_value());
    auto back = json::Parse(Pretty(*v));
    REQUIRE(back.has_value());
    CHECK(*back == *v);
  }

  TEST_CASE("a scalar is one line") { CHECK(Pretty(json::Value("s")) == "\"s\"\n"); }
}

}  // namespace rf::cli
