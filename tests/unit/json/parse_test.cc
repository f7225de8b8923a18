#include "json/parse.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "json/writer.h"

namespace rf::json {
namespace {

Value MustParse(std::string_view text) {
  auto v = Parse(text);
  REQUIRE_MESSAGE(v.has_value(), v.error().ToString());
  return std::move(*v);
}

std::string ParseError(std::string_view text, const ParseLimits& limits = {}) {
  auto v = Parse(text, limits);
  REQUIRE_FALSE(v.has_value());
  // Nesting has its own code, so callers can tell "too deep" from "not JSON".
  const bool deep = v.error().context.starts_with("JSON nesting deeper");
  CHECK(v.error().code == (deep ? Errc::kTooDeep : Errc::kInvalidArgument));
  return v.error().context;
}

std::string Nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

TEST_SUITE("json.parse") {
  TEST_CASE("scalars and containers become values of the matching type") {
    const Value v =
        MustParse(R"({"n":null,"t":true,"f":false,"i":-7,"d":2.5,"s":"x","a":[1],"o":{}})");
    REQUIRE(v.is_object());
    CHECK(v.Find("n")->is_null());
    CHECK(v.Find("t")->as_bool());
    CHECK_FALSE(v.Find("f")->as_bool());
    CHECK(v.Find("i")->as_int() == -7);
    CHECK(v.Find("d")->as_double() == 2.5);
    CHECK(v.Find("s")->as_string() == "x");
    CHECK(v.Find("a")->as_array().size() == 1);
    CHECK(v.Find("o")->as_object().empty());
    // Member order is the document's.
    CHECK(v.as_object().front().first == "n");
    CHECK(v.as_object().back().first == "o");
  }

  TEST_CASE("integers that fit int64 are integers and every other number is a double") {
    CHECK(MustParse("9223372036854775807").as_int() == std::numeric_limits<int64_t>::max());
    CHECK(MustParse("-9223372036854775808").as_int() == std::numeric_limits<int64_t>::min());
    CHECK(MustParse("-0").is_int());
    CHECK(MustParse("2.0").type() == Type::kDouble);
    CHECK(MustParse("1e2").type() == Type::kDouble);

    const Value above_int64 = MustParse("9223372036854775808");
    CHECK(above_int64.type() == Type::kDouble);
    CHECK(above_int64.as_double() == 9223372036854775808.0);
    const Value above_uint64 = MustParse("18446744073709551616");
    CHECK(above_uint64.type() == Type::kDouble);
    CHECK(above_uint64.as_double() == 18446744073709551616.0);
    CHECK(MustParse("-9223372036854775809").type() == Type::kDouble);
  }

  TEST_CASE("integers beyond 64 bits inside a document become doubles and the rest is intact") {
    const Value v = MustParse(R"({"big":[123456789012345678901234567890, 1],)"
                              R"("s":"a\"b\u00e9","n":-99999999999999999999})");
    const Value& big = v.Find("big")->as_array()[0];
    CHECK(big.type() == Type::kDouble);
    CHECK(big.as_double() == doctest::Approx(1.2345678901234568e29));
    CHECK(v.Find("big")->as_array()[1].as_int() == 1);
    CHECK(v.Find("s")->as_string() == "a\"b\xc3\xa9");
    CHECK(v.Find("n")->as_double() == -1e20);
  }

  TEST_CASE("a number beyond the double range is an error and a tiny one reads as zero") {
    CHECK(ParseError("[1, 1e999]") == "invalid JSON at byte 4: number out of range");
    CHECK(ParseError("[1" + std::string(400, '0') + "]") ==
          "invalid JSON at byte 1: number out of range");
    const Value tiny = MustParse("1e-999");
    CHECK(tiny.type() == Type::kDouble);
    CHECK(tiny.as_double() == 0.0);
  }

  TEST_CASE("whitespace around the value is allowed and anything after it is an error") {
    CHECK(MustParse(" \t\r\n[ 1 , 2 ]\n ").as_array().size() == 2);
    CHECK(ParseError("[1] x") == "invalid JSON at byte 4: unexpected character after the value");
    CHECK(ParseError("1 2") == "invalid JSON at byte 2: unexpected character after the value");
  }

  TEST_CASE("syntax errors name the byte offset and what was expected") {
    CHECK(ParseError("") == "invalid JSON at byte 0: unexpected end of input");
    CHECK(ParseError("   ") == "invalid JSON at byte 3: unexpected end of input");
    CHECK(ParseError("[1,]") == "invalid JSON at byte 3: unexpected character");
    CHECK(ParseError("[1,2") == "invalid JSON at byte 4: unexpected end of input");
    CHECK(ParseError("[1 2]") == "invalid JSON at byte 3: expected ',' or ']'");
    CHECK(ParseError(R"({"a" 1})") == "invalid JSON at byte 5: expected ':'");
    CHECK(ParseError(R"({"a":1 "b":2})") == "invalid JSON at byte 7: expected ',' or '}'");
    CHECK(ParseError(R"({1:2})") == "invalid JSON at byte 1: expected a string key");
    CHECK(ParseError(R"({"a":1,})") == "invalid JSON at byte 7: expected a string key");
    CHECK(ParseError("tru") == "invalid JSON at byte 0: invalid literal");
    CHECK(ParseError("[nul]") == "invalid JSON at byte 1: invalid literal");
    CHECK(ParseError("01") == "invalid JSON at byte 0: leading zero in number");
    CHECK(ParseError("[-]") == "invalid JSON at byte 1: invalid number");
    CHECK(ParseError("1.") == "invalid JSON at byte 0: invalid number");
    CHECK(ParseError("'a'") == "invalid JSON at byte 0: unexpected character");
  }

