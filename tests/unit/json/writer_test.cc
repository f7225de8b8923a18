#include "json/writer.h"

#include <doctest/doctest.h>

#include <cmath>
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

  TEST_CASE("bytes that are not valid UTF-8 are written as U+FFFD, so the output parses back") {
    // A lone surrogate as a non-JSON source would carry it (CESU-8), a stray byte, an overlong
    // form, a truncated sequence at the end.
    for (std::string bad : {std::string("\xed\xa0\x80"), std::string("a\xff"),
                            std::string("\xc0\xaf"), std::string("x\xe2\x82")}) {
      CAPTURE(bad);
      const std::string text = ToString(Value(Object{{bad, bad}}));
      auto back = Parse(text);
      REQUIRE_MESSAGE(back.has_value(), back.error().ToString());
      CHECK(text.find("\xef\xbf\xbd") != std::string::npos);
      CHECK(StringSize(bad) == ToString(Value(bad)).size());
    }
    CHECK(ToString(Value("a\xff"
                         "b")) ==
          "\"a\xef\xbf\xbd"
          "b\"");
    // Well-formed text is copied as it is.
    CHECK(ToString(Value("\xf0\x9f\x98\x80")) == "\"\xf0\x9f\x98\x80\"");
  }

  TEST_CASE("StringSize and ScalarSize give the exact written length") {
    for (const Value& v :
         {Value(), Value(true), Value(false), Value(0), Value(-1234567), Value(1.5), Value(2.0),
          Value(1e300), Value(std::nan("")), Value("q\"\\\n\x01")}) {
      CAPTURE(ToString(v));
      CHECK(ScalarSize(v) == ToString(v).size());
    }
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
