#include "json/writer.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "json/parse.h"

namespace rf::json {

TEST_SUITE("json.writer") {
  TEST_CASE("scalars are written compactly") {
    CHECK(ToString(Value()) == "null");
    CHECK(ToString(Value(true)) == "true");
    CHECK(ToString(Value(false)) == "false");
    CHECK(ToString(Value(0)) == "0");
    CHECK(ToString(Value(std::numeric_limits<int64_t>::min())) == "-9223372036854775808");
    CHECK(ToString(Value("hi")) == "\"hi\"");
  }

  TEST_CASE("quotes and backslashes are escaped and control characters become \\u00XX") {
    CHECK(ToString(Value("a\"b\\c")) == R"("a\"b\\c")");
    CHECK(ToString(Value(std::string("\n\t\x01\x1f", 4))) == R"("\u000a\u0009\u0001\u001f")");
    CHECK(ToString(Value(std::string(1, '\0'))) == R"("\u0000")");
    CHECK(ToString(Value("\xc3\xa9 \x7f /")) == "\"\xc3\xa9 \x7f /\"");
  }

  TEST_CASE("doubles use the shortest text that reads back as the same double") {
    CHECK(ToString(Value(0.1)) == "0.1");
    CHECK(ToString(Value(1.5)) == "1.5");
    CHECK(ToString(Value(1e300)) == "1e+300");
    CHECK(ToString(Value(5e-324)) == "5e-324");
    CHECK(ToString(Value(2.0)) == "2.0");
    CHECK(ToString(Value(-0.0)) == "-0.0");
    for (double d : {0.1, 1.0 / 3, 123456789.125, 1e21, 2.2250738585072014e-308, -7.0}) {
      auto back = Parse(ToString(Value(d)));
      REQUIRE(back.has_value());
      CHECK(back->type() == Type::kDouble);
      CHECK(back->as_double() == d);
    }
  }

  TEST_CASE("NaN and infinities are written as null") {
    CHECK(ToString(Value(std::numeric_limits<double>::quiet_NaN())) == "null");
    CHECK(ToString(Value(std::numeric_limits<double>::infinity())) == "null");
    CHECK(ToString(Value(Array{-std::numeric_limits<double>::infinity()})) == "[null]");
  }

  TEST_CASE("containers keep member order and empty ones are written as [] and {}") {
    Value v;
    v.Set("z", 1);
    v.Set("a", Array{Value(), Value(Array{}), Value(Object{})});
    v.Set("m", Object{{"k", "v"}});
    CHECK(ToString(v) == R"({"z":1,"a":[null,[],{}],"m":{"k":"v"}})");
    CHECK(ToString(Value(Object{{"a\"b", 1}})) == R"({"a\"b":1})");
  }

  TEST_CASE("Write appends to what the buffer already holds") {
    Buffer out;
    out.Append("data: ");
    Write(Value(Array{1, "x"}), out);
    WriteString("tail\n", out);
    CHECK(out.view() == R"(data: [1,"x"]"tail\u000a")");
  }
}

}  // namespace rf::json