  TEST_CASE("string errors point at the offending byte") {
    CHECK(ParseError(R"(["abc)") == "invalid JSON at byte 1: unterminated string");
    CHECK(ParseError(R"("a\x")") == "invalid JSON at byte 2: invalid escape in string");
    CHECK(ParseError(R"("\u12G4")") == "invalid JSON at byte 1: invalid \\u escape");
    CHECK(ParseError(std::string("\"a\x01\"")) ==
          "invalid JSON at byte 2: control character in string");
    CHECK(ParseError(R"("\ud800")") == "invalid JSON at byte 1: unpaired surrogate in \\u escape");
    CHECK(ParseError(R"("\udc00\ud800")") ==
          "invalid JSON at byte 1: unpaired surrogate in \\u escape");
  }

  TEST_CASE("escapes decode to UTF-8, surrogate pairs included") {
    CHECK(MustParse(R"("\u00e9\n\t\/\\")").as_string() == "\xc3\xa9\n\t/\\");
    CHECK(MustParse(R"("\ud83d\ude00")").as_string() == "\xf0\x9f\x98\x80");
    CHECK(MustParse(R"("\u0000")").as_string() == std::string(1, '\0'));
  }

  TEST_CASE("invalid UTF-8 is rejected at its first byte") {
    CHECK(ParseError("\"ab\xff\"") == "invalid JSON at byte 3: invalid UTF-8");
    CHECK(ParseError("\"\xc0\xaf\"") == "invalid JSON at byte 1: invalid UTF-8");  // overlong
    CHECK(ParseError("[\"\xed\xa0\x80\"]") ==
          "invalid JSON at byte 2: invalid UTF-8");                                // surrogate
    CHECK(ParseError("\"\xe2\x82\"") == "invalid JSON at byte 1: invalid UTF-8");  // truncated
    CHECK(ParseError("\"\xf4\x90\x80\x80\"") ==
          "invalid JSON at byte 1: invalid UTF-8");  // > U+10FFFF
    CHECK(MustParse("\"\xe2\x82\xac \xf0\x9f\x98\x80\"").as_string() ==
          "\xe2\x82\xac \xf0\x9f\x98\x80");
  }

  TEST_CASE("nesting up to max_depth is accepted and one level more is rejected") {
    CHECK(Parse(Nested(64)).has_value());
    CHECK(ParseError(Nested(65)) == "JSON nesting deeper than 64");
    CHECK(ParseError(R"({"a":{"b":{"c":1}}})", {.max_depth = 2}) == "JSON nesting deeper than 2");
    CHECK(Parse(R"({"a":{"b":1}})", {.max_depth = 2}).has_value());
    CHECK(Parse("1", {.max_depth = 0}).has_value());
  }

  TEST_CASE("nesting beyond the parser's own bound is rejected without deep recursion") {
    CHECK(ParseError(Nested(5000), {.max_depth = 100000}) == "JSON nesting deeper than 1024");
    // A broken, deeply nested document is still located precisely.
    CHECK(ParseError(std::string(1000, '[') + "x") ==
          "invalid JSON at byte 1000: unexpected character");
  }

  TEST_CASE("text longer than max_bytes is too large") {
    auto v = Parse("[1,2,3]", {.max_bytes = 6});
    REQUIRE_FALSE(v.has_value());
    CHECK(v.error().code == Errc::kTooLarge);
    CHECK(Parse("[1,2,3]", {.max_bytes = 7}).has_value());
  }

  TEST_CASE("a large document parses and the parser is reused for smaller ones after it") {
    std::string big = "[";
    for (int i = 0; i < 50000; ++i) big += std::to_string(i) + ",";
    big.back() = ']';
    const Value v = MustParse(big);
    REQUIRE(v.as_array().size() == 50000);
    CHECK(v.as_array()[49999].as_int() == 49999);
    CHECK(MustParse("[true]").as_array()[0].as_bool());
  }

  TEST_CASE("duplicate keys keep the last value at the first key's position") {
    const Value small = MustParse(R"({"a":1,"b":2,"a":3})");
    REQUIRE(small.as_object().size() == 2);
    CHECK(small.as_object()[0].first == "a");
    CHECK(small.as_object()[0].second.as_int() == 3);
    CHECK(small.as_object()[1].first == "b");

    std::string text = "{";
    for (int i = 0; i < 40; ++i)
      text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    text += R"("k5":{"x":1},"k39":"last"})";
    const Value large = MustParse(text);
    REQUIRE(large.as_object().size() == 40);
    CHECK(large.as_object()[5].second == MustParse(R"({"x":1})"));
    CHECK(large.Find("k39")->as_string() == "last");
  }

  TEST_CASE("writing a parsed document gives the same compact text back") {
    const std::string compact =
        R"({"id":"r-1","n":[0,-1,9223372036854775807,0.1,1e+300,2.0,-0.0],)"
        R"("s":"tab\u0009 \"q\" \\ é",)"
        R"("e":{},"a":[],"nested":{"deep":[{"x":null,"y":true,"z":false}]}})";
    CHECK(ToString(MustParse(compact)) == compact);
    const Value v = MustParse(compact);
    CHECK(MustParse(ToString(v)) == v);
  }
}

}  // namespace rf::json
