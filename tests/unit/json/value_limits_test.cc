#include "json/value_limits.h"

#include <doctest/doctest.h>

#include <string>

#include "json/parse.h"
#include "json/writer.h"

namespace rf::json {
namespace {

Value Nest(size_t depth, Value inner = Value(1)) {
  for (size_t i = 0; i < depth; ++i)
    inner = Value(i % 2 ? Value(Array{std::move(inner)}) : Value(Object{{"k", std::move(inner)}}));
  return inner;
}

size_t Encoded(const Value& v) { return ToString(v).size(); }

}  // namespace

TEST_SUITE("json.value_limits") {
  TEST_CASE("nesting up to kMaxDepth passes and one level more is too deep") {
    CHECK(CheckValue(Nest(kMaxDepth)).has_value());
    Status deep = CheckValue(Nest(kMaxDepth + 1));
    REQUIRE_FALSE(deep.has_value());
    CHECK(deep.error().code == Errc::kTooDeep);
    CHECK(deep.error().context == "nests deeper than 64");
    CHECK(CheckValue(Value(1), {.max_depth = 0}).has_value());
    CHECK_FALSE(CheckValue(Value(Array{}), {.max_depth = 0}).has_value());
  }

  TEST_CASE("the size is the exact encoded size, so a value of exactly the limit passes") {
    // Escapes count as written.
    Value v = Object{{"a\"b", Array{Value("x\n\x01"), Value(1.5), Value(-12), Value(true), Value(),
                                    Value("\xf0\x9f\x98\x80")}},
                     {"e", Object{}}};
    const size_t n = Encoded(v);
    CHECK(CheckValue(v, {.max_depth = 64, .max_bytes = n}).has_value());
    Status over = CheckValue(v, {.max_depth = 64, .max_bytes = n - 1});
    REQUIRE_FALSE(over.has_value());
    CHECK(over.error().code == Errc::kTooLarge);
    // A large string: the 2 quotes count.
    Value big(std::string(kMaxValueBytes - 2, 'x'));
    CHECK(Encoded(big) == kMaxValueBytes);
    CHECK(CheckValue(big).has_value());
    Status huge = CheckValue(Value(std::string(kMaxValueBytes - 1, 'x')));
    REQUIRE_FALSE(huge.has_value());
    CHECK(huge.error().context == "exceeds 1 MiB once encoded");
  }

  TEST_CASE("a string that is not valid UTF-8 is refused, in a value or as a key") {
    for (std::string bad : {std::string("\xed\xa0\x80"), std::string("a\xff"),
                            std::string("\xc0\xaf"), std::string("\xf4\x90\x80\x80")}) {
      CAPTURE(bad);
      Status st = CheckValue(Value(bad));
      REQUIRE_FALSE(st.has_value());
      CHECK(st.error().code == Errc::kInvalidArgument);
      CHECK_FALSE(CheckValue(Value(Object{{bad, 1}})).has_value());
    }
    CHECK(CheckValue(Value("\xf0\x9f\x98\x80 caf\xc3\xa9")).has_value());
  }

  TEST_CASE(
      "huge numbers: a double beyond the range is refused by the parser, a long integer "
      "becomes a double that passes") {
    CHECK_FALSE(Parse("1e400").has_value());
    auto big = Parse("123456789012345678901234567890");
    REQUIRE(big.has_value());
    CHECK(big->type() == Type::kDouble);
    CHECK(CheckValue(*big).has_value());
    auto back = Parse(ToString(*big));
    REQUIRE(back.has_value());
    CHECK(back->as_double() == big->as_double());
  }

  TEST_CASE("the replay limits are above anything a live record holds") {
    CHECK(kReplayMaxDepth >= kMaxDepth + kRecordEnvelopeDepth);
    CHECK(kReplayMaxBytes >= kMaxRecordBytes);
    CHECK(SizeText(1 << 20) == "1 MiB");
    CHECK(SizeText(16 << 10) == "16 KiB");
    CHECK(SizeText(100) == "100 bytes");
  }
}

}  // namespace rf::json
